"""A thin async database seam over SQLite (sqlite3, on the loop) and PostgreSQL (asyncpg).

Queries are written once in PostgreSQL's `$1` placeholder style; the SQLite side rewrites
them to its numbered `?1` form. Rows come back as plain dicts.
"""

from __future__ import annotations

import asyncio
import functools
import re
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Protocol

from tether.private_files import private_dir, private_file, tighten_if_present

Row = dict[str, Any]

_PG_PARAM = re.compile(r"\$(\d+)")


class Connection(Protocol):
    async def fetch(self, sql: str, *args: Any) -> list[Row]: ...
    async def fetchrow(self, sql: str, *args: Any) -> Row | None: ...
    async def execute(self, sql: str, *args: Any) -> int: ...
    async def executemany(self, sql: str, rows: list[tuple[Any, ...]]) -> None: ...


class Database(Protocol):
    dialect: str

    async def connect(self) -> None: ...
    async def close(self) -> None: ...
    def transaction(self, maintenance: bool = False) -> Any: ...
    def retryable(self, exc: BaseException) -> bool: ...
    async def vacuum(self, full: bool) -> None: ...
    async def fetch(self, sql: str, *args: Any) -> list[Row]: ...
    async def fetchrow(self, sql: str, *args: Any) -> Row | None: ...
    async def execute(self, sql: str, *args: Any) -> int: ...
    async def executescript(self, sql: str) -> None: ...


@functools.lru_cache(maxsize=512)
def _sqlite_sql(sql: str) -> str:
    return _PG_PARAM.sub(r"?\1", sql)


class _SQLiteConn:
    """Statements run on the event loop's own thread. In WAL mode a relay statement takes
    microseconds, less than handing it to a worker thread and back: aiosqlite cost about
    three hand-offs per query, some seventeen per stored message, and those hand-offs,
    not SQLite, were what limited how fast the relay could write."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        cur = self._conn.execute(_sqlite_sql(sql), args)
        try:
            rows = cur.fetchall()
            names = [d[0] for d in cur.description or ()]
        finally:
            cur.close()
        return [dict(zip(names, row, strict=True)) for row in rows]

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        rows = await self.fetch(sql, *args)
        return rows[0] if rows else None

    async def execute(self, sql: str, *args: Any) -> int:
        cur = self._conn.execute(_sqlite_sql(sql), args)
        try:
            return cur.rowcount
        finally:
            cur.close()

    async def executemany(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        self._conn.executemany(_sqlite_sql(sql), rows).close()


class SQLiteDatabase:
    """One connection in WAL mode; writers take turns through an asyncio lock."""

    dialect = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._write_lock = asyncio.Lock()

    async def connect(self) -> None:
        if not self.path.parent.exists():
            private_dir(self.path.parent)
        # SQLite gives the -wal and -shm files the database file's mode: create it 0600.
        private_file(self.path)
        for suffix in ("-wal", "-shm"):
            tighten_if_present(self.path.with_name(self.path.name + suffix))
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        # Before the first table, or by the next VACUUM: pages freed by deletes can then be
        # given back to the file system a few at a time (vacuum below).
        conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        # Another process (a `tether token` command) may hold the write lock briefly.
        conn.execute("PRAGMA busy_timeout=5000")
        self._conn = conn

    async def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    @property
    def _c(self) -> _SQLiteConn:
        assert self._conn is not None, "database is not connected"
        return _SQLiteConn(self._conn)

    def retryable(self, exc: BaseException) -> bool:
        return False  # one writer: nothing races it

    async def vacuum(self, full: bool) -> None:
        assert self._conn is not None
        if full:
            async with self._write_lock:
                self._conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
                self._conn.execute("VACUUM")
            return
        # A step at a time, letting the event loop run between steps.
        while True:
            async with self._write_lock:
                free = self._conn.execute("PRAGMA freelist_count").fetchone()[0]
                if not free:
                    return
                self._conn.execute("PRAGMA incremental_vacuum(500)").fetchall()
                if free <= 500 or self._conn.execute("PRAGMA auto_vacuum").fetchone()[0] != 2:
                    return
            await asyncio.sleep(0)

    @asynccontextmanager
    async def transaction(self, maintenance: bool = False) -> AsyncIterator[_SQLiteConn]:
        async with self._write_lock:
            conn = self._c
            await conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                await conn.execute("ROLLBACK")
                raise
            else:
                await conn.execute("COMMIT")

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        return await self._c.fetch(sql, *args)

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        return await self._c.fetchrow(sql, *args)

    async def execute(self, sql: str, *args: Any) -> int:
        async with self._write_lock:
            return await self._c.execute(sql, *args)

    async def executescript(self, sql: str) -> None:
        assert self._conn is not None
        async with self._write_lock:
            self._conn.executescript(sql)


# A statement that takes longer than this is taken for hung and cancelled.
COMMAND_TIMEOUT = 30.0
# Except maintenance (migrations, VACUUM, retention's deletes): on a large database it may
# run for many minutes, or wait that long for another process's migration. A day stands
# for no limit (asyncpg takes a number).
MAINTENANCE_TIMEOUT = 24 * 3600.0


class _PGConn:
    def __init__(self, conn: Any, timeout: float | None = None) -> None:
        self._conn = conn
        self._timeout = timeout  # None: the pool's COMMAND_TIMEOUT

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        return [dict(r) for r in await self._conn.fetch(sql, *args, timeout=self._timeout)]

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        row = await self._conn.fetchrow(sql, *args, timeout=self._timeout)
        return dict(row) if row is not None else None

    async def execute(self, sql: str, *args: Any) -> int:
        status: str = await self._conn.execute(sql, *args, timeout=self._timeout)
        tail = status.rsplit(" ", 1)[-1]
        return int(tail) if tail.isdigit() else 0

    async def executemany(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        # asyncpg pipelines the rows: one round trip, however many.
        await self._conn.executemany(sql, rows, timeout=self._timeout)


async def _reset_connection(conn: Any) -> None:
    """What a pooled connection needs before its next borrower: at most a ROLLBACK.
    asyncpg's default reset is one more query every time a connection goes back (unlock
    advisory locks, close cursors, UNLISTEN, RESET ALL), a round trip per read; the relay
    leaves none of that behind (its advisory locks are transaction-scoped, it opens no
    cursors, LISTENs on a connection of its own in relay/feed.py, and never SETs)."""
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


class PostgresDatabase:
    dialect = "postgres"

    def __init__(
        self,
        url: str,
        *,
        min_size: int = 1,
        max_size: int = 10,
        command_timeout: float = COMMAND_TIMEOUT,
    ) -> None:
        self.url = url
        self._pool: Any = None
        self._min_size, self._max_size = min_size, max_size
        self._command_timeout = command_timeout

    async def connect(self) -> None:
        import asyncpg

        self._pool = await asyncpg.create_pool(
            self.url,
            min_size=self._min_size,
            max_size=self._max_size,
            command_timeout=self._command_timeout,
            reset=_reset_connection,
        )

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    def retryable(self, exc: BaseException) -> bool:
        """A transaction that lost a race with another process and may simply run again:
        a deadlock between two batches, or a message id another process stored first
        (the rerun answers it as the idempotent retry it is)."""
        import asyncpg

        return isinstance(
            exc,
            asyncpg.DeadlockDetectedError
            | asyncpg.UniqueViolationError
            | asyncpg.SerializationError,
        )

    async def vacuum(self, full: bool) -> None:
        # Plain VACUUM either way: FULL would lock the tables while it rewrites them.
        async with self._pool.acquire() as conn:
            await conn.execute(
                "VACUUM (ANALYZE) sessions, messages, permissions, events",
                timeout=MAINTENANCE_TIMEOUT,
            )

    @asynccontextmanager
    async def transaction(self, maintenance: bool = False) -> AsyncIterator[_PGConn]:
        """A transaction on one pooled connection; with `maintenance`, its statements may
        take as long as they need (MAINTENANCE_TIMEOUT)."""
        async with self._pool.acquire() as conn, conn.transaction():
            yield _PGConn(conn, MAINTENANCE_TIMEOUT if maintenance else None)

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        async with self._pool.acquire() as conn:
            return await _PGConn(conn).fetch(sql, *args)

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        async with self._pool.acquire() as conn:
            return await _PGConn(conn).fetchrow(sql, *args)

    async def execute(self, sql: str, *args: Any) -> int:
        async with self._pool.acquire() as conn:
            return await _PGConn(conn).execute(sql, *args)

    async def executescript(self, sql: str) -> None:
        async with self._pool.acquire() as conn:
            await conn.execute(sql)


def open_database(database_url: str | None, data_dir: Path) -> Database:
    if database_url and database_url.startswith(("postgres://", "postgresql://")):
        return PostgresDatabase(database_url)
    if database_url and database_url.startswith("sqlite:///"):
        return SQLiteDatabase(Path(database_url.removeprefix("sqlite:///")))
    if database_url:
        raise ValueError(
            f"unsupported database URL scheme in {database_url.split('://')[0]!r}: "
            "use postgresql://… or sqlite:///path"
        )
    return SQLiteDatabase(data_dir / "tether.db")
