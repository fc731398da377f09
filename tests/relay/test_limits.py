"""Live connections are bounded per token and per process: the one over the bound gets a
429 in the relay's error format (SSE) or an error frame and close 4429 (WebSocket)."""

from __future__ import annotations

import asyncio
import contextlib

import orjson
import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from tests.relay.support import TIMEOUT, aclient, assert_error, make_token, open_sse


async def test_connections_are_limited_per_token_and_per_process(server_factory) -> None:
    server = await asyncio.to_thread(
        server_factory,
        extra_env={"TETHER_MAX_CONNECTIONS_PER_TOKEN": "3", "TETHER_MAX_CONNECTIONS": "5"},
    )
    greedy, other, third = (make_token(server, "viewer") for _ in range(3))
    async with contextlib.AsyncExitStack() as stack:
        g = await stack.enter_async_context(aclient(server, greedy))
        streams = [await stack.enter_async_context(open_sse(g, "/api/v1/events")) for _ in range(3)]
        error = assert_error(await g.get("/api/v1/events"), 429, "too_many_connections")
        assert "max_connections_per_token" in error["message"]
        # The WebSocket counts the same way, and says so before closing.
        ws = await websockets.connect(server.url.replace("http", "ws", 1) + "/api/v1/ws")
        await ws.send(orjson.dumps({"type": "auth", "token": greedy}))
        frame = orjson.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
        assert (frame["type"], frame["status"]) == ("error", 429)
        assert frame["error"]["type"] == "too_many_connections"
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), TIMEOUT)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4429

        # Other tokens are not held back by it, up to the process's own bound.
        o = await stack.enter_async_context(aclient(server, other))
        # (Kept referenced: a stream whose reader is collected is closed.)
        streams += [await stack.enter_async_context(open_sse(o, "/api/v1/events")) for _ in "ab"]
        async with aclient(server, third) as t:
            error = assert_error(await t.get("/api/v1/events"), 429, "too_many_connections")
            assert "max_connections" in error["message"]
        assert len(streams) == 5

    # Closed connections are given back.
    async with aclient(server, greedy) as g:
        for _ in range(100):
            async with g.stream("GET", "/api/v1/events") as response:
                if response.status_code == 200:
                    break
            await asyncio.sleep(0.1)
        assert response.status_code == 200
