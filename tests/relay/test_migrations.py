"""Schema migrations: versioned steps applied in place, and safe when several relay
processes start together on one empty database."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.relay.support import aclient, make_token, message, new_session, open_sse
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


def _database_before_session_numbers(url: str | None, data_dir: Path) -> None:
    """A database at schema 8, where messages and events named their session by its text
    id: two sessions, their messages and events, and one event deleted from the end of
    the log (its id was handed out once, so it must never be again)."""

    async def make() -> None:
        db = open_database(url, data_dir)
        await db.connect()
        try:
            await migrate(db, target=8)
            for sid, last_seq in (("ses_a", 2), ("ses_b", 1)):
                await db.execute(
                    "INSERT INTO sessions (id, title, agent, cwd, host, status, "
                    "permission_mode, created_at, updated_at, last_activity_at, metadata, "
                    "metadata_version, agent_state, agent_state_version, last_seq) VALUES "
                    "($1, $1, 'claude-code', '', '', 'idle', 'default', 0, 0, 0, '{}', 0, '{}', "
                    "0, $2)",
                    sid,
                    last_seq,
                )
            for sid, seq, text in (("ses_a", 1, "a1"), ("ses_a", 2, "a2"), ("ses_b", 1, "b1")):
                await db.execute(
                    "INSERT INTO messages (session_id, seq, id, role, kind, content, created_at) "
                    "VALUES ($1, $2, $3, 'agent', 'assistant_text', $4, 0)",
                    sid,
                    seq,
                    f"m_{text}",
                    json.dumps({"text": text}),
                )
            events = [
                ("session", "ses_a", None, json.dumps({"id": "ses_a"})),
                ("message", "ses_a", 1, None),
                ("message", "ses_b", 1, None),
                ("message", "ses_a", 2, None),
                ("session", "ses_b", None, json.dumps({"id": "ses_b"})),
                ("session", "ses_gone", None, json.dumps({"id": "ses_gone"})),
            ]
            for event in events:
                await db.execute(
                    "INSERT INTO events (type, session_id, seq, data, created_at) "
                    "VALUES ($1, $2, $3, $4, 0)",
                    *event,
                )
            await db.execute("DELETE FROM events WHERE id = 6")
        finally:
            await db.close()

    asyncio.run(make())


def test_messages_and_events_keep_everything_when_they_take_session_numbers(
    backend: str, tmp_path: Path
) -> None:
    data_dir = tmp_path / "server0"
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(fresh_postgres_database()) if backend == "postgres" else None
        _database_before_session_numbers(url, data_dir)
        server = TetherServer(data_dir=data_dir, database_url=url).start()
        stack.callback(server.stop)

        async def check() -> None:
            async with aclient(server) as http:
                listed = (await http.get("/api/v1/sessions/ses_a/messages")).json()["messages"]
                assert [(m["seq"], m["content"]["text"]) for m in listed] == [(1, "a1"), (2, "a2")]
                assert {m["session_id"] for m in listed} == {"ses_a"}
                assert "num" not in (await http.get("/api/v1/sessions/ses_a")).json()

                # The log replays as it was: same ids, each message joined back.
                async with open_sse(http, "/api/v1/events", headers={"Last-Event-ID": "0"}) as s:
                    replay = await s.take(5)
                assert [(e.id, e.event) for e in replay] == [
                    (1, "session"),
                    (2, "message"),
                    (3, "message"),
                    (4, "message"),
                    (5, "session"),
                ]
                assert [e.data["content"]["text"] for e in replay[1:4]] == ["a1", "b1", "a2"]
                assert [e.data["session_id"] for e in replay[1:4]] == ["ses_a", "ses_b", "ses_a"]
                params = {"session": "ses_b"}
                headers = {"Last-Event-ID": "0"}
                async with open_sse(http, "/api/v1/events", params=params, headers=headers) as s:
                    assert [e.id for e in await s.take(2)] == [3, 5]

                # New events count on past the deleted one.
                headers = {"Last-Event-ID": "5"}
                async with open_sse(http, "/api/v1/events", headers=headers) as s:
                    posted = await http.post("/api/v1/sessions/ses_b/messages", json=message("b2"))
                    assert posted.status_code == 201
                    [after] = await s.take(1)
                assert after.id == 7 and after.data["seq"] == 2

                # A session made now has a number of its own: its messages stay its own.
                fresh = (await new_session(http))["id"]
                await http.post(f"/api/v1/sessions/{fresh}/messages", json=message("n1"))
                mine = (await http.get(f"/api/v1/sessions/{fresh}/messages")).json()["messages"]
                assert [(m["seq"], m["content"]["text"]) for m in mine] == [(1, "n1")]
                theirs = (await http.get("/api/v1/sessions/ses_b/messages")).json()["messages"]
                assert [m["content"]["text"] for m in theirs] == ["b1", "b2"]

        asyncio.run(check())
