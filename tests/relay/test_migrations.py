"""Schema migrations: versioned steps applied in place, and safe when several relay
processes start together on one empty database."""

from __future__ import annotations

import asyncio
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.relay.support import aclient, make_token, new_session
from tests.support.server import TetherServer, fresh_postgres_database
from tether.relay.store import open_database
from tether.relay.store.migrations import SCHEMA_VERSION, migrate


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_relays_started_together_on_an_empty_database_all_come_up(
    backend: str, tmp_path: Path
) -> None:
    with fresh_postgres_database() as url:
        # Separate processes, as relays started together by a service manager would be.
        servers = [
            TetherServer(data_dir=tmp_path / f"s{i}", database_url=url, process=True)
            for i in range(4)
        ]
        try:
            with ThreadPoolExecutor(len(servers)) as pool:
                list(pool.map(TetherServer.start, servers))  # raises if one died starting
            for server in servers:
                with server.client() as http:
                    assert http.get("/api/v1/sessions").status_code == 200
        finally:
            for server in servers:
                server.stop()

        async def version() -> int:
            db = open_database(url, tmp_path)
            await db.connect()
            try:
                row = await db.fetchrow("SELECT version FROM tether_schema")
                count = await db.fetchrow("SELECT COUNT(*) AS n FROM tether_schema")
            finally:
                await db.close()
            assert row is not None and count is not None and count["n"] == 1
            return row["version"]

        assert asyncio.run(version()) == SCHEMA_VERSION


def _baseline_database(url: str | None, data_dir: Path) -> None:
    """A database as the last release left it: schema version 1, a session made by an
    agent token (known then only by the token's name)."""

    async def make() -> None:
        db = open_database(url, data_dir)
        await db.connect()
        try:
            assert await migrate(db, target=1) == 0
            await db.execute(
                "INSERT INTO tokens (id, name, scope, secret_hash, created_at) "
                "VALUES ('0ldagent', 'old-runner', 'agent', 'x', 0)"
            )
            await db.execute(
                "INSERT INTO sessions (id, title, agent, cwd, host, status, permission_mode, "
                "created_at, updated_at, last_activity_at, metadata, metadata_version, "
                "agent_state, agent_state_version, last_seq, created_by) VALUES ('ses_old', "
                "'old', 'claude-code', '', '', 'idle', 'default', 0, 0, 0, '{}', 0, '{}', 0, 0, "
                "'old-runner')"
            )
        finally:
            await db.close()

    asyncio.run(make())


def test_an_existing_database_is_migrated_in_place(backend: str, tmp_path: Path) -> None:
    data_dir = tmp_path / "server0"
    url = None
    if backend == "postgres":
        ctx = fresh_postgres_database()
        url = ctx.__enter__()
    try:
        _baseline_database(url, data_dir)
        server = TetherServer(data_dir=data_dir, database_url=url).start()
        try:
            other = make_token(server, "agent", "someone-else")

            async def check() -> None:
                async with aclient(server) as admin, aclient(server, other) as stranger:
                    old = (await admin.get("/api/v1/sessions/ses_old")).json()
                    assert old["title"] == "old"
                    # The session was claimed for the token that made it, so another agent
                    # token may not touch it, while new sessions work as before.
                    forbidden = await stranger.patch("/api/v1/sessions/ses_old", json={})
                    assert forbidden.status_code == 403
                    assert (await new_session(stranger))["id"]

            asyncio.run(check())
        finally:
            server.stop()
        if url is None:
            with sqlite3.connect(data_dir / "tether.db") as conn:
                owner = conn.execute("SELECT owner_token FROM sessions WHERE id = 'ses_old'")
                assert owner.fetchone() == ("0ldagent",)
                version = conn.execute("SELECT version FROM tether_schema").fetchall()
                assert version == [(SCHEMA_VERSION,)]
    finally:
        if url is not None:
            ctx.__exit__(None, None, None)
