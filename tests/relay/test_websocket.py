"""The WebSocket: the same events and actions as HTTP on one connection."""

from __future__ import annotations

import asyncio
import itertools
import socket
from typing import Any

import orjson
import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from tests.relay.support import (
    aclient,
    make_token,
    message,
    new_session,
    permission,
    post_past_the_backlog_limit,
)

TIMEOUT = 20


def ws_url(server, query: str = "") -> str:
    return f"ws://127.0.0.1:{server.port}/api/v1/ws{query}"


class WS:
    """A WebSocket client that keeps events and replies apart."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.events: asyncio.Queue[dict] = asyncio.Queue()
        self.replies: dict[str, asyncio.Future] = {}
        self.other: asyncio.Queue[dict] = asyncio.Queue()
        self._reqs = itertools.count(1)
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for raw in self.conn:
            frame = orjson.loads(raw)
            if frame.get("type") == "reply" and frame.get("req") in self.replies:
                self.replies.pop(frame["req"]).set_result(frame)
            elif "event" in frame:
                self.events.put_nowait(frame)
            else:
                self.other.put_nowait(frame)

    async def act(self, action: str, **fields: Any) -> dict:
        req = f"r{next(self._reqs)}"
        future = asyncio.get_running_loop().create_future()
        self.replies[req] = future
        await self.conn.send(
            orjson.dumps({"type": "action", "req": req, "action": action, **fields}).decode()
        )
        return await asyncio.wait_for(future, TIMEOUT)

    async def event(self, skip_pings: bool = True) -> dict:
        while True:
            frame = await asyncio.wait_for(self.events.get(), TIMEOUT)
            if not (skip_pings and frame["event"] == "ping"):
                return frame

    async def close(self) -> None:
        await self.conn.close()
        self._reader.cancel()


async def connect(
    server, token: str | None = None, query: str = "", first_frame: bool = False
) -> tuple[WS, dict]:
    token = token or server.token
    if first_frame:
        conn = await websockets.connect(ws_url(server, query))
        await conn.send(orjson.dumps({"type": "auth", "token": token}).decode())
    else:
        conn = await websockets.connect(
            ws_url(server, query), additional_headers={"Authorization": f"Bearer {token}"}
        )
    ready = orjson.loads(await asyncio.wait_for(conn.recv(), TIMEOUT))
    return WS(conn), ready


@pytest.mark.parametrize("first_frame", [False, True], ids=["header", "first-frame"])
async def test_auth_ready_and_live_events(server, first_frame: bool) -> None:
    ws, ready = await connect(server, first_frame=first_frame)
    try:
        assert ready == {"type": "ready", "scope": "admin", "name": "TETHER_TOKEN"}
        async with aclient(server) as http:
            session = await new_session(http)
            await http.post(f"/api/v1/sessions/{session['id']}/messages", json=message("hi"))
        created, posted = await ws.event(), await ws.event()
        assert (created["event"], created["data"]["id"]) == ("session", session["id"])
        assert (posted["event"], posted["data"]["content"]) == ("message", {"text": "hi"})
        assert isinstance(created["id"], int) and posted["id"] > created["id"]
        await ws.conn.send('{"type": "ping"}')
        assert await asyncio.wait_for(ws.other.get(), TIMEOUT) == {"type": "pong"}
    finally:
        await ws.close()


async def test_actions_with_replies_cover_a_whole_turn(server) -> None:
    client_token = make_token(server, "client", "phone")
    agent, _ = await connect(server)
    phone, ready = await connect(server, client_token, first_frame=True)
    assert ready["scope"] == "client"
    try:
        created = await agent.act("create_session", body={"title": "over ws", "cwd": "/w"})
        assert created["ok"] is True and created["data"]["title"] == "over ws"
        sid = created["data"]["id"]
        updated = await agent.act(
            "update_session", session_id=sid, body={"metadata": {"k": 1}, "expected_version": 0}
        )
        assert updated["data"]["metadata_version"] == 1
        stale = await agent.act(
            "update_session", session_id=sid, body={"metadata": {"k": 2}, "expected_version": 0}
        )
        assert (stale["ok"], stale["status"], stale["error"]["type"]) == (
            False,
            409,
            "version_conflict",
        )
        assert stale["error"]["current"]["value"] == {"k": 1}

        one = await agent.act("post_messages", session_id=sid, body=message("a", id="a"))
        many = await agent.act(
            "post_messages", session_id=sid, body=[message("b", id="b"), message("a", id="a")]
        )
        assert one["data"]["seq"] == 1
        assert [m["seq"] for m in many["data"]["messages"]] == [2, 1]
        said = await phone.act(
            "post_messages",
            session_id=sid,
            body={"role": "agent", "kind": "user_text", "content": {"text": "go on"}},
        )
        assert said["data"]["role"] == "user"

        opened = await agent.act("open_permission", session_id=sid, body=permission())
        pid = opened["data"]["id"]
        got = await phone.act("get_permission", permission_id=pid)
        assert got["data"]["status"] == "pending"
        answered = await phone.act("respond", permission_id=pid, body={"behavior": "allow"})
        assert answered["data"]["decision"]["decided_by"] == "phone"
        again = await agent.act("respond", permission_id=pid, body={"behavior": "deny"})
        assert (again["status"], again["error"]["type"]) == (409, "already_resolved")

        second = await agent.act("open_permission", session_id=sid, body=permission())
        withdrawn = await agent.act(
            "cancel_permission", permission_id=second["data"]["id"], body={"reason": "interrupted"}
        )
        assert withdrawn["data"]["status"] == "cancelled"

        assert (await phone.act("interrupt", session_id=sid))["data"] == {"ok": True}
        mode = await phone.act("set_permission_mode", session_id=sid, body={"mode": "plan"})
        assert mode["data"]["permission_mode"] == "plan"
        ended = await phone.act("end_session", session_id=sid, body={"reason": "done"})
        assert ended["data"]["status"] == "ended"

        # The agent's connection saw every change, in cursor order, controls included.
        kinds = []
        while not kinds or kinds[-1] != ("control", "end"):
            frame = await agent.event()
            kinds.append((frame["event"], frame["data"].get("action")))
        assert [k for k, _ in kinds].count("message") == 3
        assert [a for k, a in kinds if k == "control"] == ["interrupt", "permission_mode", "end"]
    finally:
        await agent.close()
        await phone.close()


async def test_action_errors_are_replies_and_the_connection_stays(server) -> None:
    viewer = make_token(server, "viewer")
    ws, _ = await connect(server, viewer)
    try:
        denied = await ws.act("create_session", body={"title": "x"})
        assert (denied["ok"], denied["status"], denied["error"]["type"]) == (
            False,
            403,
            "forbidden",
        )
        unknown = await ws.act("get_permission", permission_id="perm_nope")
        assert (unknown["status"], unknown["error"]["type"]) == (404, "not_found")
        missing = await ws.act("interrupt")
        assert (missing["status"], missing["error"]["type"]) == (422, "validation_error")
        assert missing["error"]["message"].startswith("session_id")
        bad_name = await ws.act("launch_rockets")
        assert bad_name["status"] == 422
        await ws.conn.send("{not json")
        error = await asyncio.wait_for(ws.other.get(), TIMEOUT)
        assert (error["type"], error["status"], error["error"]["type"]) == (
            "error",
            400,
            "malformed_json",
        )
        await ws.conn.send("[1, 2]")
        assert (await asyncio.wait_for(ws.other.get(), TIMEOUT))["status"] == 422
        # Still usable afterwards.
        assert (await ws.act("get_permission", permission_id="perm_x"))["status"] == 404
    finally:
        await ws.close()

    ws, _ = await connect(server)
    try:
        sid = (await ws.act("create_session", body={}))["data"]["id"]
        invalid = await ws.act("post_messages", session_id=sid, body={"role": "robot"})
        assert (invalid["status"], invalid["error"]["type"]) == (422, "validation_error")
        assert invalid["error"]["message"].startswith("role")
        # Bodies of the wrong shape are 422s too, never a 500.
        for body in ([1], "x"):
            wrong = await ws.act("end_session", session_id=sid, body=body)
            assert (wrong["status"], wrong["error"]["type"]) == (422, "validation_error")
        reason = await ws.act("end_session", session_id=sid, body={"reason": 5})
        assert reason["status"] == 422 and reason["error"]["message"].startswith("reason")
    finally:
        await ws.close()


async def test_binary_frames_carry_json_too(server) -> None:
    conn = await websockets.connect(ws_url(server))
    await conn.send(orjson.dumps({"type": "auth", "token": server.token}))  # bytes
    assert orjson.loads(await asyncio.wait_for(conn.recv(), TIMEOUT))["type"] == "ready"
    ws = WS(conn)
    try:
        await conn.send(b'{"type": "ping"}')
        assert await asyncio.wait_for(ws.other.get(), TIMEOUT) == {"type": "pong"}
        await conn.send(b"\xff\x00")
        error = await asyncio.wait_for(ws.other.get(), TIMEOUT)
        assert (error["status"], error["error"]["type"]) == (400, "malformed_json")
        assert (await ws.act("get_permission", permission_id="perm_x"))["status"] == 404
    finally:
        await ws.close()


@pytest.mark.parametrize("how", ["bad-header", "bad-frame-token", "not-an-auth-frame", "not-json"])
async def test_auth_failures_close_with_4401(server, how: str) -> None:
    if how == "bad-header":
        conn = await websockets.connect(
            ws_url(server), additional_headers={"Authorization": "Bearer nope"}
        )
    else:
        conn = await websockets.connect(ws_url(server))
        await conn.send(
            {
                "bad-frame-token": '{"type": "auth", "token": "tth_x_y"}',
                "not-an-auth-frame": '{"type": "action", "action": "interrupt"}',
                "not-json": "hello",
            }[how]
        )
    frame = orjson.loads(await asyncio.wait_for(conn.recv(), TIMEOUT))
    assert (frame["type"], frame["status"], frame["error"]["type"]) == (
        "error",
        401,
        "unauthorized",
    )
    with pytest.raises(ConnectionClosed) as closed:
        await asyncio.wait_for(conn.recv(), TIMEOUT)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


async def test_resume_with_since_and_the_pending_snapshot(server) -> None:
    async with aclient(server) as http:
        session = await new_session(http)
        sid = session["id"]
        waiting = (await http.post(f"/api/v1/sessions/{sid}/permissions", json=permission())).json()
        ws, _ = await connect(server, query=f"?session={sid}")
        try:
            snapshot = await ws.event()
            assert (snapshot["id"], snapshot["event"], snapshot["data"]["id"]) == (
                None,
                "permission_request",
                waiting["id"],
            )
            await http.post(f"/api/v1/sessions/{sid}/messages", json=message("1", id="1"))
            cursor = (await ws.event())["id"]
        finally:
            await ws.close()
        await http.post(f"/api/v1/sessions/{sid}/messages", json=message("2", id="2"))
        await http.post(f"/api/v1/sessions/{sid}/messages", json=message("3", id="3"))
        ws, _ = await connect(server, query=f"?session={sid}&since={cursor}")
        try:
            # The request opened before the cursor comes in the snapshot, then the replay.
            first, second, third = await ws.event(), await ws.event(), await ws.event()
            assert first["id"] is None and first["data"]["id"] == waiting["id"]
            assert [second["data"]["id"], third["data"]["id"]] == ["2", "3"]
            assert cursor < second["id"] < third["id"]
        finally:
            await ws.close()

        unknown = await websockets.connect(
            ws_url(server, "?session=ses_nope"),
            additional_headers={"Authorization": f"Bearer {server.token}"},
        )
        frame = orjson.loads(await asyncio.wait_for(unknown.recv(), TIMEOUT))
        assert (frame["status"], frame["error"]["type"]) == (404, "not_found")
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(unknown.recv(), TIMEOUT)
        assert closed.value.rcvd.code == 4404


def test_pings_reach_an_idle_websocket(server_factory) -> None:
    # Sync (websockets' sync client): the PostgreSQL factory runs its own event loop.
    from websockets.sync.client import connect as sync_connect

    server = server_factory(extra_env={"TETHER_PING_INTERVAL": "0.2"})
    with sync_connect(
        ws_url(server), additional_headers={"Authorization": f"Bearer {server.token}"}
    ) as conn:
        assert orjson.loads(conn.recv(TIMEOUT))["type"] == "ready"
        pings = [orjson.loads(conn.recv(TIMEOUT)) for _ in range(2)]
    assert [(p["id"], p["event"]) for p in pings] == [(None, "ping"), (None, "ping")]
    assert isinstance(pings[0]["data"]["time"], float)


async def test_a_websocket_that_falls_far_behind_is_closed_4008_and_resumes(
    server, monkeypatch
) -> None:
    async with aclient(server) as http:
        sid = (await new_session(http))["id"]
        # A tiny receive buffer (the kernel would take up to 32 MB for the client) and no
        # compression (the padding would shrink to nothing): the backlog builds in the relay.
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", server.port))
        conn = await websockets.connect(
            ws_url(server, f"?session={sid}"),
            max_queue=4,
            sock=sock,
            compression=None,
            additional_headers={"Authorization": f"Bearer {server.token}"},
        )
        assert orjson.loads(await asyncio.wait_for(conn.recv(), TIMEOUT))["type"] == "ready"
        # Not reading while more events are written than it may have waiting: the relay
        # must give up on it.
        total = await post_past_the_backlog_limit(http, server, sid, monkeypatch)
        first: list[dict] = []
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                first.append(orjson.loads(await asyncio.wait_for(conn.recv(), 60)))
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4008
        assert 0 < len(first) < total
        ws, _ = await connect(server, query=f"?session={sid}&since={first[-1]['id']}")
        try:
            rest = [await ws.event() for _ in range(total - len(first))]
        finally:
            await ws.close()
    seqs = [f["data"]["seq"] for f in first + rest]
    assert seqs == list(range(1, total + 1))
