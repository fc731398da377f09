"""Empty PostgreSQL databases for tests, one per server (or per group of servers).

CREATE DATABASE copies a template, which takes a second or more on a busy machine, so a
database given back is emptied (every schema dropped, `public` made again) and handed out
again; `drop_all()` removes them at the end of the run.
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from tests.support.threaded import run_coroutine

PG_ADMIN_URL = os.environ.get("TETHER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")

_lock = threading.Lock()
_free: list[str] = []
_made: list[str] = []

_EMPTY = """
SELECT pg_terminate_backend(pid) FROM pg_stat_activity
    WHERE datname = current_database() AND pid <> pg_backend_pid();
DO $$
DECLARE s name;
BEGIN
    FOR s IN SELECT nspname FROM pg_namespace
        WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema'
    LOOP
        EXECUTE format('DROP SCHEMA %I CASCADE', s);
    END LOOP;
END $$;
CREATE SCHEMA public;
"""


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
    """The URL of an empty database, to be used only until the block ends."""
    name = _take()
    try:
        yield _url(name)
    finally:
        _give_back(name)


def drop_all() -> None:
    with _lock:
        names = list(_made)
        _made.clear()
        _free.clear()
    for name in names:
        _execute(PG_ADMIN_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _url(name: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def _take() -> str:
    with _lock:
        if _free:
            return _free.pop()
    name = "tether_test_" + secrets.token_hex(6)
    _execute(PG_ADMIN_URL, f'CREATE DATABASE "{name}"')
    with _lock:
        _made.append(name)
    return name


def _give_back(name: str) -> None:
    try:
        _execute(_url(name), _EMPTY)
    except Exception:  # not emptied: never hand it out again
        with _lock:
            _made.remove(name)
        _execute(PG_ADMIN_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        return
    with _lock:
        _free.append(name)


def _execute(url: str, sql: str) -> None:
    # On a thread of its own: callers may be inside a running event loop (async tests).
    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    run_coroutine(run)
