"""On PostgreSQL a session's events are indexed by a hash of the session id (migration
step 9), so a query reaches that index only if it names the hash. A query that forgets
still answers rightly, just by reading the whole log: this checks that none does."""

from __future__ import annotations

import asyncio
import time

import asyncpg

from tests.support.postgres import fresh_postgres_database
from tether.relay.store.db import PostgresDatabase
from tether.relay.store.store import Store

_SESSION = (
    "INSERT INTO sessions (id, title, agent, cwd, host, status, permission_mode, created_at, "
    "updated_at, last_activity_at, metadata, metadata_version, agent_state, "
    "agent_state_version, last_seq) VALUES ($1, 't', 'claude-code', '', '', $2, 'default', "
    "0, 0, 0, '{}', 0, '{}', 0, 0)"
)


async def _scans_of_events(admin: asyncpg.Connection) -> tuple[int, int]:
    row = await admin.fetchrow(
        "SELECT t.seq_scan, i.idx_scan FROM pg_stat_user_tables t "
        "JOIN pg_stat_user_indexes i ON i.relid = t.relid "
        "WHERE t.relname = 'events' AND i.indexrelname = 'events_session_key'"
    )
    assert row is not None, "no events_session_key index"
    return row["seq_scan"], row["idx_scan"]


async def _read_and_prune(url: str) -> None:
    admin = await asyncpg.connect(url)
    store = Store(PostgresDatabase(url, min_size=1, max_size=1))
    try:
        name = await admin.fetchval("SELECT current_database()")
        # With sequential scans priced out, the planner scans the log only where no index
        # serves the query, which is what the scan counter then shows.
        await admin.execute(f'ALTER DATABASE "{name}" SET enable_seqscan = off')
        await store.open()
        for sid, status in (("ses_live", "idle"), ("ses_done", "ended")):
            await store.db.execute(_SESSION, sid, status)
            for i in range(50):
                await store.db.execute(
                    "INSERT INTO events (type, session_id, data, created_at) "
                    "VALUES ('session_updated', $1, $2, 0)",
                    sid,
                    f'{{"n": {i}}}',
                )
        await store.db.fetch("SELECT pg_stat_force_next_flush()")
        seq_before, idx_before = await _scans_of_events(admin)

        live = await store.events_after(10, session_id="ses_live")
        assert [e.session_id for e in live] == ["ses_live"] * 40
        assert await store.prune(cutoff=time.time()) == 1
        assert await store.events_after(0, session_id="ses_done") == []

        await store.db.fetch("SELECT pg_stat_force_next_flush()")
        seq_after, idx_after = await _scans_of_events(admin)
        assert seq_after == seq_before, "a query read the whole event log"
        assert idx_after > idx_before
    finally:
        await store.close()
        await admin.close()


def test_a_sessions_events_are_read_and_pruned_through_the_session_index() -> None:
    with fresh_postgres_database() as url:
        asyncio.run(_read_and_prune(url))
