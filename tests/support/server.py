"""A real tether server for tests: in this process by default, or a `tether serve` child.

In process, the server is the one `tether serve` runs (`tether.server.make_server`: the
same app, settings and uvicorn options) on a thread of the test process, so tests still
speak real HTTP, SSE and WebSocket to it but skip a second or so of process start-up. A
test that needs the process boundary (a real SIGKILL, several processes on one database,
the environment of a child process) asks for `process=True`; setting
TETHER_TEST_SERVER=process runs every server as a child process. Child processes are
started through tests.support.forkserver: real processes, spared the interpreter's start-up.

Either way the server binds port 0 and reports the port it got, which `restart()` keeps.
With `database_url` the relay uses PostgreSQL; otherwise SQLite in the given data dir.
"""

from __future__ import annotations

import asyncio
import functools
import os
import re
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

from tests.support import forkserver
from tests.support.postgres import (  # noqa: F401  (re-exported: tests import them from here)
    PG_ADMIN_URL,
    fresh_postgres_database,
    postgres_available,
)
from tests.support.threaded import ThreadedServer

T = TypeVar("T")

ALL_IN_PROCESSES = os.environ.get("TETHER_TEST_SERVER", "") == "process"

# Variables an in-process server honours: they become its settings. Any other variable in
# `extra_env` (a secret the gateway config names with `env:`, say) is only seen by a child
# process, so a server given one runs as a process.
_SETTINGS_ENV = re.compile(r"TETHER_[A-Z_]+|PYTHON[A-Z_]*")
_LISTENING = re.compile(r"listening on http://127\.0\.0\.1:(\d+)")


# Sockets that keep their ports refusing connections until the test process ends.
_HELD: list[socket.socket] = []


def reserve_port() -> socket.socket:
    """A socket bound to a port on 127.0.0.1 and not listening: connections to the port
    are refused, and no other socket (another test worker's server) can bind it while
    this one is open. Close it to hand the port to a server started later."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock


def refused_port() -> int:
    """A port where nothing listens for the rest of this test process: for addresses
    meant to be unreachable. (Probing for a free port and releasing it raced other test
    workers, whose servers could take it in between.)"""
    sock = reserve_port()
    _HELD.append(sock)
    return sock.getsockname()[1]


ADMIN_TOKEN = "test-admin-" + secrets.token_hex(8)


@dataclass
class TetherServer:
    """A tether server. `port` is 0 until the first start; `restart()` keeps the port, data
    dir and database."""

    data_dir: Path
    database_url: str | None = None
    port: int = 0
    # One admin token per test process: TETHER_TOKEN's id is an scrypt of it (43 ms of
    # CPU), which a server hashes once per token value, not once per start.
    token: str = field(default_factory=lambda: ADMIN_TOKEN)
    extra_env: dict[str, str] = field(default_factory=dict)
    extra_args: list[str] = field(default_factory=list)
    process: bool = False
    proc: forkserver.Popen | None = None
    log_path: Path | None = None
    _threaded: ThreadedServer | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if ALL_IN_PROCESSES or any(not _SETTINGS_ENV.fullmatch(k) for k in self.extra_env):
            self.process = True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def env(self) -> dict[str, str]:
        """The environment of the server (and of a `tether` command run next to it)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("TETHER_")}
        env.update(
            TETHER_TOKEN=self.token,
            TETHER_DATA_DIR=str(self.data_dir),
            TETHER_CONFIG=str(self.data_dir / "config.yaml"),
            PYTHONUNBUFFERED="1",
        )
        if self.database_url:
            env["TETHER_DATABASE_URL"] = self.database_url
        env.update(self.extra_env)
        return env

    def start(self, timeout: float = 20.0) -> TetherServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config = self.data_dir / "config.yaml"
        if not config.exists():
            config.write_text("")
        if self.process:
            return self._start_process(timeout)
        from tether.server import make_server

        self._threaded = ThreadedServer(make_server(self._settings()), self.port)
        self.port = self._threaded.port
        self._threaded.start(timeout)
        return self

    def stop(self, *, kill: bool = False) -> None:
        """Stop as Ctrl-C does; `kill` stops with no clean shutdown (SIGKILL for a process;
        in process the app's shutdown is skipped)."""
        if self._threaded is not None:
            self._threaded.stop(abrupt=kill)
            self._threaded = None
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGKILL if kill else signal.SIGINT)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def restart(self, *, kill: bool = False) -> TetherServer:
        self.stop(kill=kill)
        return self.start()

    @property
    def relay(self) -> Any:
        """The relay service of an in-process server (its `app.state.relay`)."""
        if self._threaded is None:
            raise RuntimeError("only an in-process server exposes its relay")
        return self._threaded.server.config.app.state.relay

    def on_loop(self, coro: Coroutine[Any, Any, T], timeout: float = 15) -> T:
        """Run `coro` on an in-process server's own event loop, from any thread, and
        return its result: for tests that drive the relay's parts between two requests."""
        if self._threaded is None or self._threaded._loop is None:
            raise RuntimeError("only a running in-process server has a loop to run on")
        return asyncio.run_coroutine_threadsafe(coro, self._threaded._loop).result(timeout)

    def log(self) -> str:
        """What a server process wrote (an in-process server logs to the test's logging)."""
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def client(self, token: str | None = None) -> httpx.Client:
        return httpx.Client(
            base_url=self.url,
            timeout=15,
            headers={"Authorization": f"Bearer {token or self.token}"},
        )

    def _settings(self) -> Any:
        """The settings `tether serve EXTRA_ARGS` would build in the server's environment."""
        from tether.config import load_settings

        params = dict(_serve_flags(tuple(self.extra_args)))
        config = params.pop("config") or self.data_dir / "config.yaml"
        return load_settings(config, environ=self.env(), **{**params, "port": self.port})

    def _start_process(self, timeout: float) -> TetherServer:
        self.log_path = self.data_dir / "serve.log"
        log = self.log_path.open("ab")
        offset = log.tell()
        self.proc = forkserver.Popen(
            ["serve", "--port", str(self.port), *self.extra_args],
            self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"tether serve exited early:\n{self.log()}")
            if not self.port:
                found = _LISTENING.search(self.log()[offset:])
                if found:
                    self.port = int(found.group(1))
            if self.port and _healthy(self.url):
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"tether serve did not come up in {timeout}s:\n{self.log()}")


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@functools.cache
def _serve_flags(args: tuple[str, ...]) -> dict[str, Any]:
    """`tether serve`'s own command line parser applied to `args`."""
    import typer.main

    from tether.cli.main import app

    command = typer.main.get_command(app).commands["serve"]  # type: ignore[attr-defined]
    return dict(command.make_context("serve", list(args)).params)
