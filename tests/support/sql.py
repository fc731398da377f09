"""Statements on a test server's own database, for states the API no longer makes (rows
an older release left, a row in the way of a write)."""

from __future__ import annotations

from typing import Any

from tests.support.server import TetherServer
from tether.relay.store import open_database


async def run_sql(server: TetherServer, query: str, *args: Any) -> list[dict[str, Any]]:
    """One statement (`$1` placeholders, either database); the rows it returns."""
    db = open_database(server.database_url, server.data_dir)
    await db.connect()
    try:
        return await db.fetch(query, *args)
    finally:
        await db.close()


async def old_device(server: TetherServer, device_id: str, name: str, token_id: str) -> None:
    """A device row as a release before unique names could leave it."""
    await run_sql(
        server,
        "INSERT INTO devices (id, name, scope, token_id, public_key, host_proof, created_at, "
        "last_seen_at, revoked_at) VALUES ($1, $2, 'client', $3, NULL, NULL, $4, NULL, NULL)",
        device_id,
        name,
        token_id,
        1_700_000_000.0,
    )
