"""On PostgreSQL a statement that runs past the pool's command timeout is cancelled as
hung, except maintenance: a migration (or a wait for another process's migration),
VACUUM and retention's deletes may take as long as a large database needs."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import pytest

from tests.support.postgres import fresh_postgres_database
from tether.relay.store.db import PostgresDatabase
from tether.relay.store.migrations import MIGRATION_LOCK, SCHEMA_VERSION, migrate

# Short, so that holding a lock a little longer outlasts it.
TIMEOUT = 0.5
HOLD = 1.5


async def _held(url: str, statement: str, started: asyncio.Event) -> None:
    """Hold what `statement` takes, in a transaction of another connection, for HOLD s."""
    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction():
            await conn.execute(statement)
            started.set()
            await asyncio.sleep(HOLD)
    finally:
        await conn.close()


async def _maintenance_outlasts_the_command_timeout(url: str) -> None:
    # A process that starts while another migrates waits for the migration lock.
    started = asyncio.Event()
    lock = f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})"
    holder = asyncio.create_task(_held(url, lock, started))
    await started.wait()
    db = PostgresDatabase(url, command_timeout=TIMEOUT)
    await db.connect()
    try:
        began = time.monotonic()
        assert await migrate(db) == 0
        assert time.monotonic() - began >= HOLD - 0.1  # it did wait for the lock
        await holder

        # VACUUM waits behind a conflicting lock just as long.
        started.clear()
        holder = asyncio.create_task(
            _held(url, "LOCK TABLE messages IN SHARE UPDATE EXCLUSIVE MODE", started)
        )
        await started.wait()
        await db.vacuum(full=True)
        await holder

        # Everything else is still cut off at the command timeout.
        started.clear()
        holder = asyncio.create_task(
            _held(url, "LOCK TABLE sessions IN ACCESS EXCLUSIVE MODE", started)
        )
        await started.wait()
        with pytest.raises(asyncio.TimeoutError):
            await db.fetch("SELECT * FROM sessions")
        await holder
        assert await db.fetchrow("SELECT version FROM tether_schema") == {"version": SCHEMA_VERSION}
    finally:
        await db.close()


def test_migrations_and_vacuum_wait_as_long_as_they_must_and_nothing_else_does() -> None:
    with fresh_postgres_database() as url:
        asyncio.run(_maintenance_outlasts_the_command_timeout(url))
