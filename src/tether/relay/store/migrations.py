"""Versioned schema migrations, safe to run from several processes at once.

The schema's version is the one row of `tether_schema`. Each step below brings it from
the previous version to its own, in one transaction together with the version bump; a
process that starts finds the version and applies only the steps after it. Starting
several `tether serve` processes together on one empty PostgreSQL database is safe: the
migration runs under a transaction-scoped advisory lock, so one process migrates while
the others wait and then find nothing left to do. On SQLite the write transaction
(BEGIN IMMEDIATE) does the same. Steps are only ever appended, never edited.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tether.relay.store.db import Connection, Database
from tether.relay.store.flows import flows_sql
from tether.relay.store.schema import baseline_sql

# Distinct from the event-order lock in db.py.
MIGRATION_LOCK = 0x7E7E_0002


# Step 6. A message event keeps `seq` and no `data`; reads join the message back. Older
# message events are slimmed the same way. SQLite cannot relax NOT NULL in place, so its
# table is rebuilt (ids kept, so every cursor still points where it did).
_LEAN_EVENTS = {
    "postgres": """
ALTER TABLE events ADD COLUMN seq BIGINT;
ALTER TABLE events ALTER COLUMN data DROP NOT NULL;
UPDATE events SET seq = (data::json->>'seq')::bigint, data = NULL WHERE type = 'message';
""",
    "sqlite": """
CREATE TABLE events_lean (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    type TEXT NOT NULL,
    session_id TEXT,
    seq INTEGER,
    data TEXT,
    created_at DOUBLE PRECISION NOT NULL
);
INSERT INTO events_lean (id, type, session_id, seq, data, created_at)
    SELECT id, type, session_id,
           CASE WHEN type = 'message' THEN json_extract(data, '$.seq') END,
           CASE WHEN type = 'message' THEN NULL ELSE data END,
           created_at
      FROM events;
DROP TABLE events;
ALTER TABLE events_lean RENAME TO events;
CREATE INDEX events_session ON events (session_id, id);
""",
}


# Step 9. Messages and events name their session by a number instead of its text id, so
# every (session, ...) index entry is 16-24 bytes instead of 50-90 (bench/README.md,
# "storage"). Both tables are rebuilt, rows written in key order so their indexes come
# out packed. Event ids are kept, and so is the id counter: ids retention deleted from the
# end of the log are never handed out again (a cursor past them would miss the new ones).
# An event whose session is gone (retention deleted it while a permission request was
# being answered) keeps its data and loses its session: it replays with none.
_SESSION_NUMBERS = {
    "postgres": """
ALTER TABLE sessions ADD COLUMN num BIGSERIAL;
CREATE UNIQUE INDEX sessions_num ON sessions (num);
""",
    "sqlite": """
ALTER TABLE sessions ADD COLUMN num INTEGER;
UPDATE sessions SET num = rowid;
CREATE UNIQUE INDEX sessions_num ON sessions (num);
""",
}

_MESSAGES_BY_NUMBER = """
CREATE TABLE messages_by_num (
    session_num BIGINT NOT NULL REFERENCES sessions(num),
    seq BIGINT NOT NULL,
    id TEXT NOT NULL,
    role TEXT NOT NULL,
    kind TEXT NOT NULL,
    content TEXT NOT NULL,
    raw TEXT,
    author TEXT,
    created_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (session_num, seq),
    UNIQUE (session_num, id)
);
INSERT INTO messages_by_num (session_num, seq, id, role, kind, content, raw, author, created_at)
    SELECT s.num, m.seq, m.id, m.role, m.kind, m.content, m.raw, m.author, m.created_at
      FROM messages m JOIN sessions s ON s.id = m.session_id
     ORDER BY s.num, m.seq;
DROP TABLE messages;
ALTER TABLE messages_by_num RENAME TO messages;
"""

# The new events table, per dialect; then the same copy, keeping every id.
_EVENTS_BY_NUMBER_TABLE = {
    "postgres": "id BIGINT PRIMARY KEY, session_num BIGINT, seq BIGINT",
    "sqlite": "id INTEGER PRIMARY KEY AUTOINCREMENT, session_num INTEGER, seq INTEGER",
}
# Where the next event id comes from: the old table's counter, moved over.
_EVENT_IDS_KEPT = {
    "postgres": """
ALTER SEQUENCE events_id_seq OWNED BY events_by_num.id;
ALTER TABLE events_by_num ALTER COLUMN id SET DEFAULT nextval('events_id_seq');
""",
    "sqlite": """
DELETE FROM sqlite_sequence WHERE name = 'events_by_num';
INSERT INTO sqlite_sequence (name, seq) SELECT 'events_by_num', seq FROM sqlite_sequence
    WHERE name = 'events';
""",
}
# After the rebuild, on PostgreSQL: indexes and the foreign key are named after their
# table, so they take back the names they had; and the new tables get statistics.
_AFTER_REBUILD = {
    "postgres": """
ALTER INDEX events_by_num_pkey RENAME TO events_pkey;
ALTER INDEX messages_by_num_pkey RENAME TO messages_pkey;
ALTER INDEX messages_by_num_session_num_id_key RENAME TO messages_session_num_id_key;
ALTER TABLE messages RENAME CONSTRAINT messages_by_num_session_num_fkey
    TO messages_session_num_fkey;
-- Plans made before the first ANALYZE take the new tables for empty ones.
ANALYZE sessions;
ANALYZE messages;
ANALYZE events;
""",
    "sqlite": "",
}


def _events_by_number(dialect: str) -> str:
    return (
        f"""
CREATE TABLE events_by_num (
    {_EVENTS_BY_NUMBER_TABLE[dialect]},
    type TEXT NOT NULL,
    data TEXT,
    created_at DOUBLE PRECISION NOT NULL
);
INSERT INTO events_by_num (id, type, session_num, seq, data, created_at)
    SELECT e.id, e.type, s.num, e.seq, e.data, e.created_at
      FROM events e LEFT JOIN sessions s ON s.id = e.session_id
     ORDER BY e.id;
"""
        + _EVENT_IDS_KEPT[dialect]
        + """
DROP TABLE events;
ALTER TABLE events_by_num RENAME TO events;
CREATE INDEX events_session ON events (session_num, id);
"""
        + _AFTER_REBUILD[dialect]
    )


@dataclass(frozen=True)
class Step:
    version: int
    why: str
    sql: Callable[[str], str]  # dialect → statements separated by ';'


STEPS: tuple[Step, ...] = (
    Step(1, "the baseline schema", baseline_sql),
    Step(
        2,
        "sessions remember the token that created them (agent tokens act on their own only)",
        lambda dialect: (
            """
ALTER TABLE sessions ADD COLUMN owner_token TEXT;
-- Sessions from before this step name their creator's token only by its name: claim
-- them for that token where the name is unambiguous; the rest stay admin-only.
UPDATE sessions
   SET owner_token = (SELECT MIN(t.id) FROM tokens t WHERE t.name = sessions.created_by)
 WHERE (SELECT COUNT(*) FROM tokens t WHERE t.name = sessions.created_by) = 1;
CREATE INDEX sessions_owner ON sessions (owner_token);
"""
        ),
    ),
    Step(
        3,
        "paired devices and their one-time pairing links (tether pair, tether devices)",
        lambda dialect: (
            """
-- A pairing link's secret never reaches the relay: `verifier` is an HMAC key derived
-- from it, wiped once the link is used or refused; `nonce` is the one open challenge.
CREATE TABLE pairings (
    id TEXT PRIMARY KEY,
    verifier TEXT,
    name TEXT NOT NULL,
    scope TEXT NOT NULL,
    nonce TEXT,
    attempts INTEGER NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL,
    used_at DOUBLE PRECISION
);
-- A device is its token plus the public key sessions' keys are wrapped to; its id is
-- the id of the pairing that made it.
CREATE TABLE devices (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    scope TEXT NOT NULL,
    token_id TEXT NOT NULL,
    public_key TEXT,
    host_proof TEXT,
    created_at DOUBLE PRECISION NOT NULL,
    last_seen_at DOUBLE PRECISION,
    revoked_at DOUBLE PRECISION
);
CREATE INDEX devices_token ON devices (token_id);
"""
        ),
    ),
    Step(
        4,
        "Web Push: each device's subscription, tied to its token, with its settings; and "
        "which process sends each notifying event (scale-out sends it once)",
        lambda dialect: (
            """
CREATE TABLE push_subscriptions (
    id TEXT PRIMARY KEY,
    token_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    endpoint TEXT NOT NULL UNIQUE,
    p256dh TEXT NOT NULL,
    auth TEXT NOT NULL,
    events TEXT NOT NULL,
    quiet INTEGER NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX push_subscriptions_token ON push_subscriptions (token_id);
CREATE TABLE push_claims (
    event_id BIGINT PRIMARY KEY,
    claimed_at DOUBLE PRECISION NOT NULL
);
"""
        ),
    ),
    Step(5, "flows: every gateway exchange, both sides, bodies compressed", flows_sql),
    Step(
        6,
        "the event log names a message by (session_id, seq) instead of holding a second copy",
        lambda dialect: _LEAN_EVENTS[dialect],
    ),
    Step(
        7,
        "retention remembers the newest event id it deleted, so older cursors get a reset",
        lambda dialect: (
            """
CREATE TABLE event_horizon (pruned_through BIGINT NOT NULL);
INSERT INTO event_horizon (pruned_through) VALUES (0);
"""
        ),
    ),
    Step(
        8,
        "a runner holds a lease on its session, so a session whose agent is gone says so",
        lambda dialect: (
            """
-- The holder is one event stream of the runner's; NULL when nobody holds it. The expiry
-- is epoch seconds; NULL when no runner ever held the session (no claim either way).
ALTER TABLE sessions ADD COLUMN runner_lease TEXT;
ALTER TABLE sessions ADD COLUMN runner_lease_until DOUBLE PRECISION;
"""
        ),
    ),
    Step(
        9,
        "messages and events name their session by a number (sessions.num): index entries "
        "of 16-24 bytes instead of 50-90",
        lambda dialect: (
            _SESSION_NUMBERS[dialect] + _MESSAGES_BY_NUMBER + _events_by_number(dialect)
        ),
    ),
)

SCHEMA_VERSION = STEPS[-1].version


def statements(sql: str) -> list[str]:
    """Split a script into statements (ours hold no ';' inside literals), dropping comments."""
    lines = [line for line in sql.splitlines() if not line.lstrip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


async def current_version(conn: Connection) -> int:
    row = await conn.fetchrow("SELECT version FROM tether_schema")
    return int(row["version"]) if row else 0


async def migrate(db: Database, target: int = SCHEMA_VERSION) -> int:
    """Bring the schema up to `target`; returns the version found before."""
    async with db.transaction(maintenance=True) as conn:
        if db.dialect == "postgres":
            await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
        await conn.execute("CREATE TABLE IF NOT EXISTS tether_schema (version INTEGER NOT NULL)")
        found = await current_version(conn)
        if found > SCHEMA_VERSION:
            raise RuntimeError(
                f"the database was written by a newer tether (schema {found}, "
                f"this one knows {SCHEMA_VERSION}); upgrade tether"
            )
        for step in STEPS:
            if found < step.version <= target:
                for statement in statements(step.sql(db.dialect)):
                    await conn.execute(statement)
        if found == 0:
            await conn.execute("INSERT INTO tether_schema (version) VALUES ($1)", target)
        elif target > found:
            await conn.execute("UPDATE tether_schema SET version = $1", target)
    return found
