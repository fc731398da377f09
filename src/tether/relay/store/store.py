"""The relay's durable state: tokens, sessions, messages, permission requests and the event log.

Every change is written in one transaction together with the event that announces it, so
the event log (what SSE cursors point into) never disagrees with the tables. Changes are
operations on a `Tx` run by the one writer (store/writer.py), which commits whatever has
queued together and hands the committed events on in commit order.

A message is stored once: its event in the log names it by (session number, seq) and
reads join it back, so the log costs a small row per message rather than a second copy.
Messages and events name their session by `sessions.num`, an integer that never leaves
this module (small index entries); reads join `sessions` for the text id.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import orjson

from tether.relay.errors import Conflict, NotFound
from tether.relay.event import WireEvent
from tether.relay.store.db import Connection, Database, Row
from tether.relay.store.flows import FlowStore
from tether.relay.store.migrations import migrate
from tether.relay.store.writer import RETRIES, Operation, R, Together, Tx, Writer

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
    out.pop("num", None)
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


# The advisory lock under which events get their ids and commit (PostgreSQL): ids then
# commit in the order they were drawn, so a reader that resumes "after id N" never skips a
# row that commits late. It is taken by the statement that appends a batch's events, the
# last before COMMIT, so it is held for that statement and the commit only.
EVENT_ORDER_LOCK = 0x7E7E_0001
# Where committed events are announced, to every relay process on the database.
CHANNEL = "tether_events"
# NOTIFY payloads must stay under 8000 bytes; a batch whose events do not fit announces
# only its id range, and readers fetch it.
NOTIFY_LIMIT = 7900

# A session's number on SQLite (one writer; a number is free again only once its session,
# messages and events are all deleted together).
_NEXT_SESSION_NUM = "(SELECT COALESCE(MAX(num), 0) + 1 FROM sessions)"
# The number of the session with the text id `{}` (a parameter), as a scalar subquery: the
# planner runs it once and then walks the (session_num, …) index in order, where a join on
# sessions would read the whole session and sort it.
_SESSION_NUM_OF = "(SELECT num FROM sessions WHERE id = {})"

_APPEND_EVENTS_PG = """
WITH ins AS (
    INSERT INTO events (type, session_num, seq, data, created_at)
    SELECT u.type, s.num, u.seq, u.data, u.created_at
      FROM (SELECT pg_advisory_xact_lock($1)) AS l,
           unnest($2::text[], $3::text[], $4::bigint[], $5::text[], $6::float8[])
               WITH ORDINALITY AS u(type, session_id, seq, data, created_at, ord)
           LEFT JOIN sessions s ON s.id = u.session_id
     ORDER BY u.ord
    RETURNING id
), bounds AS (SELECT MIN(id) AS first, MAX(id) AS last, COUNT(*) AS n FROM ins
), opened AS (
    UPDATE permissions p SET event_id = e.id
      FROM unnest($9::text[], $10::bigint[]) AS o(permission_id, ord),
           (SELECT id, row_number() OVER (ORDER BY id) AS ord FROM ins) AS e
     WHERE e.ord = o.ord AND p.id = o.permission_id
)
SELECT first, last, n, pg_notify($7, first::text || ' ' || last::text || $8) AS sent
  FROM bounds
"""


# One round trip for the posts of a batch (see Store._append_pg). Each session's ids not
# stored yet are numbered in the order given; its `bump` returns the session's new
# last_seq, so they take the seqs up to it. Session rows are locked in id order first, so
# two processes appending to the same sessions wait for each other instead of deadlocking.
_APPEND_MESSAGES_PG = """
WITH given AS (
    SELECT g.*, s.num FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                                  $6::text[], $7::text[])
        WITH ORDINALITY AS g(session_id, id, role, kind, content, raw, author, ord)
        LEFT JOIN sessions s ON s.id = g.session_id
), fresh AS (
    SELECT g.*, row_number() OVER (PARTITION BY g.session_id ORDER BY g.ord) AS k
      FROM given g
     WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.session_num = g.num AND m.id = g.id)
), counts AS (
    SELECT session_id, COUNT(*) AS n FROM fresh GROUP BY session_id
), locked AS (
    SELECT s.id FROM sessions s
     WHERE s.id IN (SELECT session_id FROM counts) ORDER BY s.id FOR UPDATE
), bump AS (
    UPDATE sessions s
       SET last_seq = s.last_seq + c.n, last_activity_at = $8
      FROM counts c, locked l
     WHERE s.id = c.session_id AND l.id = s.id
 RETURNING s.id, s.num, s.last_seq, c.n
), ins AS (
    INSERT INTO messages (session_num, seq, id, role, kind, content, raw, author, created_at)
    SELECT b.num, b.last_seq - b.n + f.k, f.id, f.role, f.kind, f.content, f.raw, f.author, $8
      FROM fresh f JOIN bump b ON b.id = f.session_id
 RETURNING session_num, id, seq
)
SELECT (SELECT COUNT(*) FROM counts) AS sessions, (SELECT COUNT(*) FROM bump) AS bumped,
       (SELECT array_agg(session_num) FROM ins) AS session_nums,
       (SELECT array_agg(id) FROM ins) AS ids,
       (SELECT array_agg(seq) FROM ins) AS seqs,
       (SELECT array_agg(id) FROM bump) AS bumped_ids,
       (SELECT array_agg(num) FROM bump) AS bumped_nums
"""


def notify_payload(events: list[WireEvent]) -> bytes:
    """The events of one commit as a NOTIFY payload tail (after "FIRST LAST"): a JSON list
    of [type, session_id, data]; empty when it would not fit, and readers fetch the range."""
    parts = [
        b'["' + e.type.encode() + b'",' + orjson.dumps(e.session_id) + b"," + e.data_json + b"]"
        for e in events
    ]
    body = b" [" + b",".join(parts) + b"]"
    return body if len(body) <= NOTIFY_LIMIT - 48 else b""


def parse_notification(payload: str) -> tuple[int, int, list[WireEvent] | None]:
    """(first id, last id, the events when the payload carried them) from a NOTIFY."""
    first, last, *rest = payload.split(" ", 2)
    lo, hi = int(first), int(last)
    if not rest or not rest[0]:
        return lo, hi, None
    items = orjson.loads(rest[0])
    if hi - lo + 1 != len(items):  # ids not consecutive: only the log knows which is which
        return lo, hi, None
    return lo, hi, [WireEvent(lo + i, t, sid, data) for i, (t, sid, data) in enumerate(items)]


def _event_from_row(r: Row) -> WireEvent:
    if r["data"] is None:  # a message: the row it names carries it
        message = message_out(
            {
                "session_id": r["session_id"],
                "seq": r["seq"],
                "id": r["m_id"],
                "role": r["m_role"],
                "kind": r["m_kind"],
                "content": r["m_content"],
                "raw": r["m_raw"],
                "author": r["m_author"],
                "created_at": r["m_created_at"],
            }
        )
        return WireEvent(r["id"], r["type"], r["session_id"], message)
    # Keep the stored JSON text: replay sends it as it was, without a re-encode.
    return WireEvent(
        r["id"], r["type"], r["session_id"], orjson.loads(r["data"]), _json=r["data"].encode()
    )


_EVENT_COLUMNS = (
    "e.id, e.type, s.id AS session_id, e.seq, e.data, m.id AS m_id, m.role AS m_role, "
    "m.kind AS m_kind, m.content AS m_content, m.raw AS m_raw, m.author AS m_author, "
    "m.created_at AS m_created_at FROM events e "
    "LEFT JOIN sessions s ON s.num = e.session_num "
    "LEFT JOIN messages m ON e.seq IS NOT NULL AND m.session_num = e.session_num "
    "AND m.seq = e.seq"
)
# The messages of session $1, each row with the session's id (as `message_out` reads them).
_MESSAGE_ROWS = (
    "SELECT CAST($1 AS TEXT) AS session_id, m.seq, m.id, m.role, m.kind, m.content, m.raw, "
    "m.author, m.created_at FROM messages m "
    f"WHERE m.session_num = {_SESSION_NUM_OF.format('$1')}"
)


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


async def insert_token(conn: Any, token_id: str, name: str, scope: str, secret_hash: str) -> Row:
    """A token row, written in the caller's transaction (pairing writes it with the
    device it belongs to, so neither exists without the other)."""
    now = time.time()
    await conn.execute(
        "INSERT INTO tokens (id, name, scope, secret_hash, created_at) VALUES ($1, $2, $3, $4, $5)",
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


@dataclass(slots=True)
class Post:
    """One request's messages for one session, as the writer stores them."""

    session_id: str
    items: list[dict[str, Any]]
    author: str | None
    # Each item's id: its own, or a new one.
    ids: list[str] = field(init=False)

    def __post_init__(self) -> None:
        self.ids = [item.get("id") or new_id("msg") for item in self.items]


def _message_rows(post: Post, now: float) -> dict[str, Row]:
    """The row each of the post's ids is stored as (an id given twice, once), its seq to
    be drawn."""
    rows: dict[str, Row] = {}
    for item, message_id in zip(post.items, post.ids, strict=True):
        rows.setdefault(
            message_id,
            {
                "session_id": post.session_id,
                "seq": 0,
                "id": message_id,
                "role": item["role"],
                "kind": item["kind"],
                "content": _dumps(item.get("content")),
                "raw": None if item.get("raw") is None else _dumps(item["raw"]),
                "author": post.author,
                "created_at": now,
            },
        )
    return rows


class Store:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.flows = FlowStore(db)
        self.writer = Writer(db, self._append_events)
        # Who owns a session never changes: looked up once per session, not per request.
        self._owners: dict[str, str | None] = {}

    async def open(self) -> None:
        await self.db.connect()
        await migrate(self.db)

    async def close(self) -> None:
        await self.writer.close()
        await self.db.close()

    async def write(self, op: Operation[R]) -> R:
        """Run a change (an operation on a `Tx`) in the writer's next transaction."""
        return await self.writer.run(op)

    def _lock_row(self, tx: Tx) -> str:
        """Row locking for a read-then-write: PostgreSQL needs it, since other processes
        write too; SQLite's one writer holds the whole database already."""
        return " FOR UPDATE" if tx.dialect == "postgres" else ""

    # ── events ────────────────────────────────────────────────────────────────────

    async def _append_events(self, tx: Tx) -> None:
        """Append the batch's events to the log, the last thing before COMMIT: give each
        its id, and on PostgreSQL announce them to every relay process."""
        now = time.time()
        rows = [
            (
                e.type,
                e.session_id,
                e.data["seq"] if e.type == "message" else None,
                None if e.type == "message" else e.data_json.decode(),
                now,
            )
            for e in tx.events
        ]
        if tx.dialect == "postgres":
            columns = list(zip(*rows, strict=True))
            place = {id(event): k for k, event in enumerate(tx.events, 1)} if tx.opened else {}
            row = await tx.fetchrow(
                _APPEND_EVENTS_PG,
                EVENT_ORDER_LOCK,
                *(list(c) for c in columns),
                CHANNEL,
                notify_payload(tx.events).decode(),
                # Each request opened learns its event's id (by the event's place in the
                # batch: ids are drawn in that order).
                [permission_id for permission_id, _ in tx.opened],
                [place[id(event)] for _, event in tx.opened],
            )
            assert row is not None and row["n"] == len(rows)
            first, last = int(row["first"]), int(row["last"])
            if last - first + 1 == len(rows):
                ids = list(range(first, last + 1))
            else:  # the sequence skipped; nobody else can draw ids while we hold the lock
                found = await tx.fetch(
                    "SELECT id FROM events WHERE id BETWEEN $1 AND $2 ORDER BY id", first, last
                )
                ids = [int(r["id"]) for r in found]
            for event, event_id in zip(tx.events, ids, strict=True):
                event.id = event_id
        else:
            for event, values in zip(tx.events, rows, strict=True):
                inserted = await tx.fetchrow(
                    "INSERT INTO events (type, session_num, seq, data, created_at) "
                    f"VALUES ($1, {_SESSION_NUM_OF.format('$2')}, $3, $4, $5) RETURNING id",
                    *values,
                )
                assert inserted is not None
                event.id = int(inserted["id"])
            if tx.opened:
                await tx.executemany(
                    "UPDATE permissions SET event_id = $2 WHERE id = $1",
                    [(permission_id, event.id) for permission_id, event in tx.opened],
                )

    async def events_after(
        self, cursor: int, session_id: str | None = None, limit: int = 1000
    ) -> list[WireEvent]:
        if session_id is None:
            rows = await self.db.fetch(
                f"SELECT {_EVENT_COLUMNS} WHERE e.id > $1 ORDER BY e.id LIMIT $2", cursor, limit
            )
        else:
            rows = await self.db.fetch(
                f"SELECT {_EVENT_COLUMNS} WHERE e.session_num = {_SESSION_NUM_OF.format('$1')} "
                "AND e.id > $2 ORDER BY e.id LIMIT $3",
                session_id,
                cursor,
                limit,
            )
        return [_event_from_row(r) for r in rows]

    async def events_between(self, after: int, through: int) -> list[WireEvent]:
        """The logged events with ids in (after, through], in order."""
        rows = await self.db.fetch(
            f"SELECT {_EVENT_COLUMNS} WHERE e.id > $1 AND e.id <= $2 ORDER BY e.id",
            after,
            through,
        )
        return [_event_from_row(r) for r in rows]

    async def last_event_id(self) -> int:
        """The cursor of the newest event (or of the newest one retention deleted)."""
        return (await self.log_bounds())[1]

    async def log_bounds(self) -> tuple[int, int]:
        """(pruned_through, end): a cursor below the first may have missed events that
        retention deleted; the second is the cursor of the newest event."""
        row = await self.db.fetchrow(
            "SELECT (SELECT pruned_through FROM event_horizon) AS horizon, "
            "(SELECT COALESCE(MAX(id), 0) FROM events) AS end_id"
        )
        assert row is not None
        horizon = int(row["horizon"] or 0)
        return horizon, max(horizon, int(row["end_id"]))

    # ── retention ─────────────────────────────────────────────────────────────────

    async def prune(self, cutoff: float, batch: int = 100) -> int:
        """Delete the sessions that ended and were last active before `cutoff`, with their
        messages, permission requests, flows and events, `batch` sessions per transaction.
        Moves the log's horizon up to the newest event deleted. Returns how many sessions
        went. Safe to run in several processes at once."""
        flows = await self._has_table("flows")
        deleted = 0
        while True:
            for attempt in range(1, RETRIES + 1):
                try:
                    ids = await self._prune_batch(cutoff, batch, flows)
                    break
                except Exception as exc:
                    # A writer's batch can hold a request these sessions' deletion waits
                    # for while it waits for one of these sessions: PostgreSQL cancels one
                    # side of the deadlock, and either side simply runs again.
                    if attempt == RETRIES or not self.db.retryable(exc):
                        raise
            if not ids:
                return deleted
            self.forget_sessions(ids)
            deleted += len(ids)

    async def _prune_batch(self, cutoff: float, batch: int, flows: bool) -> list[str]:
        """One transaction of `prune`; the ids of the sessions it deleted."""
        async with self.db.transaction(maintenance=True) as conn:
            # Locked in id order, as appends lock them, so the two do not deadlock over
            # sessions; the conditions are checked again on the locked rows.
            lock = " FOR UPDATE" if self.db.dialect == "postgres" else ""
            rows = await conn.fetch(
                "SELECT id, num FROM sessions WHERE status = 'ended' AND last_activity_at < $1 "
                "AND id IN (SELECT id FROM sessions WHERE status = 'ended' "
                "AND last_activity_at < $1 ORDER BY last_activity_at LIMIT $2) "
                f"ORDER BY id{lock}",
                cutoff,
                batch,
            )
            ids = [r["id"] for r in rows]
            if not ids:
                return []
            # The numbers listed, not a subquery: PostgreSQL plans `IN (SELECT …)` of a
            # hundred sessions as a hash join over the whole event log.
            nums = [r["num"] for r in rows]
            listed = "(" + ", ".join(f"${i + 1}" for i in range(len(ids))) + ")"
            by_num = f"session_num IN {listed}"
            # Permission requests first: an answer being written holds its request's row,
            # so this waits for it to commit, and its event is gone with the rest instead
            # of outliving its session. (Nothing else logs for an ended session without
            # the session's row, which is locked above.)
            for table in ["permissions"] + (["flows"] if flows else []):
                await conn.execute(f"DELETE FROM {table} WHERE session_id IN {listed}", *ids)
            await conn.execute(f"DELETE FROM messages WHERE {by_num}", *nums)
            newest = await self._delete_events(conn, by_num, nums)
            await conn.execute(f"DELETE FROM sessions WHERE id IN {listed}", *ids)
            await conn.execute(
                "UPDATE event_horizon SET pruned_through = $1 WHERE pruned_through < $1",
                newest,
            )
        return ids

    async def _delete_events(self, conn: Connection, among: str, ids: list[int]) -> int:
        """Delete the events of sessions `ids` (`among` is their condition); the newest id
        deleted, or 0. PostgreSQL would find that id by walking the whole log's primary
        key backwards (these sessions' events lie far back in it), so it takes it from the
        rows it deletes; SQLite reads it off the session index first."""
        if self.db.dialect == "postgres":
            row = await conn.fetchrow(
                f"WITH gone AS (DELETE FROM events WHERE {among} RETURNING id) "
                "SELECT COALESCE(MAX(id), 0) AS id FROM gone",
                *ids,
            )
        else:
            row = await conn.fetchrow(
                f"SELECT COALESCE(MAX(id), 0) AS id FROM events WHERE {among}", *ids
            )
            await conn.execute(f"DELETE FROM events WHERE {among}", *ids)
        return int(row["id"]) if row else 0

    async def _has_table(self, name: str) -> bool:
        if self.db.dialect == "postgres":
            row = await self.db.fetchrow("SELECT to_regclass($1) IS NOT NULL AS found", name)
            return bool(row and row["found"])
        row = await self.db.fetchrow(
            "SELECT 1 AS found FROM sqlite_master WHERE type = 'table' AND name = $1", name
        )
        return row is not None

    async def compact(self, full: bool = False) -> None:
        """Give freed space back: SQLite returns free pages to the file system (all of
        them with `full`, by VACUUM, which also turns on incremental vacuum for the next
        time); PostgreSQL VACUUMs the relay's tables, so their free space is reused."""
        await self.db.vacuum(full)

    # ── tokens ────────────────────────────────────────────────────────────────────

    async def create_token(self, token_id: str, name: str, scope: str, secret_hash: str) -> Row:
        async with self.db.transaction() as conn:
            return await insert_token(conn, token_id, name, scope, secret_hash)

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
        self,
        tx: Tx,
        fields: dict[str, Any],
        created_by: str | None,
        owner_token: str | None = None,
    ) -> dict[str, Any]:
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
        if tx.dialect == "sqlite":  # PostgreSQL draws the number from a sequence
            columns += ", num"
            params += f", {_NEXT_SESSION_NUM}"
        inserted = await tx.execute(
            f"INSERT INTO sessions ({columns}) VALUES ({params}) ON CONFLICT (id) DO NOTHING",
            *row.values(),
        )
        if not inserted:
            raise Conflict(f"session {row['id']} already exists")
        session = session_out(row)
        session["pending_permissions"] = 0
        tx.log("session", row["id"], session)
        return session

    async def _session_row(
        self, conn: Connection | Database | Tx, session_id: str, lock: str = ""
    ) -> Row:
        row = await conn.fetchrow(f"SELECT * FROM sessions WHERE id = $1{lock}", session_id)
        if row is None:
            raise NotFound(f"no session with id {session_id!r}")
        return row

    async def session_owner(self, session_id: str) -> str | None:
        """The id of the token that created the session (404 for an unknown session)."""
        if session_id in self._owners:
            return self._owners[session_id]
        row = await self.db.fetchrow("SELECT owner_token FROM sessions WHERE id = $1", session_id)
        if row is None:
            raise NotFound(f"no session with id {session_id!r}")
        if len(self._owners) >= 10_000:
            self._owners.clear()
        self._owners[session_id] = row["owner_token"]
        return row["owner_token"]

    def forget_sessions(self, session_ids: list[str]) -> None:
        """Sessions deleted (retention): drop what is remembered of them."""
        for session_id in session_ids:
            self._owners.pop(session_id, None)

    async def _pending_counts(self) -> dict[str, int]:
        rows = await self.db.fetch(
            "SELECT session_id, COUNT(*) AS n FROM permissions WHERE status = 'pending' "
            "GROUP BY session_id"
        )
        return {r["session_id"]: int(r["n"]) for r in rows}

    async def get_session(self, session_id: str, tx: Tx | None = None) -> dict[str, Any]:
        conn = self.db if tx is None else tx
        return await self._session_with_pending(conn, await self._session_row(conn, session_id))

    async def _session_with_pending(
        self, conn: Connection | Database | Tx, row: Row
    ) -> dict[str, Any]:
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
        self, tx: Tx, session_id: str, changes: dict[str, Any], expected_version: int | None
    ) -> dict[str, Any]:
        """Apply a patch. `metadata`/`agent_state` replace the stored value and bump its
        version; with `expected_version` a stale writer gets a 409 carrying the current value."""
        row = await self._session_row(tx, session_id, self._lock_row(tx))
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
        await tx.execute(
            f"UPDATE sessions SET {assignments} WHERE id = $1", session_id, *sets.values()
        )
        row.update(sets)
        session = await self._session_with_pending(tx, row)
        tx.log("session", session_id, session)
        return session

    async def add_session_key(
        self,
        tx: Tx,
        session_id: str,
        recipient: str,
        wrapped: dict[str, Any],
        expected_version: int,
    ) -> dict[str, Any]:
        """One more recipient in an encrypted session's key set (`metadata.e2e.keys`),
        guarded by the metadata version. Only ever adds: a recipient already there keeps
        its entry (409), so a client token can share a key but never take one away or
        swap it for its own."""
        row = await self._session_row(tx, session_id, self._lock_row(tx))
        metadata = _loads(row["metadata"]) or {}
        e2e = metadata.get("e2e")
        if not (isinstance(e2e, dict) and isinstance(e2e.get("keys"), dict)):
            raise Conflict(f"session {session_id} is not end-to-end encrypted: no key to share")
        if recipient in e2e["keys"]:
            raise Conflict(
                f"session {session_id} already has a key for {recipient}; "
                "an existing entry is never replaced"
            )
        keys = {**e2e["keys"], recipient: wrapped}
        changes = {"metadata": {**metadata, "e2e": {**e2e, "keys": keys}}}
        return await self.update_session(tx, session_id, changes, expected_version)

    # ── messages ──────────────────────────────────────────────────────────────────

    def append(
        self, session_id: str, items: list[dict[str, Any]], author: str | None
    ) -> Together[Post, list[dict[str, Any]]]:
        """The write that stores one post's messages (see `append_posts`); posts queued
        next to each other share one statement."""
        return Together(self.append_posts, Post(session_id, items, author))

    async def append_posts(self, tx: Tx, posts: list[Post]) -> list[list[dict[str, Any]]]:
        """Store each post's messages in order with gap-free seqs per session, and log
        them. An id already stored is answered with the stored message and logs nothing
        (the idempotent retry). Returns each post's messages."""
        now = time.time()
        # What each id is answered with, stored or new, per post.
        rows = [_message_rows(post, now) for post in posts]
        if tx.dialect == "postgres":
            fresh = await self._append_pg(tx, posts, rows, now)
        else:
            fresh = [
                await self._append_sqlite(tx, p.session_id, list(r.values()), now)
                for p, r in zip(posts, rows, strict=True)
            ]
        answers: list[list[dict[str, Any]]] = []
        for post, by_id, stored in zip(posts, rows, fresh, strict=True):
            stored_any = bool(stored)
            out: list[dict[str, Any]] = []
            for message_id in post.ids:
                message = message_out(by_id[message_id])
                if message_id in stored:
                    stored.discard(message_id)  # the same id twice in one post is stored once
                    tx.log("message", post.session_id, message)
                out.append(message)
            if stored_any and (title := next(filter(None, map(title_from, post.items)), None)):
                await self._name_untitled(tx, post.session_id, title)
            answers.append(out)
        return answers

    async def _name_untitled(self, tx: Tx, session_id: str, title: str) -> None:
        """A session made without a title is named by its first prompt."""
        row = await self._session_row(tx, session_id, self._lock_row(tx))
        if row["title"] not in UNTITLED:
            return
        now = time.time()
        await tx.execute(
            "UPDATE sessions SET title = $2, updated_at = $3 WHERE id = $1", session_id, title, now
        )
        row.update(title=title, updated_at=now)
        tx.log("session", session_id, await self._session_with_pending(tx, row))

    async def _append_pg(
        self, tx: Tx, posts: list[Post], rows: list[dict[str, Row]], now: float
    ) -> list[set[str]]:
        """One statement for all the posts: find the ids not stored yet, reserve their
        seqs (which locks each session's row, so another process appending to it waits
        and counts on from here), insert them. Fills in each new row's seq; the ids
        stored before are read back. Returns the ids stored, per post."""
        given = [
            (p.session_id, p.author, r)
            for p, by_id in zip(posts, rows, strict=True)
            for r in by_id.values()
        ]
        result = await tx.fetchrow(
            _APPEND_MESSAGES_PG,
            [session_id for session_id, _, _ in given],
            [r["id"] for _, _, r in given],
            [r["role"] for _, _, r in given],
            [r["kind"] for _, _, r in given],
            [r["content"] for _, _, r in given],
            [r["raw"] for _, _, r in given],
            [author for _, author, _ in given],
            now,
        )
        assert result is not None
        if result["bumped"] < result["sessions"]:
            known = {
                r["id"]
                for r in await tx.fetch(
                    "SELECT id FROM sessions WHERE id = ANY($1::text[])",
                    list({p.session_id for p in posts}),
                )
            }
            missing = next(p.session_id for p in posts if p.session_id not in known)
            raise NotFound(f"no session with id {missing!r}")
        session_of = dict(zip(result["bumped_nums"] or [], result["bumped_ids"] or [], strict=True))
        stored = {
            (session_of[num], message_id): seq
            for num, message_id, seq in zip(
                result["session_nums"] or [],
                result["ids"] or [],
                result["seqs"] or [],
                strict=True,
            )
        }
        fresh: list[set[str]] = []
        for post, by_id in zip(posts, rows, strict=True):
            mine = set()
            for row in by_id.values():
                seq = stored.get((post.session_id, row["id"]))
                if seq is not None:
                    row["seq"] = seq
                    mine.add(row["id"])
            if len(mine) < len(by_id):  # a retry: answer with what was stored before
                before = await tx.fetch(
                    f"{_MESSAGE_ROWS} AND m.id = ANY($2::text[])",
                    post.session_id,
                    [i for i in by_id if i not in mine],
                )
                for r in before:
                    by_id[r["id"]].update(r)
            if not by_id:
                await self._session_row(tx, post.session_id)  # 404 for an unknown session
            fresh.append(mine)
        return fresh

    async def _append_sqlite(
        self, tx: Tx, session_id: str, rows: list[Row], now: float
    ) -> set[str]:
        """The same on SQLite, a statement at a time (each takes microseconds, on the loop)."""
        fresh: list[Row] = []
        for row in rows:
            stored = await tx.fetchrow(f"{_MESSAGE_ROWS} AND m.id = $2", session_id, row["id"])
            if stored is None:
                fresh.append(row)
            else:
                row.update(stored)
        if not fresh:
            if not rows:
                await self._session_row(tx, session_id)  # 404 for an unknown session
            return set()
        bumped = await tx.fetchrow(
            "UPDATE sessions SET last_seq = last_seq + $2, last_activity_at = $3 "
            "WHERE id = $1 RETURNING last_seq, num",
            session_id,
            len(fresh),
            now,
        )
        if bumped is None:
            raise NotFound(f"no session with id {session_id!r}")
        seq = int(bumped["last_seq"]) - len(fresh)
        for row in fresh:
            seq += 1
            row["seq"] = seq
        num = int(bumped["num"])
        await tx.executemany(
            "INSERT INTO messages (session_num, seq, id, role, kind, content, raw, author, "
            "created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            [
                (
                    num,
                    r["seq"],
                    r["id"],
                    r["role"],
                    r["kind"],
                    r["content"],
                    r["raw"],
                    r["author"],
                    r["created_at"],
                )
                for r in fresh
            ],
        )
        return {row["id"] for row in fresh}

    async def list_messages(
        self, session_id: str, *, after: int = 0, before: int | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        await self._session_row(self.db, session_id)
        if before is not None:
            # The newest `limit` messages before `before`, returned oldest first.
            rows = await self.db.fetch(
                f"{_MESSAGE_ROWS} AND m.seq > $2 AND m.seq < $3 ORDER BY m.seq DESC LIMIT $4",
                session_id,
                after,
                before,
                limit,
            )
            rows.reverse()
        else:
            rows = await self.db.fetch(
                f"{_MESSAGE_ROWS} AND m.seq > $2 ORDER BY m.seq LIMIT $3",
                session_id,
                after,
                limit,
            )
        return [message_out(r) for r in rows]

    # ── control ───────────────────────────────────────────────────────────────────

    async def log_control(
        self,
        tx: Tx,
        session_id: str,
        data: dict[str, Any],
        session_changes: dict[str, Any] | None = None,
    ) -> None:
        """Log a control event (interrupt, permission-mode change, end) for the session's
        agent; with `session_changes` the session row is updated in the same transaction."""
        row = await self._session_row(tx, session_id, self._lock_row(tx))
        if session_changes:
            now = time.time()
            sets = {**session_changes, "updated_at": now, "last_activity_at": now}
            assignments = ", ".join(f"{k} = ${i}" for i, k in enumerate(sets, start=2))
            await tx.execute(
                f"UPDATE sessions SET {assignments} WHERE id = $1", session_id, *sets.values()
            )
            row.update(sets)
            tx.log("session", session_id, await self._session_with_pending(tx, row))
        tx.log(
            "control",
            session_id,
            {"session_id": session_id, **data, "created_at": iso(time.time())},
        )

    # ── permission requests ───────────────────────────────────────────────────────

    async def open_permission(
        self, tx: Tx, session_id: str, fields: dict[str, Any], timeout: float
    ) -> dict[str, Any]:
        now = time.time()
        permission_id = new_id("perm")
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
        # One statement stores the request only if its session is there and not ended;
        # when nothing was stored, a second look says which.
        stored = await tx.fetchrow(
            "INSERT INTO permissions (id, session_id, tool_name, tool_use_id, input, title, "
            "description, suggestions, status, decision, created_at, expires_at, resolved_at, "
            "event_id) SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 0 "
            "FROM sessions WHERE id = $2 AND status <> 'ended' RETURNING id",
            *row.values(),
        )
        if stored is None:
            await self._session_row(tx, session_id)  # 404 for an unknown session
            raise Conflict(f"session {session_id} has ended", type="session_ended")
        permission = permission_out(row)
        # The row learns its event's id when the batch's events are appended.
        tx.opened.append((permission_id, tx.log("permission_request", session_id, permission)))
        return permission

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

    async def pending_ids(self, tx: Tx, session_id: str) -> list[str]:
        rows = await tx.fetch(
            "SELECT id FROM permissions WHERE session_id = $1 AND status = 'pending' "
            "ORDER BY created_at, id",
            session_id,
        )
        return [r["id"] for r in rows]

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
        self, tx: Tx, permission_id: str, status: str, decision: dict[str, Any] | None
    ) -> dict[str, Any]:
        """Move a pending request to its final status. Only the first resolution wins: a
        request that is no longer pending is a 409 that carries how it was resolved."""
        now = time.time()
        if decision is not None:
            decision = {**decision, "decided_at": iso(now)}
        # One statement when the request is pending (the row lock it takes makes a second
        # answer wait, then find it no longer pending); a second look when it is not.
        row = await tx.fetchrow(
            "UPDATE permissions SET status = $2, decision = $3, resolved_at = $4 "
            "WHERE id = $1 AND status = 'pending' RETURNING *",
            permission_id,
            status,
            None if decision is None else _dumps(decision),
            now,
        )
        if row is None:
            found = await tx.fetchrow("SELECT * FROM permissions WHERE id = $1", permission_id)
            if found is None:
                raise NotFound(f"no permission request with id {permission_id!r}")
            raise Conflict(
                f"permission request {permission_id} is already {found['status']}",
                type="already_resolved",
                extra={"permission": permission_out(found)},
            )
        permission = permission_out(row)
        tx.log("permission_resolved", row["session_id"], permission)
        return permission

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
        self, tx: Tx, session_id: str, holder: str, until: float, only_if_free: bool = False
    ) -> None:
        """`holder` takes the lease (a runner's newer stream replaces an older one, unless
        `only_if_free`); the session is announced when this brings its agent back online."""
        row = await self._session_row(tx, session_id, self._lock_row(tx))
        if only_if_free and row.get("runner_lease") not in (None, holder):
            return
        was = agent_online(row.get("runner_lease"), row.get("runner_lease_until"))
        await tx.execute(
            "UPDATE sessions SET runner_lease = $2, runner_lease_until = $3 WHERE id = $1",
            session_id,
            holder,
            until,
        )
        if not was:
            row.update(runner_lease=holder, runner_lease_until=until)
            tx.log("session", session_id, await self._session_with_pending(tx, row))

    async def renew_lease(self, session_id: str, holder: str, until: float) -> bool:
        changed = await self.db.execute(
            "UPDATE sessions SET runner_lease_until = $3 WHERE id = $1 AND runner_lease = $2",
            session_id,
            holder,
            until,
        )
        return changed > 0

    async def drop_lease(self, tx: Tx, session_id: str, holder: str | None, now: float) -> None:
        """End a lease: `holder`'s own (its stream closed), or with None one that lapsed
        (no renewal in time). Guarded, so of several relays only one announces it."""
        if holder is None:
            changed = await tx.execute(
                "UPDATE sessions SET runner_lease = NULL "
                "WHERE id = $1 AND runner_lease IS NOT NULL AND runner_lease_until <= $2",
                session_id,
                now,
            )
        else:
            changed = await tx.execute(
                "UPDATE sessions SET runner_lease = NULL, runner_lease_until = $3 "
                "WHERE id = $1 AND runner_lease = $2",
                session_id,
                holder,
                now,
            )
        if changed:
            row = await self._session_row(tx, session_id)
            tx.log("session", session_id, await self._session_with_pending(tx, row))

    async def lapsed_leases(self, now: float) -> list[str]:
        rows = await self.db.fetch(
            "SELECT id FROM sessions WHERE runner_lease IS NOT NULL AND runner_lease_until <= $1",
            now,
        )
        return [r["id"] for r in rows]
