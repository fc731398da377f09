"""Agent tokens act on their own sessions only: another agent's session can be neither
read nor written, over HTTP, SSE and the WebSocket; admin and client tokens are bounded by
their scope alone."""

from __future__ import annotations

import asyncio

import orjson
import websockets

from tests.relay.support import (
    aclient,
    assert_error,
    make_token,
    message,
    new_session,
    open_sse,
    permission,
)


async def test_an_agent_token_cannot_touch_another_agents_session(server) -> None:
    mine, theirs = make_token(server, "agent", "agent-a"), make_token(server, "agent", "agent-b")
    async with aclient(server, mine) as a, aclient(server, theirs) as b, aclient(server) as admin:
        own = await new_session(a)
        other = await new_session(b)
        pid = await b.post(f"/api/v1/sessions/{other['id']}/permissions", json=permission())
        pid = pid.json()["id"]
        sid = other["id"]
        writes = [
            a.post(f"/api/v1/sessions/{sid}/messages", json=message("hi", role="user")),
            a.patch(f"/api/v1/sessions/{sid}", json={"permission_mode": "bypassPermissions"}),
            a.post(f"/api/v1/sessions/{sid}/permissions", json=permission()),
            a.post(f"/api/v1/permissions/{pid}/cancel"),
            a.post(f"/api/v1/sessions/{sid}/end"),
            a.get(f"/api/v1/sessions/{sid}"),
            a.get(f"/api/v1/sessions/{sid}/messages"),
            a.get(f"/api/v1/permissions/{pid}"),
            a.get(f"/api/v1/permissions/{pid}?wait=1"),
            a.get(f"/api/v1/events?session={sid}"),
        ]
        for call in writes:
            error = assert_error(await call, 403, "forbidden")
            assert "created by another token" in error["message"]
        # Lists show the agent its own sessions and requests only.
        listed = (await a.get("/api/v1/sessions")).json()["sessions"]
        assert [s["id"] for s in listed] == [own["id"]]
        assert (await a.get("/api/v1/permissions")).json()["permissions"] == []
        # Nothing changed: the request is still pending, the session still open and empty.
        assert (await admin.get(f"/api/v1/permissions/{pid}")).json()["status"] == "pending"
        session = (await admin.get(f"/api/v1/sessions/{sid}")).json()
        assert (session["status"], session["last_seq"]) == ("starting", 0)
        assert session["permission_mode"] == "default"
        # Its own session works as before, and admin still acts on any.
        posted = await a.post(f"/api/v1/sessions/{own['id']}/messages", json=message("mine"))
        assert posted.status_code == 201
        assert (await admin.post(f"/api/v1/sessions/{sid}/end")).status_code == 200


async def test_an_agents_event_stream_carries_only_its_own_sessions(server) -> None:
    mine, theirs = make_token(server, "agent", "agent-a"), make_token(server, "agent", "agent-b")
    async with aclient(server, mine) as a, aclient(server, theirs) as b:
        other = await new_session(b)
        await b.post(f"/api/v1/sessions/{other['id']}/permissions", json=permission())
        async with open_sse(a, "/api/v1/events?since=0") as stream:
            own = await new_session(a)  # a session made after the stream opened is seen
            await b.post(f"/api/v1/sessions/{other['id']}/messages", json=message("secret"))
            await a.post(f"/api/v1/sessions/{own['id']}/messages", json=message("last"))
            seen = await stream.until(
                lambda e: e.event == "message" and e.data["content"]["text"] == "last"
            )
        assert {e.data.get("session_id", e.data.get("id")) for e in seen} == {own["id"]}

        # The WebSocket likewise, and its actions are bound by the same rule.
        url = server.url.replace("http", "ws", 1) + "/api/v1/ws?since=0"
        async with websockets.connect(url) as ws:
            await ws.send(orjson.dumps({"type": "auth", "token": mine}))
            assert orjson.loads(await ws.recv())["type"] == "ready"
            await ws.send(
                orjson.dumps(
                    {
                        "type": "action",
                        "action": "post_messages",
                        "req": 1,
                        "session_id": other["id"],
                        "body": message("hijack", role="user"),
                    }
                )
            )
            frames = []
            while True:
                frame = orjson.loads(await asyncio.wait_for(ws.recv(), 20))
                frames.append(frame)
                if frame.get("type") == "reply":
                    break
        assert (frame["ok"], frame["status"]) == (False, 403)
        sessions = {f["data"]["session_id"] for f in frames if f.get("event") == "message"}
        assert sessions <= {own["id"]}


async def test_admin_and_client_tokens_are_not_bound_to_sessions(server) -> None:
    agent, client = make_token(server, "agent"), make_token(server, "client")
    async with aclient(server, agent) as a, aclient(server, client) as c:
        sid = (await new_session(a))["id"]
        assert (await c.get(f"/api/v1/sessions/{sid}")).status_code == 200
        posted = await c.post(
            f"/api/v1/sessions/{sid}/messages", json=message("go", role="user", kind="user_text")
        )
        assert posted.status_code == 201
        assert (await c.post(f"/api/v1/sessions/{sid}/interrupt")).status_code == 200
