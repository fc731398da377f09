"""On PostgreSQL a session's events, and its messages in seq order, are indexed by a hash
of the session id (migration steps 9 and 10), so a query reaches those indexes only if it
names the hash. A query that forgets still answers rightly, just by reading a whole table
or the whole of a session: this checks that none does."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import Any

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
_INDEXES = {"events": "events_session_key", "messages": "messages_session_key"}


class Scans:
    """What a store call made PostgreSQL read: per table, whole-table scans and uses of
    the table's session index (from pg_stat, flushed by the store's one connection)."""

    def __init__(self, store: Store, admin: asyncpg.Connection) -> None:
        self.store, self.admin = store, admin

    async def _now(self) -> dict[str, tuple[int, int]]:
        await self.store.db.fetch("SELECT pg_stat_force_next_flush()")
        counts = {}
        for table, index in _INDEXES.items():
            row = await self.admin.fetchrow(
                "SELECT t.seq_scan, i.idx_scan FROM pg_stat_user_tables t "
                "JOIN pg_stat_user_indexes i ON i.relid = t.relid "
                "WHERE t.relname = $1 AND i.indexrelname = $2",
                table,
                index,
            )
            assert row is not None, f"no index {index} on {table}"
            counts[table] = (row["seq_scan"], row["idx_scan"])
        return counts

    async def of(self, call: Awaitable[Any], *indexed: str) -> Any:
        """Run `call`: no table may be read whole, and each table in `indexed` must be
        reached through its session index."""
        before = await self._now()
        result = await call
        after = await self._now()
        for table in _INDEXES:
            assert after[table][0] == before[table][0], f"a query read all of {table}"
        for table in indexed:
            assert after[table][1] > before[table][1], f"{table}' session index went unused"
        return result


async def _read_and_prune(url: str) -> None:
    admin = await asyncpg.connect(url)
    store = Store(PostgresDatabase(url, min_size=1, max_size=1))
    try:
        name = await admin.fetchval("SELECT current_database()")
        # With sequential scans priced out, the planner reads a table whole only where no
        # index serves the query, which is what the scan counter then shows.
        await admin.execute(f'ALTER DATABASE "{name}" SET enable_seqscan = off')
        await store.open()
        for sid, status in (("ses_live", "idle"), ("ses_done", "ended")):
            await store.db.execute(_SESSION, sid, status)
            for seq in range(1, 51):
                await store.db.execute(
                    "INSERT INTO messages (session_id, seq, id, role, kind, content, "
                    "created_at) VALUES ($1, $2, $3, 'agent', 'assistant_text', '{}', 0)",
                    sid,
                    seq,
                    f"m{seq}",
                )
                await store.db.execute(
                    "INSERT INTO events (type, session_id, seq, created_at) "
                    "VALUES ('message', $1, $2, 0)",
                    sid,
                    seq,
                )
        scans = Scans(store, admin)

        # One session's events, each message event joined to its message.
        live = await scans.of(store.events_after(10, session_id="ses_live"), "events", "messages")
        assert [(e.session_id, e.data["seq"]) for e in live] == [
            ("ses_live", seq) for seq in range(11, 51)
        ]
        # A session's messages in seq order, forwards and backwards.
        page = await scans.of(store.list_messages("ses_live", after=5, limit=10), "messages")
        assert [m["seq"] for m in page] == list(range(6, 16))
        newest = await scans.of(store.list_messages("ses_live", before=51, limit=3), "messages")
        assert [m["seq"] for m in newest] == [48, 49, 50]
        # Retention finds the ended session's events through their index.
        assert await scans.of(store.prune(cutoff=time.time()), "events") == 1
        assert await store.events_after(0, session_id="ses_done") == []
    finally:
        await store.close()
        await admin.close()


def test_a_sessions_events_and_messages_are_read_and_pruned_through_their_indexes() -> None:
    with fresh_postgres_database() as url:
        asyncio.run(_read_and_prune(url))
