"""The relay's baseline tables (schema version 1); later changes are steps in
migrations.py. Both dialects share one shape.

Times are epoch seconds (double precision); JSON values are stored as text so the same
queries read them on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

_TABLES = """
CREATE TABLE IF NOT EXISTS tokens (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    scope TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    revoked_at DOUBLE PRECISION
);

CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    agent TEXT NOT NULL,
    cwd TEXT NOT NULL,
    host TEXT NOT NULL,
    status TEXT NOT NULL,
    permission_mode TEXT NOT NULL,
    model TEXT,
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL,
    last_activity_at DOUBLE PRECISION NOT NULL,
    metadata TEXT NOT NULL,
    metadata_version BIGINT NOT NULL,
    agent_state TEXT NOT NULL,
    agent_state_version BIGINT NOT NULL,
    last_seq BIGINT NOT NULL,
    created_by TEXT
);

CREATE TABLE IF NOT EXISTS messages (
    session_id TEXT NOT NULL REFERENCES sessions(id),
    seq BIGINT NOT NULL,
    id TEXT NOT NULL,
    role TEXT NOT NULL,
    kind TEXT NOT NULL,
    content TEXT NOT NULL,
    raw TEXT,
    author TEXT,
    created_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (session_id, seq),
    UNIQUE (session_id, id)
);

CREATE TABLE IF NOT EXISTS permissions (
    id TEXT PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions(id),
    tool_name TEXT NOT NULL,
    tool_use_id TEXT,
    input TEXT NOT NULL,
    title TEXT,
    description TEXT,
    suggestions TEXT NOT NULL,
    status TEXT NOT NULL,
    decision TEXT,
    created_at DOUBLE PRECISION NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL,
    resolved_at DOUBLE PRECISION,
    event_id BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS permissions_status ON permissions (status, expires_at);
CREATE INDEX IF NOT EXISTS permissions_session ON permissions (session_id, status);
"""

_EVENTS = {
    "sqlite": """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    type TEXT NOT NULL,
    session_id TEXT,
    data TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX IF NOT EXISTS events_session ON events (session_id, id);
""",
    "postgres": """
CREATE TABLE IF NOT EXISTS events (
    id BIGSERIAL PRIMARY KEY,
    type TEXT NOT NULL,
    session_id TEXT,
    data TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX IF NOT EXISTS events_session ON events (session_id, id);
""",
}


def baseline_sql(dialect: str) -> str:
    return _TABLES + _EVENTS[dialect]
