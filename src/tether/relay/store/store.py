"""The relay's durable state: tokens, sessions, messages, permission requests and the event log.

Every change is written in one transaction together with the event that announces it, so
the event log (what SSE cursors point into) never disagrees with the tables. Methods that
change something return the events they logged; the caller publishes them after commit.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import orjson

from tether.relay.errors import Conflict, NotFound
from tether.relay.event import WireEvent
from tether.relay.store.db import Connection, Database, Row
from tether.relay.store.migrations import migrate

_JSON_SESSION_FIELDS = ("metadata", "agent_state")


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(8)}"


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    whole = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts))
    return f"{whole}.{int((ts % 1) * 1000):03d}Z"


def _loads(value: str | None) -> Any:
    return None if value is None else orjson.loads(value)


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def session_out(row: Row) -> dict[str, Any]:
    out = dict(row)
    for key in _JSON_SESSION_FIELDS:
        out[key] = _loads(out[key])
    for key in ("created_at", "updated_at", "last_activity_at"):
        out[key] = iso(out[key])
    out.pop("created_by", None)
    out.pop("owner_token", None)
    out["agent_online"] = agent_online(
        out.pop("runner_lease", None), out.pop("runner_lease_until", None)
    )
    return out


UNTITLED = ("", "untitled")


def title_from(item: dict[str, Any]) -> str | None:
    """A title from a person's prompt: its first line, at most 60 characters."""
    content = item.get("content")
    text = content.get("text") if isinstance(content, dict) else None
    if item.get("role") != "user" or item.get("kind") != "user_text" or not isinstance(text, str):
        return None
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    line = " ".join(line.split())
    return (line if len(line) <= 60 else line[:59].rstrip() + "…") or None


def agent_online(holder: str | None, until: float | None, now: float | None = None) -> bool | None:
    """Whether a runner holds the session's lease; None when no runner ever did (a session
    made through the API alone makes no claim about an agent)."""
    if until is None:
        return None
    return holder is not None and until > (now or time.time())


def message_out(row: Row) -> dict[str, Any]:
    return {
        "session_id": row["session_id"],
        "seq": row["seq"],
        "id": row["id"],
        "role": row["role"],
        "kind": row["kind"],
        "content": _loads(row["content"]),
        "raw": _loads(row["raw"]),
        "author": row["author"],
        "created_at": iso(row["created_at"]),
    }


def permission_out(row: Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "session_id": row["session_id"],
        "tool_name": row["tool_name"],
        "tool_use_id": row["tool_use_id"],
        "input": _loads(row["input"]),
        "title": row["title"],
        "description": row["description"],
        "suggestions": _loads(row["suggestions"]),
        "status": row["status"],
        "decision": _loads(row["decision"]),
        "created_at": iso(row["created_at"]),
        "expires_at": iso(row["expires_at"]),
        "resolved_at": iso(row["resolved_at"]),
    }


class Store:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def open(self) -> None:
        await self.db.connect()
        await migrate(self.db)

    async def close(self) -> None:
        await self.db.close()

    # ── events ────────────────────────────────────────────────────────────────────

    async def _log(
        self, conn: Connection, type: str, session_id: str | None, data: dict[str, Any]
    ) -> WireEvent:
        row = await conn.fetchrow(
            "INSERT INTO events (type, session_id, data, created_at) VALUES ($1, $2, $3, $4) "
            "RETURNING id",
            type,
            session_id,
            _dumps(data),
            time.time(),
        )
        assert row is not None
        return WireEvent(row["id"], type, session_id, data)

    async def events_after(
        self, cursor: int, session_id: str | None = None, limit: int = 1000
    ) -> list[WireEvent]:
        if session_id is None:
            rows = await self.db.fetch(
                "SELECT id, type, session_id, data FROM events WHERE id > $1 ORDER BY id LIMIT $2",
                cursor,
                limit,
            )
        else:
            rows = await self.db.fetch(
                "SELECT id, type, session_id, data FROM events WHERE session_id = $1 AND id > $2 "
                "ORDER BY id LIMIT $3",
                session_id,
                cursor,
                limit,
            )
        # Keep the stored JSON text: replay sends it as it was, without a re-encode.
        return [
            WireEvent(
                r["id"],
                r["type"],
                r["session_id"],
                orjson.loads(r["data"]),
                _json=r["data"].encode(),
            )
            for r in rows
        ]

    async def last_event_id(self) -> int:
        row = await self.db.fetchrow("SELECT COALESCE(MAX(id), 0) AS id FROM events")
        return int(row["id"]) if row else 0

    # ── tokens ────────────────────────────────────────────────────────────────────

    async def create_token(self, token_id: str, name: str, scope: str, secret_hash: str) -> Row:
        now = time.time()
        async with self.db.transaction() as conn:
            await conn.execute(
                "INSERT INTO tokens (id, name, scope, secret_hash, created_at) "
                "VALUES ($1, $2, $3, $4, $5)",
                token_id,
                name,
                scope,
                secret_hash,
                now,
            )
        return {
            "id": token_id,
            "name": name,
            "scope": scope,
            "created_at": iso(now),
            "revoked_at": None,
        }

    async def get_token(self, token_id: str) -> Row | None:
        return await self.db.fetchrow("SELECT * FROM tokens WHERE id = $1", token_id)

    async def list_tokens(self) -> list[Row]:
        rows = await self.db.fetch(
            "SELECT id, name, scope, created_at, revoked_at FROM tokens ORDER BY created_at"
        )
        return [
            {**r, "created_at": iso(r["created_at"]), "revoked_at": iso(r["revoked_at"])}
            for r in rows
        ]

    async def revoked_token_ids(self) -> set[str]:
        rows = await self.db.fetch("SELECT id FROM tokens WHERE revoked_at IS NOT NULL")
        return {r["id"] for r in rows}

    async def revoke_token(self, token_id: str) -> bool:
        async with self.db.transaction() as conn:
            count = await conn.execute(
                "UPDATE tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
                time.time(),
                token_id,
            )
        return count > 0

    # ── sessions ──────────────────────────────────────────────────────────────────

    async def create_session(
        self, fields: dict[str, Any], created_by: str | None, owner_token: str | None = None
    ) -> tuple[dict[str, Any], list[WireEvent]]:
        now = time.time()
        row: Row = {
            "id": fields.get("id") or new_id("ses"),
            "title": fields.get("title") or "untitled",
            "agent": fields.get("agent") or "claude-code",
            "cwd": fields.get("cwd") or "",
            "host": fields.get("host") or "",
            "status": fields.get("status") or "starting",
            "permission_mode": fields.get("permission_mode") or "default",
            "model": fields.get("model"),
            "created_at": now,
            "updated_at": now,
            "last_activity_at": now,
            "metadata": _dumps(fields.get("metadata") or {}),
            "metadata_version": 0,
            "agent_state": _dumps(fields.get("agent_state") or {}),
            "agent_state_version": 0,
            "last_seq": 0,
            "created_by": created_by,
            "owner_token": owner_token,
        }
        columns = ", ".join(row)
        params = ", ".join(f"${i}" for i in range(1, len(row) + 1))
        async with self.db.transaction() as conn:
            if await conn.fetchrow("SELECT id FROM sessions WHERE id = $1", row["id"]):
                raise Conflict(f"session {row['id']} already exists")
            await conn.execute(f"INSERT INTO sessions ({columns}) VALUES ({params})", *row.values())
            session = session_out(row)
            session["pending_permissions"] = 0
            event = await self._log(conn, "session", row["id"], session)
        return session, [event]

    async def _session_row(self, conn: Connection | Database, session_id: str) -> Row:
        row = await conn.fetchrow("SELECT * FROM sessions WHERE id = $1", session_id)
        if row is None:
            raise NotFound(f"no session with id {session_id!r}")
        return row

    async def session_owner(self, session_id: str) -> str | None:
        """The id of the token that created the session (404 for an unknown session)."""
        row = await self.db.fetchrow("SELECT owner_token FROM sessions WHERE id = $1", session_id)
        if row is None:
            raise NotFound(f"no session with id {session_id!r}")
        return row["owner_token"]

    async def _pending_counts(self) -> dict[str, int]:
        rows = await self.db.fetch(
            "SELECT session_id, COUNT(*) AS n FROM permissions WHERE status = 'pending' "
            "GROUP BY session_id"
        )
        return {r["session_id"]: int(r["n"]) for r in rows}

    async def get_session(self, session_id: str) -> dict[str, Any]:
        return await self._session_with_pending(
            self.db, await self._session_row(self.db, session_id)
        )

    async def _session_with_pending(self, conn: Connection | Database, row: Row) -> dict[str, Any]:
        """The session as the API shows it, with its count of pending requests (every
        session the relay answers or announces carries it)."""
        session = session_out(row)
        count = await conn.fetchrow(
            "SELECT COUNT(*) AS n FROM permissions WHERE session_id = $1 AND status = 'pending'",
            row["id"],
        )
        session["pending_permissions"] = int(count["n"]) if count else 0
        return session

    async def list_sessions(
        self, status: str | None = None, limit: int = 500, owner: str | None = None
    ) -> list[dict[str, Any]]:
        """Sessions, most recently active first; with `owner`, only that token's."""
        where, args = [], []
        if status == "active":
            where.append("status != 'ended'")
        elif status:
            args.append(status)
            where.append(f"status = ${len(args)}")
        if owner is not None:
            args.append(owner)
            where.append(f"owner_token = ${len(args)}")
        clause = f"WHERE {' AND '.join(where)} " if where else ""
        args.append(limit)
        rows = await self.db.fetch(
            f"SELECT * FROM sessions {clause}ORDER BY last_activity_at DESC LIMIT ${len(args)}",
            *args,
        )
        counts = await self._pending_counts()
        sessions = [session_out(r) for r in rows]
        for s in sessions:
            s["pending_permissions"] = counts.get(s["id"], 0)
        return sessions

    async def update_session(
        self, session_id: str, changes: dict[str, Any], expected_version: int | None
    ) -> tuple[dict[str, Any], list[WireEvent]]:
        """Apply a patch. `metadata`/`agent_state` replace the stored value and bump its
        version; with `expected_version` a stale writer gets a 409 carrying the current value."""
        async with self.db.transaction() as conn:
            row = await self._session_row(conn, session_id)
            sets: dict[str, Any] = {}
            for key in _JSON_SESSION_FIELDS:
                if key not in changes:
                    continue
                version_key = f"{key}_version"
                current_version = row[version_key]
                if expected_version is not None and expected_version != current_version:
                    raise Conflict(
                        f"{key} is at version {current_version}, not {expected_version}",
                        type="version_conflict",
                        extra={
                            "current": {
                                "version": current_version,
                                "value": _loads(row[key]),
                                "field": key,
                            }
                        },
                    )
                sets[key] = _dumps(changes[key])
                sets[version_key] = current_version + 1
            for key in ("title", "status", "model", "permission_mode", "cwd", "host"):
                if changes.get(key) is not None:
                    sets[key] = changes[key]
            now = time.time()
            sets["updated_at"] = now
            sets["last_activity_at"] = now
            assignments = ", ".join(f"{k} = ${i}" for i, k in enumerate(sets, start=2))
            await conn.execute(
                f"UPDATE sessions SET {assignments} WHERE id = $1", session_id, *sets.values()
            )
            row.update(sets)
            session = await self._session_with_pending(conn, row)
            event = await self._log(conn, "session", session_id, session)
        return session, [event]

    # ── messages ──────────────────────────────────────────────────────────────────

    async def append_messages(
        self, session_id: str, items: list[dict[str, Any]], author: str | None
    ) -> tuple[list[dict[str, Any]], list[WireEvent]]:
        """Store messages in order with gap-free seqs. An id already stored is answered
        with the stored message and logs nothing (the idempotent retry)."""
        out: list[dict[str, Any]] = []
        events: list[WireEvent] = []
        now = time.time()
        async with self.db.transaction() as conn:
            session = await self._session_row(conn, session_id)
            seq = session["last_seq"]
            title = None
            for item in items:
                if title is None and session["title"] in UNTITLED:
                    title = title_from(item)
                message_id = item.get("id") or new_id("msg")
                existing = await conn.fetchrow(
                    "SELECT * FROM messages WHERE session_id = $1 AND id = $2",
                    session_id,
                    message_id,
                )
                if existing is not None:
                    out.append(message_out(existing))
                    continue
                seq += 1
                row: Row = {
                    "session_id": session_id,
                    "seq": seq,
                    "id": message_id,
                    "role": item["role"],
                    "kind": item["kind"],
                    "content": _dumps(item.get("content")),
                    "raw": None if item.get("raw") is None else _dumps(item["raw"]),
                    "author": author,
                    "created_at": now,
                }
                await conn.execute(
                    "INSERT INTO messages (session_id, seq, id, role, kind, content, raw, author, "
                    "created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                    *row.values(),
                )
                message = message_out(row)
                out.append(message)
                events.append(await self._log(conn, "message", session_id, message))
            if seq != session["last_seq"]:
                await conn.execute(
                    "UPDATE sessions SET last_seq = $2, last_activity_at = $3 WHERE id = $1",
                    session_id,
                    seq,
                    now,
                )
            if title and seq != session["last_seq"]:
                # A session made without a title is named by its first prompt.
                await conn.execute(
                    "UPDATE sessions SET title = $2, updated_at = $3 WHERE id = $1",
                    session_id,
                    title,
                    now,
                )
                session.update(title=title, updated_at=now, last_seq=seq, last_activity_at=now)
                named = await self._session_with_pending(conn, session)
                events.append(await self._log(conn, "session", session_id, named))
        return out, events

    async def list_messages(
        self, session_id: str, *, after: int = 0, before: int | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        await self._session_row(self.db, session_id)
        if before is not None:
            # The newest `limit` messages before `before`, returned oldest first.
            rows = await self.db.fetch(
                "SELECT * FROM messages WHERE session_id = $1 AND seq > $2 AND seq < $3 "
                "ORDER BY seq DESC LIMIT $4",
                session_id,
                after,
                before,
                limit,
            )
            rows.reverse()
        else:
            rows = await self.db.fetch(
                "SELECT * FROM messages WHERE session_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
                session_id,
                after,
                limit,
            )
        return [message_out(r) for r in rows]

    # ── control ───────────────────────────────────────────────────────────────────

    async def log_control(
        self, session_id: str, data: dict[str, Any], session_changes: dict[str, Any] | None = None
    ) -> list[WireEvent]:
        """Log a control event (interrupt, permission-mode change, end) for the session's
        agent; with `session_changes` the session row is updated in the same transaction."""
        async with self.db.transaction() as conn:
            row = await self._session_row(conn, session_id)
            events: list[WireEvent] = []
            if session_changes:
                now = time.time()
                sets = {**session_changes, "updated_at": now, "last_activity_at": now}
                assignments = ", ".join(f"{k} = ${i}" for i, k in enumerate(sets, start=2))
                await conn.execute(
                    f"UPDATE sessions SET {assignments} WHERE id = $1", session_id, *sets.values()
                )
                row.update(sets)
                events.append(
                    await self._log(
                        conn, "session", session_id, await self._session_with_pending(conn, row)
                    )
                )
            events.append(
                await self._log(
                    conn,
                    "control",
                    session_id,
                    {"session_id": session_id, **data, "created_at": iso(time.time())},
                )
            )
        return events

    # ── permission requests ───────────────────────────────────────────────────────

    async def open_permission(
        self, session_id: str, fields: dict[str, Any], timeout: float
    ) -> tuple[dict[str, Any], list[WireEvent]]:
        now = time.time()
        permission_id = new_id("perm")
        async with self.db.transaction() as conn:
            session = await self._session_row(conn, session_id)
            if session["status"] == "ended":
                raise Conflict(f"session {session_id} has ended", type="session_ended")
            row: Row = {
                "id": permission_id,
                "session_id": session_id,
                "tool_name": fields["tool_name"],
                "tool_use_id": fields.get("tool_use_id"),
                "input": _dumps(fields.get("input") or {}),
                "title": fields.get("title"),
                "description": fields.get("description"),
                "suggestions": _dumps(fields.get("suggestions") or []),
                "status": "pending",
                "decision": None,
                "created_at": now,
                "expires_at": now + timeout,
                "resolved_at": None,
            }
            permission = permission_out(row)
            event = await self._log(conn, "permission_request", session_id, permission)
            await conn.execute(
                "INSERT INTO permissions (id, session_id, tool_name, tool_use_id, input, title, "
                "description, suggestions, status, decision, created_at, expires_at, resolved_at, "
                "event_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
                *row.values(),
                event.id,
            )
        return permission, [event]

    async def get_permission(self, permission_id: str) -> dict[str, Any]:
        row = await self.db.fetchrow("SELECT * FROM permissions WHERE id = $1", permission_id)
        if row is None:
            raise NotFound(f"no permission request with id {permission_id!r}")
        return permission_out(row)

    async def list_permissions(
        self, *, status: str | None = None, session_id: str | None = None, owner: str | None = None
    ) -> list[dict[str, Any]]:
        rows = await self._permission_rows(status, session_id, owner)
        return [permission_out(r) for r in rows]

    async def pending_with_cursor(self, session_id: str | None) -> list[tuple[int, dict[str, Any]]]:
        """Pending requests with the id of the event that opened them, oldest first."""
        rows = await self._permission_rows("pending", session_id)
        return [(int(r["event_id"]), permission_out(r)) for r in rows]

    async def _permission_rows(
        self, status: str | None, session_id: str | None, owner: str | None = None
    ) -> list[Row]:
        where, args = [], []
        if owner is not None:
            args.append(owner)
            where.append(
                f"session_id IN (SELECT id FROM sessions WHERE owner_token = ${len(args)})"
            )
        if status:
            args.append(status)
            where.append(f"status = ${len(args)}")
        if session_id:
            args.append(session_id)
            where.append(f"session_id = ${len(args)}")
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        return await self.db.fetch(
            f"SELECT * FROM permissions {clause} ORDER BY created_at, id", *args
        )

    async def resolve_permission(
        self, permission_id: str, status: str, decision: dict[str, Any] | None
    ) -> tuple[dict[str, Any], list[WireEvent]]:
        """Move a pending request to its final status. Only the first resolution wins: a
        request that is no longer pending is a 409 that carries how it was resolved."""
        now = time.time()
        async with self.db.transaction() as conn:
            row = await conn.fetchrow("SELECT * FROM permissions WHERE id = $1", permission_id)
            if row is None:
                raise NotFound(f"no permission request with id {permission_id!r}")
            if row["status"] != "pending":
                raise Conflict(
                    f"permission request {permission_id} is already {row['status']}",
                    type="already_resolved",
                    extra={"permission": permission_out(row)},
                )
            if decision is not None:
                decision = {**decision, "decided_at": iso(now)}
            await conn.execute(
                "UPDATE permissions SET status = $2, decision = $3, resolved_at = $4 "
                "WHERE id = $1 AND status = 'pending'",
                permission_id,
                status,
                None if decision is None else _dumps(decision),
                now,
            )
            row.update(
                status=status,
                decision=None if decision is None else _dumps(decision),
                resolved_at=now,
            )
            permission = permission_out(row)
            event = await self._log(conn, "permission_resolved", row["session_id"], permission)
        return permission, [event]

    async def due_permissions(self, now: float) -> list[tuple[str, float]]:
        """Overdue pending requests, each with the timeout it was given in seconds."""
        rows = await self.db.fetch(
            "SELECT id, expires_at - created_at AS timeout FROM permissions "
            "WHERE status = 'pending' AND expires_at <= $1",
            now,
        )
        return [(r["id"], float(r["timeout"])) for r in rows]

    async def next_expiry(self) -> float | None:
        row = await self.db.fetchrow(
            "SELECT MIN(expires_at) AS t FROM permissions WHERE status = 'pending'"
        )
        return None if row is None or row["t"] is None else float(row["t"])

    # ── the runner's lease on its session ─────────────────────────────────────────────

    async def hold_lease(
        self, session_id: str, holder: str, until: float
    ) -> tuple[None, list[WireEvent]]:
        """`holder` takes the lease (a runner's newer stream replaces an older one); the
        session is announced when this brings its agent back online."""
        async with self.db.transaction() as conn:
            row = await self._session_row(conn, session_id)
            was = agent_online(row.get("runner_lease"), row.get("runner_lease_until"))
            await conn.execute(
                "UPDATE sessions SET runner_lease = $2, runner_lease_until = $3 WHERE id = $1",
                session_id,
                holder,
                until,
            )
            if was:
                return None, []
            row.update(runner_lease=holder, runner_lease_until=until)
            session = await self._session_with_pending(conn, row)
            return None, [await self._log(conn, "session", session_id, session)]

    async def renew_lease(self, session_id: str, holder: str, until: float) -> bool:
        changed = await self.db.execute(
            "UPDATE sessions SET runner_lease_until = $3 WHERE id = $1 AND runner_lease = $2",
            session_id,
            holder,
            until,
        )
        return changed > 0

    async def drop_lease(
        self, session_id: str, holder: str | None, now: float
    ) -> tuple[None, list[WireEvent]]:
        """End a lease: `holder`'s own (its stream closed), or with None one that lapsed
        (no renewal in time). Guarded, so of several relays only one announces it."""
        async with self.db.transaction() as conn:
            if holder is None:
                changed = await conn.execute(
                    "UPDATE sessions SET runner_lease = NULL "
                    "WHERE id = $1 AND runner_lease IS NOT NULL AND runner_lease_until <= $2",
                    session_id,
                    now,
                )
            else:
                changed = await conn.execute(
                    "UPDATE sessions SET runner_lease = NULL, runner_lease_until = $3 "
                    "WHERE id = $1 AND runner_lease = $2",
                    session_id,
                    holder,
                    now,
                )
            if not changed:
                return None, []
            row = await self._session_row(conn, session_id)
            session = await self._session_with_pending(conn, row)
            return None, [await self._log(conn, "session", session_id, session)]

    async def lapsed_leases(self, now: float) -> list[str]:
        rows = await self.db.fetch(
            "SELECT id FROM sessions WHERE runner_lease IS NOT NULL AND runner_lease_until <= $1",
            now,
        )
        return [r["id"] for r in rows]
