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


async def test_streams_opened_at_once_past_the_limit_are_each_a_429(server_factory) -> None:
    """Streams that all pass the early check together still count one by one before any
    200 goes out: past the bound each gets a 429 with an error body, never a 200 that ends
    at once."""
    server = await asyncio.to_thread(
        server_factory, extra_env={"TETHER_MAX_CONNECTIONS_PER_TOKEN": "2"}
    )
    token = make_token(server, "viewer")
    readers = []  # kept referenced: a stream whose reader is collected is closed
    async with aclient(server, token) as http, contextlib.AsyncExitStack() as stack:

        async def open_one() -> tuple[int, bytes]:
            response = await stack.enter_async_context(http.stream("GET", "/api/v1/events"))
            if response.status_code != 200:
                return response.status_code, await response.aread()
            readers.append(response.aiter_bytes())
            first = await asyncio.wait_for(anext(readers[-1]), TIMEOUT)
            return 200, first

        answers = await asyncio.gather(*(open_one() for _ in range(12)))

    opened = [body for status, body in answers if status == 200]
    refused = [body for status, body in answers if status != 200]
    assert len(opened) == 2
    assert all(b": connected" in body for body in opened)
    assert len(refused) == 10
    assert {
        (status, orjson.loads(body)["error"]["type"]) for status, body in answers if status != 200
    } == {(429, "too_many_connections")}
