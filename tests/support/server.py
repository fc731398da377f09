"""Start a real `tether serve` process for tests, on a free port, and stop it again.

Tests talk to it over real HTTP, SSE and WebSocket connections. With `database_url` the
relay uses PostgreSQL; otherwise SQLite in the given data dir.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

PG_ADMIN_URL = os.environ.get("TETHER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class TetherServer:
    """A `tether serve` child process. `restart()` keeps the port, data dir and database."""

    data_dir: Path
    database_url: str | None = None
    port: int = field(default_factory=free_port)
    token: str = field(default_factory=lambda: "test-admin-" + secrets.token_hex(8))
    extra_env: dict[str, str] = field(default_factory=dict)
    extra_args: list[str] = field(default_factory=list)
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def env(self) -> dict[str, str]:
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
        self.log_path = self.data_dir / f"serve-{self.port}.log"
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tether", "serve", "--port", str(self.port), *self.extra_args],
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"tether serve exited early:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"tether serve did not come up in {timeout}s:\n{self.log()}")

    def stop(self, *, kill: bool = False) -> None:
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

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def client(self, token: str | None = None) -> httpx.Client:
        return httpx.Client(
            base_url=self.url,
            timeout=15,
            headers={"Authorization": f"Bearer {token or self.token}"},
        )


def postgres_available() -> bool:
    try:
        import asyncpg  # noqa: F401
    except ImportError:
        return False
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", 5432)) == 0


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """A new empty database for one server, dropped afterwards."""
    import asyncio

    import asyncpg

    name = "tether_test_" + secrets.token_hex(6)

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(PG_ADMIN_URL)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
