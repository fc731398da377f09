"""Inputs that once reached a 500 or a dropped socket: each gets a precise 4xx, in the
relay's error shape, over HTTP and WebSocket alike, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from tests.relay.support import aclient, assert_error, message, new_session, open_sse, permission
from tests.relay.test_websocket import TIMEOUT, connect, ws_url

BEYOND_64_BITS = str(2**64)


def nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = {"k": value}
    return value


async def test_json_nested_too_deep_is_refused_at_parse_time(server) -> None:
    async with aclient(server) as http:
        sid = (await new_session(http))["id"]
        # Deep but within the bound: stored and written back out whole.
        fine = await http.post(
            f"/api/v1/sessions/{sid}/messages", json={**message("x"), "content": nested(60)}
        )
        assert fine.status_code == 201, fine.text
        assert fine.json()["content"] == nested(60)
        # 300 levels once crashed the serializer (and the keep-alive connection with it).
        for path, body in (
            ("/api/v1/sessions", {"metadata": nested(300)}),
            (f"/api/v1/sessions/{sid}/messages", {**message("x"), "content": nested(300)}),
            (f"/api/v1/sessions/{sid}/permissions", permission(input=nested(300))),
        ):
            error = assert_error(await http.post(path, json=body), 422, "validation_error")
            assert "nested deeper than 64 levels" in error["message"]
        # Arrays count the same; and the server (and this connection) is fine afterwards.
        deep_list = b'{"content": ' + b"[" * 300 + b"]" * 300 + b"}"
        response = await http.post(f"/api/v1/sessions/{sid}/messages", content=deep_list)
        assert_error(response, 422, "validation_error")
        assert (await http.get(f"/api/v1/sessions/{sid}")).json()["last_seq"] == 1

    ws, _ = await connect(server)
    try:
        await ws.conn.send('{"type": "action", "req": "d", "body": ' + "[" * 300 + "]" * 300 + "}")
        frame = await asyncio.wait_for(ws.other.get(), TIMEOUT)
        assert (frame["type"], frame["req"], frame["status"]) == ("reply", "d", 422)
        assert "nested deeper" in frame["error"]["message"]
        alive = await ws.act("get_permission", permission_id="perm_nope")
        assert alive["status"] == 404
    finally:
        await ws.close()


async def test_integers_beyond_64_bits_and_bad_waits_are_422(server) -> None:
    async with aclient(server) as http:
        sid = (await new_session(http))["id"]
        pid = (await http.post(f"/api/v1/sessions/{sid}/permissions", json=permission())).json()[
            "id"
        ]
        for path, field in (
            (f"/api/v1/sessions/{sid}/messages?after={BEYOND_64_BITS}", "query.after"),
            (f"/api/v1/sessions/{sid}/messages?before={BEYOND_64_BITS}", "query.before"),
            (f"/api/v1/sessions/{sid}/messages?limit={BEYOND_64_BITS}", "query.limit"),
            (f"/api/v1/sessions?limit={BEYOND_64_BITS}", "query.limit"),
            (f"/api/v1/events?since={BEYOND_64_BITS}", "query.since"),
            (f"/permissions/stream?since={BEYOND_64_BITS}", "query.since"),
            (f"/api/v1/permissions/{pid}?wait=nan", "query.wait"),
            (f"/api/v1/permissions/{pid}?wait=inf", "query.wait"),
            (f"/api/v1/permissions/{pid}?wait=-1", "query.wait"),
            (f"/api/v1/permissions/{pid}?wait=1e400", "query.wait"),
        ):
            error = assert_error(await http.get(path), 422, "validation_error")
            assert error["message"].startswith(field), error
        response = await http.get("/api/v1/events", headers={"Last-Event-ID": BEYOND_64_BITS})
        assert_error(response, 422, "validation_error")
        # The largest cursor that fits is still a cursor.
        ok = await http.get(f"/api/v1/sessions/{sid}/messages?after={2**63 - 1}")
        assert ok.json() == {"messages": []}
        for version in (2**63, 2**64):  # the first fits orjson, not PostgreSQL's BIGINT
            patch = {"metadata": {"a": 1}, "expected_version": version}
            expected = await http.patch(f"/api/v1/sessions/{sid}", json=patch)
            assert_error(expected, 422, "validation_error")

    ws, ready = await connect(server, query=f"?since={BEYOND_64_BITS}")
    await ws.close()
    assert (ready["type"], ready["status"]) == ("error", 422)


async def test_a_cursor_beyond_the_log_starts_from_its_end_with_a_reset(server) -> None:
    async with aclient(server) as http:
        sid = (await new_session(http))["id"]
        await http.post(f"/api/v1/sessions/{sid}/messages", json=message("before"))
        end = (await http.get(f"/api/v1/sessions/{sid}")).json()
        async with open_sse(http, "/api/v1/events", params={"since": "999999"}) as stream:
            reset = await stream.next()
            assert reset.event == "reset"
            assert reset.data == {"cursor": reset.id, "requested": 999999}
            assert reset.id is not None and reset.id < 999999
            # From there on it delivers: live events after the current end arrive.
            await http.post(f"/api/v1/sessions/{sid}/messages", json=message("after"))
            (posted,) = await stream.take(1)
            assert posted.data["content"] == {"text": "after"}
            assert posted.id == reset.id + 1
        async with open_sse(
            http, "/permissions/stream", headers={"Last-Event-ID": "999999"}
        ) as stream:
            assert (await stream.next()).event == "reset"
        assert end["last_seq"] == 1

    ws, ready = await connect(server, query="?since=999999")
    try:
        assert ready["type"] == "ready"
        reset_frame = await ws.event()
        assert reset_frame["event"] == "reset"
        assert reset_frame["data"]["cursor"] == reset_frame["id"]
        async with aclient(server) as http:
            await http.post(f"/api/v1/sessions/{sid}/messages", json=message("live"))
        live = await ws.event()
        assert (live["event"], live["id"]) == ("message", reset_frame["id"] + 1)
    finally:
        await ws.close()


NUL = "a\x00b"


async def test_nul_characters_are_422_naming_the_field(server) -> None:
    async with aclient(server) as http:
        sid = (await new_session(http))["id"]
        pid = (await http.post(f"/api/v1/sessions/{sid}/permissions", json=permission())).json()[
            "id"
        ]
        cases = [
            ("POST", "/api/v1/sessions", {"title": NUL}, "title"),
            ("POST", "/api/v1/sessions", {"cwd": NUL}, "cwd"),
            ("PATCH", f"/api/v1/sessions/{sid}", {"model": NUL}, "model"),
            ("POST", f"/api/v1/sessions/{sid}/messages", {"kind": NUL}, "kind"),
            ("POST", f"/api/v1/sessions/{sid}/messages", {"id": NUL}, "id"),
            ("POST", f"/api/v1/sessions/{sid}/messages", [message("x"), {"kind": NUL}], "1.kind"),
            ("POST", f"/api/v1/sessions/{sid}/permissions", {"tool_name": NUL}, "tool_name"),
            ("POST", f"/api/v1/sessions/{sid}/permissions", permission(NUL), "tool_name"),
            ("POST", f"/api/v1/permissions/{pid}/respond", {"allowed": True, "message": NUL}, ""),
            ("GET", "/api/v1/sessions/a%00b", None, "path.session_id"),
            ("GET", "/api/v1/sessions?status=a%00b", None, "query.status"),
            ("GET", "/api/v1/permissions?session=a%00b", None, "query.session"),
            ("GET", "/api/v1/events?session=a%00b", None, "query.session"),
            ("POST", "/api/v1/permissions/a%00b/respond", {"allowed": True}, "path.permission_id"),
        ]
        for method, path, body, field in cases:
            error = assert_error(await http.request(method, path, json=body), 422)
            assert "NUL" in error["message"], (path, body, error)
            assert error["message"].startswith(field or "message"), (path, error)
        # Nothing was stored, and the request is still open.
        assert (await http.get(f"/api/v1/sessions/{sid}")).json()["last_seq"] == 0
        assert (await http.get(f"/api/v1/permissions/{pid}")).json()["status"] == "pending"
        listed = (await http.get("/api/v1/sessions")).json()["sessions"]
        assert [s["id"] for s in listed] == [sid]

    ws, _ = await connect(server)
    try:
        reply = await ws.act("create_session", body={"title": NUL})
        assert (reply["ok"], reply["status"]) == (False, 422)
        reply = await ws.act("interrupt", session_id=NUL)
        assert (reply["ok"], reply["status"]) == (False, 422)
    finally:
        await ws.close()


async def test_nul_inside_values_stored_as_json_is_kept_to_the_byte(server) -> None:
    # A tool's output may carry a NUL byte; refusing it would drop the message from the
    # transcript (the runner drops what the relay refuses outright).
    async with aclient(server) as http:
        created = await http.post("/api/v1/sessions", json={"metadata": {NUL: [NUL]}})
        assert created.status_code == 201, created.text
        sid = created.json()["id"]
        posted = await http.post(
            f"/api/v1/sessions/{sid}/messages",
            json={"id": "m1", "role": "agent", "kind": "tool_result", "content": {"output": NUL}},
        )
        assert posted.status_code == 201, posted.text
        (stored,) = (await http.get(f"/api/v1/sessions/{sid}/messages")).json()["messages"]
        assert stored["content"] == {"output": NUL}
        assert (await http.get(f"/api/v1/sessions/{sid}")).json()["metadata"] == {NUL: [NUL]}


async def test_nul_in_the_websocket_auth_frame_gets_an_error_and_a_close_frame(server) -> None:
    for token in (NUL, server.token + "\x00"):
        async with websockets.connect(ws_url(server)) as conn:
            await conn.send(orjson.dumps({"type": "auth", "token": token}).decode())
            frame = orjson.loads(await asyncio.wait_for(conn.recv(), TIMEOUT))
            assert (frame["type"], frame["status"]) == ("error", 422)
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(conn.recv(), TIMEOUT)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4422
    async with websockets.connect(ws_url(server, "?session=a%00b")) as conn:
        await conn.send(orjson.dumps({"type": "auth", "token": server.token}).decode())
        frame = orjson.loads(await asyncio.wait_for(conn.recv(), TIMEOUT))
        assert frame["error"]["message"].startswith("query.session")


def test_a_websocket_frame_over_the_body_limit_is_closed_with_1009(server_factory) -> None:
    server = server_factory(extra_env={"TETHER_MAX_BODY_BYTES": "20000"})

    async def go() -> None:
        ws, _ = await connect(server)
        fits = await ws.act("create_session", body={"title": "t", "metadata": {"x": "y" * 9000}})
        assert fits["ok"] is True
        await ws.conn.send(orjson.dumps({"type": "action", "body": {"x": "y" * 30000}}).decode())
        await asyncio.wait_for(ws.conn.wait_closed(), TIMEOUT)
        assert ws.conn.close_code == 1009
        await ws.close()
        again, ready = await connect(server)  # the server is fine afterwards
        assert ready["type"] == "ready"
        await again.close()

    asyncio.run(go())


async def test_action_frames_with_wrong_types_get_replies_not_a_dropped_socket(server) -> None:
    async with aclient(server) as http:
        sid = (await new_session(http))["id"]
    ws, _ = await connect(server)
    try:
        for fields in (
            {"action": "interrupt", "session_id": 5},
            {"action": "interrupt", "session_id": ["x"]},
            {"action": "create_session", "body": 5},
            {"action": "create_session", "body": [1, 2]},
            {"action": "create_session", "body": "title"},
            {"action": "post_messages", "session_id": sid, "body": [5]},
            {"action": "post_messages", "session_id": sid, "body": []},
            {"action": "post_messages", "session_id": sid, "body": "hi"},
            {"action": "respond", "permission_id": {"a": 1}, "body": {"allowed": True}},
            {"action": ["create_session"]},
            {"action": None},
        ):
            reply = await ws.act(**fields)
            assert reply["ok"] is False and 400 <= reply["status"] < 500, (fields, reply)
            assert reply["error"]["message"], reply
        for frame in (
            b"[]",
            b"5",
            b'"x"',
            b"null",
            b'{"type": 5}',
            b'{"type": "action", "req": 1}',
            b'{"type": "action", "req": {"deep": [[[]]]}}',
        ):
            await ws.conn.send(frame.decode())
            answer = await asyncio.wait_for(ws.other.get(), TIMEOUT)
            assert answer["status"] in (400, 422), (frame, answer)
        alive = await ws.act("get_permission", permission_id="perm_nope")
        assert alive["status"] == 404
    finally:
        await ws.close()
