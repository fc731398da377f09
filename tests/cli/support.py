"""Running the real `tether` command as a subprocess, the way a person or a script does
(started through tests.support.forkserver, which spares each the interpreter's start-up)."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path

from tests.support import forkserver

TIMEOUT = 30.0


def cli_env(url: str, token: str | None, data_dir: Path) -> dict[str, str]:
    """The environment of a person's shell: only TETHER_URL/TETHER_TOKEN set, and a data
    dir of its own so no local admin token is picked up by accident."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TETHER_")}
    env.update(
        TETHER_URL=url,
        TETHER_DATA_DIR=str(data_dir),
        TETHER_CONFIG=str(data_dir / "config.yaml"),
        PYTHONUNBUFFERED="1",
        COLUMNS="120",
    )
    if token is not None:
        env["TETHER_TOKEN"] = token
    return env


def new_machine_env(url: str, token: str, home: Path) -> dict[str, str]:
    """A person's shell on a machine that never ran tether: no config file and no data dir
    where tether looks by default (all under `home`), nothing named by TETHER_CONFIG or
    TETHER_DATA_DIR; only the relay's address and a token."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TETHER_")}
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_DATA_HOME=str(home / ".local" / "share"),
        TETHER_URL=url,
        TETHER_TOKEN=token,
        PYTHONUNBUFFERED="1",
        COLUMNS="200",
    )
    return env


def tether(
    env: dict[str, str], *args: str, input: str | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return forkserver.run(args, env, input=input, timeout=timeout)


def one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    """The command failed with exactly one line on stderr, and no traceback."""
    assert done.returncode != 0, done
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


class Live:
    """A long-running command (`permissions`, `attach`) with a pipe for stdin; its output
    is collected by a thread so a test can wait for what it should say."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        self.proc = forkserver.Popen(
            args,
            env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            bufsize=1,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, needle: str, timeout: float = TIMEOUT, after: int = 0) -> int:
        """Wait until a line (from line `after` on) contains `needle`; its index."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for i, line in enumerate(self.lines[after:], start=after):
                if needle in line:
                    return i
            if self.proc.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.05)
        raise AssertionError(f"{needle!r} not seen; output so far:\n{self.text}")

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def close_stdin(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()

    def wait(self, timeout: float = TIMEOUT) -> int:
        code = self.proc.wait(timeout)
        self._reader.join(5)
        return code

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
