"""Fixtures shared by every test: real tether servers on both storage backends.

Servers run inside the test process unless a test asks for `process=True` (see
tests/support/server.py); either way they speak real HTTP, SSE and WebSocket."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.postgres import drop_all, fresh_postgres_database, postgres_available
from tests.support.push_service import PushService
from tests.support.server import TetherServer
from tests.support.tls import share_tls_context

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

share_tls_context()


def pytest_sessionfinish(session: pytest.Session) -> None:
    if postgres_available():
        drop_all()


def _backend_params() -> list:
    return ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=_backend_params())
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "postgres" and not postgres_available():
        if IN_CI:
            pytest.fail(
                "PostgreSQL is not answering on 127.0.0.1:5432, and CI must run "
                "the PostgreSQL variants"
            )
        pytest.skip("PostgreSQL is not answering on 127.0.0.1:5432")
    return request.param


@pytest.fixture
def server_factory(tmp_path: Path, backend: str) -> Iterator:
    """Make (and afterwards stop) tether servers on the chosen backend. Servers made with
    `shared_db=True` share one database, as several relay processes would; keyword
    arguments go to TetherServer (`process=True` for a `tether serve` child process)."""
    servers: list[TetherServer] = []
    cleanups = []
    shared: dict[str, str | None] = {}

    def make(shared_db: bool = True, **kwargs) -> TetherServer:
        database_url = None
        if backend == "postgres":
            if shared_db and "url" in shared:
                database_url = shared["url"]
            else:
                ctx = fresh_postgres_database()
                database_url = ctx.__enter__()
                cleanups.append(ctx)
                if shared_db:
                    shared["url"] = database_url
        data_dir = kwargs.pop("data_dir", tmp_path / f"server{len(servers)}")
        server = TetherServer(data_dir=data_dir, database_url=database_url, **kwargs)
        servers.append(server)
        return server.start()

    yield make
    for server in servers:
        server.stop()
    for ctx in cleanups:
        ctx.__exit__(None, None, None)


@pytest.fixture
def server(server_factory) -> TetherServer:
    """One running tether server, parametrized over SQLite and PostgreSQL."""
    return server_factory()


@pytest.fixture
def push() -> Iterator[PushService]:
    """A Web Push service on 127.0.0.1 (tests/support/push_service.py)."""
    service = PushService().start()
    yield service
    service.stop()


@pytest.fixture(scope="session", autouse=True)
def _no_config_written_to_the_real_home() -> Iterator[None]:
    """A `tether serve`/`run`/`pair` child that a test starts without TETHER_CONFIG or a
    home of its own would make a new install of the person running the tests (writing
    their config file, with encryption on): every such test must give it a home."""
    from tether.config import default_config_path

    path = default_config_path()
    existed = path.exists()
    yield
    if not existed and path.exists():
        pytest.fail(f"a test wrote {path}: give tether commands TETHER_CONFIG or a HOME")
