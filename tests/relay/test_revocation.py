"""Revoking a token ends what it already has open: its WebSocket is closed with 4401, its
SSE stream ends, and nothing it tries afterwards is done, on every relay process sharing
the database. The token is revoked by the real `tether token revoke`."""

from __future__ import annotations

import asyncio

import orjson
import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from tests.relay.support import (
    TIMEOUT,
    aclient,
    assert_error,
    make_token,
    message,
    new_session,
    open_sse,
    permission,
    run_tether,
)
from tether.client import RelayClient, Unauthorized


async def _open_ws(url: str, token: str) -> websockets.ClientConnection:
    ws = await websockets.connect(url.replace("http", "ws", 1) + "/api/v1/ws")
    await ws.send(orjson.dumps({"type": "auth", "token": token}))
    assert orjson.loads(await ws.recv())["type"] == "ready"
    return ws


async def _closed_code(ws: websockets.ClientConnection) -> int:
    """Read until the server closes the socket; its close code."""
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await asyncio.wait_for(ws.recv(), TIMEOUT)
    assert closed.value.rcvd is not None, "closed without a close frame"
    return closed.value.rcvd.code


def _revoke(server, token: str) -> None:
    token_id = token.split("_")[1]
    done = run_tether(server, "token", "revoke", token_id, "--data-dir", str(server.data_dir))
    assert done.returncode == 0, done.stderr


async def test_revocation_ends_open_connections_on_every_process(server_factory) -> None:
    # In a thread: the factory makes PostgreSQL databases with its own event loop.
    first = await asyncio.to_thread(server_factory)
    # On PostgreSQL a second relay process shares the database (a scaled-out relay).
    second = await asyncio.to_thread(server_factory) if first.database_url else first
    token = make_token(first, "client", "lost-phone")
    async with aclient(first) as admin, aclient(first, token) as phone:
        sid = (await new_session(admin))["id"]
        pid = (await admin.post(f"/api/v1/sessions/{sid}/permissions", json=permission())).json()
        pid = pid["id"]
        # Warm the authentication cache, which used to keep a revoked token good for 2 s.
        assert (await phone.get("/api/v1/me")).status_code == 200
        ws_here = await _open_ws(first.url, token)
        ws_there = await _open_ws(second.url, token)
        async with open_sse(phone, "/api/v1/events") as stream:
            _revoke(first, token)
            assert await _closed_code(ws_here) == 4401
            assert await _closed_code(ws_there) == 4401
            with pytest.raises(EOFError):
                while True:
                    await stream.next()
        # Nothing it tries now is done.
        assert_error(await phone.post(f"/api/v1/permissions/{pid}/respond", json={}), 401)
        assert_error(
            await phone.post(f"/api/v1/sessions/{sid}/messages", json=message("x", role="user")),
            401,
        )
        assert (await admin.get(f"/api/v1/permissions/{pid}")).json()["status"] == "pending"
        assert (await admin.get(f"/api/v1/sessions/{sid}")).json()["last_seq"] == 0
        # And a new WebSocket with it is refused at once.
        ws = await websockets.connect(first.url.replace("http", "ws", 1) + "/api/v1/ws")
        await ws.send(orjson.dumps({"type": "auth", "token": token}))
        assert await _closed_code(ws) == 4401


@pytest.mark.parametrize("transport", ["sse", "ws"])
async def test_the_client_treats_revocation_as_final(server, transport: str) -> None:
    token = make_token(server, "viewer")
    async with RelayClient(server.url, token) as viewer:
        states: list[str] = []
        connected = asyncio.Event()

        def on_state(state: str) -> None:
            states.append(state)
            if state == "connected":
                connected.set()

        async def revoke_once_connected() -> None:
            await connected.wait()
            await asyncio.to_thread(_revoke, server, token)

        revoker = asyncio.create_task(revoke_once_connected())
        with pytest.raises(Unauthorized):
            async for _ in viewer.events(transport=transport, on_state=on_state):
                pass
        await revoker
        assert states[0] == "connected" and states[-1] == "disconnected"


async def test_a_long_poll_begun_before_the_revocation_gets_no_answer(server) -> None:
    token = make_token(server, "client", "lost-phone")
    async with aclient(server) as admin, aclient(server, token) as phone:
        sid = (await new_session(admin))["id"]
        pid = (await admin.post(f"/api/v1/sessions/{sid}/permissions", json=permission())).json()
        pid = pid["id"]
        poll = asyncio.create_task(phone.get(f"/api/v1/permissions/{pid}", params={"wait": 30}))
        await asyncio.sleep(0.5)  # the poll is waiting
        await asyncio.to_thread(_revoke, server, token)
        await asyncio.sleep(1.5)  # every process notices within a second
        answered = await admin.post(f"/api/v1/permissions/{pid}/respond", json={"behavior": "deny"})
        assert answered.status_code == 200
        assert_error(await asyncio.wait_for(poll, TIMEOUT), 401)


def test_a_stream_whose_token_is_revoked_while_it_opens_is_refused(server) -> None:
    """A stream is counted (and so found by a revocation) only once it is set up; one whose
    token was revoked in between must not go live with it."""
    if server._threaded is None:
        pytest.skip("needs the server's loop: an in-process server")
    from tether.relay.errors import Unauthorized as Refused
    from tether.relay.stream import register

    relay = server.relay
    token = make_token(server, "client", "opening")
    who = server.on_loop(relay.auth.check(token))  # the stream's request passed its check
    _revoke(server, token)

    async def go_live() -> tuple[bool, int]:
        for _ in range(100):  # the revocation watch polls twice a second
            if relay.auth.is_revoked(who):
                break
            await asyncio.sleep(0.05)
        sub = relay.bus.subscribe(None)
        try:
            register(relay, who, sub)
        except Refused:
            return True, relay.connections._count
        finally:
            relay.bus.unsubscribe(sub)
        return False, relay.connections._count

    refused, counted = server.on_loop(go_live())
    assert refused and counted == 0
