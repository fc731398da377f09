"""A durable outbox: what the runner must tell the relay, on disk before it is sent.

One SQLite file per relay session, under `<data_dir>/runner/outbox/<session_id>.sqlite`.
Entries are kept in the order they were added and deleted only once the relay has
stored them, so a relay outage, a relay restart or a runner crash loses nothing; sending
again is harmless because every message carries an idempotent id, and a session patch
carries the whole state.

Two kinds of entry: `messages` (a relay message each) and `session` (a patch of the
session: status, agent_state, …). The runner holds an exclusive lock on its file for as
long as it lives; a file whose lock can be taken belongs to a runner that died, and the
next runner on the machine delivers what it left (see `orphans`).
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq   INTEGER PRIMARY KEY AUTOINCREMENT,
    op    TEXT NOT NULL,
    body  BLOB NOT NULL
)
"""


@dataclass(frozen=True)
class Entry:
    seq: int
    op: str  # "messages" | "session"
    body: dict[str, Any]


class OutboxLocked(Exception):
    """Another live runner owns this outbox."""


class Outbox:
    """The outbox of one session. Not thread-safe; one runner, one event loop."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock_fd = os.open(str(path) + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_fd)
            raise OutboxLocked(f"{path} is in use by another runner") from None
        self._db = sqlite3.connect(path, isolation_level=None)
        # WAL + NORMAL survives a crash of this process (what the runner must survive)
        # without paying an fsync per event.
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(SCHEMA)
        os.chmod(path, 0o600)  # prompts and tool output are private

    @classmethod
    def for_session(cls, data_dir: Path, session_id: str) -> Outbox:
        return cls(outbox_dir(data_dir) / f"{_safe(session_id)}.sqlite")

    def add_messages(self, messages: list[dict[str, Any]]) -> None:
        if messages:
            self._db.executemany(
                "INSERT INTO outbox (op, body) VALUES ('messages', ?)",
                [(orjson.dumps(m),) for m in messages],
            )

    def add_patch(self, patch: dict[str, Any]) -> None:
        self._db.execute(
            "INSERT INTO outbox (op, body) VALUES ('session', ?)", (orjson.dumps(patch),)
        )

    def peek(self, limit: int = 100) -> list[Entry]:
        rows = self._db.execute(
            "SELECT seq, op, body FROM outbox ORDER BY seq LIMIT ?", (limit,)
        ).fetchall()
        return [Entry(seq, op, orjson.loads(body)) for seq, op, body in rows]

    def remove(self, upto_seq: int) -> None:
        """Forget every entry up to and including `upto_seq` (the relay stored them)."""
        self._db.execute("DELETE FROM outbox WHERE seq <= ?", (upto_seq,))

    def __len__(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM outbox").fetchone()[0])

    def close(self, *, delete_if_empty: bool = True) -> None:
        empty = len(self) == 0
        self._db.close()
        if empty and delete_if_empty:
            for suffix in ("", "-wal", "-shm"):
                Path(str(self.path) + suffix).unlink(missing_ok=True)
        fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
        os.close(self._lock_fd)
        if empty and delete_if_empty:
            Path(str(self.path) + ".lock").unlink(missing_ok=True)


def outbox_dir(data_dir: Path) -> Path:
    return data_dir / "runner" / "outbox"


def orphans(data_dir: Path, *, skip: str | None = None) -> list[tuple[str, Outbox]]:
    """Outboxes left by runners that are gone, opened (and so locked) for delivery."""
    found: list[tuple[str, Outbox]] = []
    directory = outbox_dir(data_dir)
    if not directory.is_dir():
        return found
    for path in sorted(directory.glob("*.sqlite")):
        session_id = path.stem
        if session_id == skip:
            continue
        try:
            box = Outbox(path)
        except (OutboxLocked, sqlite3.Error):
            continue
        found.append((session_id, box))
    return found


def _safe(session_id: str) -> str:
    # Session ids are the relay's own (`ses_…`); refuse anything that could leave the dir.
    if not session_id or any(c in session_id for c in "/\\\0") or session_id.startswith("."):
        raise ValueError(f"unusable session id for a file name: {session_id!r}")
    return session_id
