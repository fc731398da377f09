"""What an attacker with the relay's database sees and can do: read every table (SQLite
file and WAL bytes, or PostgreSQL rows as text) and move a message between sessions."""

from __future__ import annotations

import sqlite3

import asyncpg

from tests.support.server import TetherServer

TABLES = ("sessions", "messages", "permissions", "events", "tokens", "devices", "pairings")


async def everything(server: TetherServer) -> str:
    """All the relay has stored, as text."""
    if server.database_url:
        conn = await asyncpg.connect(server.database_url)
        try:
            rows = [
                str(r[0])
                for table in TABLES
                for r in await conn.fetch(f"SELECT t::text FROM {table} t")
            ]
        finally:
            await conn.close()
        return "\n".join(rows)
    files = sorted(server.data_dir.glob("tether.db*"))
    assert files, "no SQLite database found"
    return "\n".join(f.read_bytes().decode("latin-1") for f in files)


async def move_message(server: TetherServer, message_id: str, to_session: str, seq: int) -> None:
    """Edit the database: the message now belongs to another session."""
    sql = (
        "UPDATE messages SET session_num = (SELECT num FROM sessions WHERE id = {0}), "
        "seq = {1} WHERE id = {2}"
    )
    if server.database_url:
        conn = await asyncpg.connect(server.database_url)
        try:
            await conn.execute(sql.format("$1", "$2", "$3"), to_session, seq, message_id)
        finally:
            await conn.close()
        return
    with sqlite3.connect(server.data_dir / "tether.db", timeout=10) as db:
        db.execute(sql.format("?", "?", "?"), (to_session, seq, message_id))
