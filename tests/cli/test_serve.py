"""`tether serve` as a person runs it: what it prints, the admin token file, a busy port,
Ctrl-C, and bad config."""

from __future__ import annotations

import os
import re
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support import forkserver

TOKEN = re.compile(r"tth_[0-9a-f]+_[A-Za-z0-9_-]+")
LISTENING = re.compile(r"listening on http://127\.0\.0\.1:(\d+) ")


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A clean environment: no TETHER_* from outside, and a home with no config."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TETHER_")}
    env.update(
        HOME=str(tmp_path / "home"),
        XDG_CONFIG_HOME=str(tmp_path / "home" / ".config"),
        XDG_DATA_HOME=str(tmp_path / "home" / ".local" / "share"),
        PYTHONUNBUFFERED="1",
        COLUMNS="200",
        **extra,
    )
    return env


class Serve:
    """A `tether serve --port 0` child whose output the test reads; `port` is the one it
    says it listens on, known once it is up."""

    count = 0

    def __init__(self, tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> None:
        Serve.count += 1
        self.port = 0
        self.log = tmp_path / f"serve-{Serve.count}.out"
        self.err = tmp_path / f"serve-{Serve.count}.err"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tether", "serve", "--port", "0", *args],
            env=env or _env(tmp_path),
            stdout=self.log.open("wb"),
            stderr=self.err.open("wb"),
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text() + self.err.read_text()

    def wait_up(self, timeout: float = 30) -> Serve:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.output()
            # Up means answering *and* having said so.
            said = LISTENING.search(self.output())
            if said and "Ctrl-C" in self.output():
                self.port = int(said.group(1))
                try:
                    if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                        return self
                except httpx.HTTPError:
                    pass
            time.sleep(0.05)
        raise AssertionError(f"serve did not come up:\n{self.output()}")

    def interrupt(self, timeout: float = 15) -> int:
        self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


@pytest.fixture
def serves():
    started: list[Serve] = []
    yield started
    for s in started:
        s.kill()


def test_first_start_mints_the_admin_token_once(tmp_path: Path, serves) -> None:
    data = tmp_path / "data"
    first = Serve(tmp_path, "--data-dir", str(data))
    serves.append(first)
    out = first.wait_up().output()
    assert f"listening on http://127.0.0.1:{first.port}" in out
    printed = TOKEN.findall(out)
    assert printed, out
    token = printed[0]
    token_file = data / "admin-token"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert token_file.read_text().strip() == token
    me = httpx.get(f"{first.url}/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["scope"] == "admin"
    # A local `tether` command with no token of its own finds the one serve wrote.
    local = forkserver.run(
        ["sessions"], _env(tmp_path, TETHER_URL=first.url, TETHER_DATA_DIR=str(data)), timeout=60
    )
    assert local.returncode == 0, local.stderr
    assert first.interrupt() == 0

    second = Serve(tmp_path, "--data-dir", str(data))
    serves.append(second)
    again = second.wait_up().output()
    assert TOKEN.search(again) is None, again  # not shown again...
    assert str(token_file) in again  # ...but it says where it is
    assert token_file.read_text().strip() == token
    me = httpx.get(f"{second.url}/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    assert second.interrupt() == 0


def test_a_token_given_in_the_environment_is_never_printed(tmp_path: Path, serves) -> None:
    secret = "outside-" + os.urandom(8).hex()
    s = Serve(tmp_path, "--data-dir", str(tmp_path / "d"), env=_env(tmp_path, TETHER_TOKEN=secret))
    serves.append(s)
    out = s.wait_up().output()
    assert secret not in out and "TETHER_TOKEN" in out
    # Nothing was minted either: no second admin token, no sign-in link carrying one.
    assert TOKEN.search(out) is None and "?token=" not in out, out
    assert not (tmp_path / "d" / "admin-token").exists()
    assert (
        httpx.get(f"{s.url}/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).status_code
        == 200
    )
    assert s.interrupt() == 0


def test_a_busy_port_is_said_plainly(tmp_path: Path, serves) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "tether",
                "serve",
                "--port",
                str(port),
                "--data-dir",
                str(tmp_path / "d"),
            ],
            env=_env(tmp_path),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode != 0
    assert f"port {port}" in done.stderr and "already in use" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_a_second_tether_on_the_same_port(tmp_path: Path, serves) -> None:
    first = Serve(tmp_path, "--data-dir", str(tmp_path / "a"))
    serves.append(first)
    first.wait_up()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tether",
            "serve",
            "--port",
            str(first.port),
            "--data-dir",
            str(tmp_path / "b"),
        ],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "already in use" in done.stderr and "Traceback" not in done.stderr
    # The first one is unharmed.
    assert httpx.get(f"{first.url}/healthz").status_code == 200
    assert first.interrupt() == 0


def test_ctrl_c_stops_promptly_with_clients_attached(tmp_path: Path, serves) -> None:
    s = Serve(
        tmp_path,
        "--data-dir",
        str(tmp_path / "d"),
        env=_env(tmp_path, TETHER_TOKEN="attached-token"),
    )
    serves.append(s)
    s.wait_up()
    headers = {"Authorization": "Bearer attached-token"}
    with httpx.stream("GET", f"{s.url}/api/v1/events", headers=headers, timeout=30) as stream:
        lines = stream.iter_lines()
        assert next(lines).startswith("retry:")
        started = time.monotonic()
        assert s.interrupt(timeout=15) == 0
        # The stream ends rather than hanging on.
        for _ in lines:
            pass
    assert time.monotonic() - started < 10
    out = s.output()
    assert "tether stopped" in out and "Traceback" not in out


def test_flags_beat_the_environment_and_the_config_file(tmp_path: Path, serves) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("port: 1\nlog_level: debug\n")
    s = Serve(
        tmp_path,
        "--config",
        str(config),
        "--data-dir",
        str(tmp_path / "d"),
        env=_env(tmp_path, TETHER_PORT="2", TETHER_TOKEN="t"),
    )
    serves.append(s)
    s.wait_up()
    assert s.port not in (1, 2)  # --port 0 (from Serve) wins over env 2 and file 1
    assert s.interrupt() == 0


@pytest.mark.parametrize(
    ("config", "says"),
    [
        ("port: [oops\n", "not valid YAML"),
        ("permission_timeout: -5\n", "permission_timeout"),
        ("no_such_setting: 1\n", "no_such_setting"),
    ],
)
def test_bad_config_is_a_clear_error(tmp_path: Path, config: str, says: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(config)
    done = subprocess.run(
        [sys.executable, "-m", "tether", "serve", "--config", str(path)],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert says in done.stderr and "error" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_missing_config_file_and_a_bad_flag(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tether", "serve", "--config", str(tmp_path / "nope.yaml")],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0 and "config file not found" in done.stderr
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tether",
            "serve",
            "--log-level",
            "loud",
            "--data-dir",
            str(tmp_path / "d"),
        ],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0 and "log_level" in done.stderr
    assert "Traceback" not in done.stderr


def test_help_says_what_it_does() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tether", "serve", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert done.returncode == 0
    for flag in ("--host", "--port", "--data-dir", "--config", "--log-level"):
        assert flag in done.stdout


def test_the_access_log_never_keeps_a_token_from_a_query_string(tmp_path: Path, serves) -> None:
    s = Serve(tmp_path, "--data-dir", str(tmp_path / "d"), "--log-level", "debug")
    serves.append(s)
    s.wait_up()
    secret = "tth_abcd1234_" + os.urandom(12).hex()
    for path in (f"/?token={secret}", f"/healthz?x=1&token={secret}#frag"):
        assert httpx.get(f"{s.url}{path}").status_code in (200, 401)
    assert s.interrupt() == 0
    out = s.output()
    assert "GET /healthz?x=1&token=[redacted]" in out, out  # the access log is on...
    assert secret not in out  # ...and keeps no token


def test_data_dir_and_database_are_private(tmp_path: Path, serves) -> None:
    data = tmp_path / "fresh"
    s = Serve(tmp_path, "--data-dir", str(data))
    serves.append(s)
    s.wait_up()
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    files = [data / "tether.db", data / "tether.db-wal", data / "tether.db-shm"]
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert s.interrupt() == 0

    # A data dir left readable by an older tether is tightened on the next start.
    data.chmod(0o755)
    (data / "tether.db").chmod(0o644)
    again = Serve(tmp_path, "--data-dir", str(data))
    serves.append(again)
    out = again.wait_up().output()
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert stat.S_IMODE((data / "tether.db").stat().st_mode) == 0o600
    assert "tightened" in out, out
    assert again.interrupt() == 0


def test_a_new_install_writes_encryption_on(tmp_path: Path, serves) -> None:
    # A machine that never ran tether: no config file, no data dir.
    config = tmp_path / "home" / ".config" / "tether" / "config.yaml"
    first = Serve(tmp_path)
    serves.append(first)
    out = first.wait_up().output()
    assert config.exists(), out
    assert "encryption: on" in config.read_text()
    assert str(config) in out and "encryption: off" in out  # where, and how to turn it off
    assert "encryption: on (a browser reads sessions once paired" in out
    written = config.read_text()
    assert first.interrupt() == 0

    # The next start reads the file as it is and writes nothing.
    second = Serve(tmp_path)
    serves.append(second)
    again = second.wait_up().output()
    assert "new install" not in again and "encryption: on" in again
    assert config.read_text() == written
    assert second.interrupt() == 0


def test_an_existing_config_keeps_encryption_off(tmp_path: Path, serves) -> None:
    # An install with a config file that never mentions encryption, and no data yet.
    config = tmp_path / "home" / ".config" / "tether" / "config.yaml"
    config.parent.mkdir(parents=True)
    config.write_text("log_level: info\n")
    s = Serve(tmp_path)
    serves.append(s)
    out = s.wait_up().output()
    assert config.read_text() == "log_level: info\n"
    assert "new install" not in out and "encryption:" not in out
    assert s.interrupt() == 0


def test_a_used_data_dir_without_a_config_keeps_encryption_off(tmp_path: Path, serves) -> None:
    data = tmp_path / "home" / ".local" / "share" / "tether"
    data.mkdir(parents=True)
    (data / "admin-token").write_text("tth_gone_x\n")  # an install that has run before
    s = Serve(tmp_path)
    serves.append(s)
    out = s.wait_up().output()
    assert not (tmp_path / "home" / ".config" / "tether").exists()
    assert "encryption:" not in out
    assert s.interrupt() == 0
