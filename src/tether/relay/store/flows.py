"""The flows table: gateway exchanges the gateway's recorder hands over (it implements the
gateway's `FlowSink` without either importing the other: rows are plain dicts).

Bodies arrive zlib-compressed (BLOB on SQLite, bytea on PostgreSQL) and leave that way;
readers inflate them. Ids sort by time, so pages are `id < cursor`. Retention deletes
by age, then the oldest until the stored bodies fit the size budget.
"""

from __future__ import annotations

import time
import zlib
from typing import Any

import orjson

from tether.relay.store.db import Database, Row

BODIES = ("request_body", "upstream_request_body", "upstream_response_body", "response_body")
JSON_COLUMNS = (
    "request_headers",
    "upstream_request_headers",
    "upstream_response_headers",
    "response_headers",
    "hook_runs",
)
COLUMNS = (
    "id",
    "received_at",
    "session_id",
    "agent_session_id",
    "surface",
    "method",
    "path",
    "capture",
    "client_model",
    "provider",
    "upstream_model",
    "route_reason",
    "stream",
    "status",
    "upstream_status",
    "upstream_url",
    "error",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cost",
    "connected_ms",
    "first_byte_ms",
    "last_byte_ms",
    "duration_ms",
    "size",
    *JSON_COLUMNS,
    *BODIES,
)
SUMMARY = tuple(c for c in COLUMNS if c not in BODIES and c not in JSON_COLUMNS)


def flows_sql(dialect: str) -> str:
    blob = "BYTEA" if dialect == "postgres" else "BLOB"
    real = "DOUBLE PRECISION"
    return f"""
CREATE TABLE flows (
    id TEXT PRIMARY KEY,
    received_at {real} NOT NULL,
    session_id TEXT,
    agent_session_id TEXT,
    surface TEXT NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    capture TEXT NOT NULL,
    client_model TEXT,
    provider TEXT,
    upstream_model TEXT,
    route_reason TEXT,
    stream BOOLEAN NOT NULL,
    status INTEGER,
    upstream_status INTEGER,
    upstream_url TEXT,
    error TEXT,
    input_tokens BIGINT,
    output_tokens BIGINT,
    cache_read_tokens BIGINT,
    cache_write_tokens BIGINT,
    cost {real},
    connected_ms {real},
    first_byte_ms {real},
    last_byte_ms {real},
    duration_ms {real},
    size BIGINT NOT NULL,
    request_headers TEXT,
    upstream_request_headers TEXT,
    upstream_response_headers TEXT,
    response_headers TEXT,
    hook_runs TEXT,
    request_body {blob},
    upstream_request_body {blob},
    upstream_response_body {blob},
    response_body {blob}
);
CREATE INDEX flows_session ON flows (session_id, id);
CREATE INDEX flows_received ON flows (received_at)
"""


_INSERT = "INSERT INTO flows ({}) VALUES ({})".format(
    ", ".join(COLUMNS), ", ".join(f"${i}" for i in range(1, len(COLUMNS) + 1))
)


def _iso(ts: float) -> str:
    whole = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts))
    return f"{whole}.{int((ts % 1) * 1000):03d}Z"


def flow_summary(row: Row) -> dict[str, Any]:
    out = {c: row[c] for c in SUMMARY if c in row}
    out["stream"] = bool(out.get("stream"))
    out["received_at"] = _iso(row["received_at"])
    return out


def inflate(value: Any) -> bytes | None:
    return None if value is None else zlib.decompress(bytes(value))


def flow_detail(row: Row) -> dict[str, Any]:
    """A flow with headers parsed and bodies inflated (bytes; the API decides the form)."""
    out = flow_summary(row)
    for column in JSON_COLUMNS:
        value = row.get(column)
        out[column] = None if value is None else orjson.loads(value)
    for column in BODIES:
        out[column] = inflate(row.get(column))
    return out


def _joins(session: Row | None, row: dict[str, Any]) -> bool:
    """Whether a flow may be filed under the session its header names."""
    if not row.get("session_id") or session is None:
        return False
    return session["status"] != "ended" or session["last_activity_at"] >= row["received_at"]


class FlowStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # --- FlowSink ------------------------------------------------------------------------

    async def write(self, rows: list[dict[str, Any]]) -> None:
        rows = await self._checked_sessions(rows)
        for row in rows:
            values = []
            for column in COLUMNS:
                value = row.get(column)
                if column in JSON_COLUMNS and value is not None:
                    value = orjson.dumps(value).decode()
                values.append(value)
            await self.db.execute(_INSERT, *values)

    async def _checked_sessions(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """A flow joins the session its `X-Tether-Session` names only when that session
        exists and had not ended when the call arrived. Any gateway client can send the
        header; this keeps its calls out of sessions that are not running (a made-up id,
        an ended session's). The header itself stays in `request_headers`, as sent."""
        named = {row["session_id"] for row in rows if row.get("session_id")}
        if not named:
            return rows
        sessions: dict[str, Row | None] = {}
        for session_id in named:
            sessions[session_id] = await self.db.fetchrow(
                "SELECT status, last_activity_at FROM sessions WHERE id = $1", session_id
            )
        return [
            row if _joins(sessions.get(row.get("session_id")), row) else {**row, "session_id": None}
            for row in rows
        ]

    async def prune(self, max_age: float, max_bytes: float) -> int:
        gone = await self.db.execute(
            "DELETE FROM flows WHERE received_at < $1", time.time() - max_age
        )
        rows = await self.db.fetch("SELECT id, size FROM flows ORDER BY id DESC")
        total = 0
        for row in rows:
            total += row["size"]
            if total > max_bytes:
                gone += await self.db.execute("DELETE FROM flows WHERE id <= $1", row["id"])
                break
        return gone

    # --- reads ---------------------------------------------------------------------------

    async def list(
        self,
        *,
        session: str | None = None,
        model: str | None = None,
        provider: str | None = None,
        status: int | None = None,
        since: float | None = None,
        before: str | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        where: list[str] = []
        args: list[Any] = []

        def add(clause: str, value: Any) -> None:
            args.append(value)
            where.append(clause.replace("?", f"${len(args)}"))

        if session is not None:
            add("session_id = ?", session)
        if model is not None:
            args.append(model)
            n = len(args)
            where.append(f"(client_model = ${n} OR upstream_model = ${n})")
        if provider is not None:
            add("provider = ?", provider)
        if status is not None:
            add("status = ?", status)
        if since is not None:
            add("received_at >= ?", since)
        if before is not None:
            add("id < ?", before)
        args.append(limit)
        sql = "SELECT {} FROM flows {} ORDER BY id DESC LIMIT ${}".format(
            ", ".join(SUMMARY), f"WHERE {' AND '.join(where)}" if where else "", len(args)
        )
        return [flow_summary(row) for row in await self.db.fetch(sql, *args)]

    async def get(self, flow_id: str) -> dict[str, Any] | None:
        row = await self.db.fetchrow("SELECT * FROM flows WHERE id = $1", flow_id)
        return None if row is None else flow_detail(row)
