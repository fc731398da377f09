"""The gateway's own HTTP/1.1 client (gateway/http1.py) against raw socket servers that
answer in the shapes real upstreams and proxies use: kept-alive connections, chunked and
close-delimited bodies, an interim 100, a connection closed while idle, silence."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest

from tether import __version__
from tether.gateway.http1 import ConnectionPool

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return head, await reader.readexactly(length)


class Server:
    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.heads: list[bytes] = []

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await self.handler(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def __aenter__(self) -> ConnectionPool:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        self.pool = ConnectionPool(f"http://127.0.0.1:{port}/v1", timeout=2, connect_timeout=2)
        return self.pool

    async def __aexit__(self, *exc: object) -> None:
        await self.pool.aclose()
        self.server.close()
        await self.server.wait_closed()


async def collect(chunks: AsyncIterator[bytes]) -> bytes:
    return b"".join([c async for c in chunks])


async def test_a_kept_alive_connection_serves_the_next_request(  # and the path is prefixed
) -> None:
    heads: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            head, body = await read_request(reader)
            heads.append(head)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))

    server = Server(handler)
    async with server as pool:
        for text in (b"one", b"two"):
            response = await pool.post("/chat", text, [("x-key", "k")])
            assert response.status_code == 200 and await response.aread() == text
            await response.aclose()
    assert server.connections == 1
    assert heads[0].startswith(b"POST /v1/chat HTTP/1.1\r\n")
    assert b"x-key: k\r\n" in heads[0] and b"content-length: 3\r\n" in heads[0]


async def test_the_user_agent_is_tethers_unless_the_request_brings_its_own() -> None:
    heads: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            heads.append((await read_request(reader))[0])
            writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")

    async with Server(handler) as pool:
        for headers in ([], [("User-Agent", "claude-cli/2.0.1")]):
            await (await pool.post("/x", b"", headers)).aclose()
    agents = [
        [line for line in h.lower().split(b"\r\n") if line.startswith(b"user-agent:")]
        for h in heads
    ]
    assert agents == [
        [f"user-agent: tether/{__version__}".encode()],
        [b"user-agent: claude-cli/2.0.1"],
    ]


async def test_chunked_and_close_delimited_bodies_arrive_whole() -> None:
    async def chunked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/event-stream"
            b"\r\n\r\n5\r\ndata:\r\n3\r\n 1\n\r\n0\r\n\r\n"
        )
        await writer.drain()

    async with Server(chunked) as pool:
        response = await pool.post("/x", b"{}", [])
        assert response.headers.get("Content-Type") == "text/event-stream"
        assert await collect(response.aiter_raw()) == b"data: 1\n"
        await response.aclose()

    async def until_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of it")
        await writer.drain()

    async with Server(until_close) as pool:
        response = await pool.post("/x", b"{}", [])
        assert await response.aread() == b"all of it"
        await response.aclose()


async def test_an_interim_100_is_skipped() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok"
        )
        await writer.drain()
        await asyncio.sleep(1)

    async with Server(handler) as pool:
        response = await pool.post("/x", b"{}", [])
        assert response.status_code == 201 and await response.aread() == b"ok"
        await response.aclose()


async def test_a_connection_the_server_closed_while_idle_is_not_reused() -> None:
    async def one_then_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        # then the server's keep-alive timeout: closed without a Connection: close

    server = Server(one_then_close)
    async with server as pool:
        for _ in range(2):
            response = await pool.post("/x", b"{}", [])
            assert await response.aread() == b"ok"
            await response.aclose()
            await asyncio.sleep(0.1)  # the close reaches the client
    assert server.connections == 2


async def test_silence_is_a_read_timeout_and_a_dead_port_a_connect_error() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf")
        await writer.drain()
        await asyncio.sleep(5)

    async with Server(silent) as pool:
        pool.timeout = 0.3
        response = await pool.post("/x", b"{}", [])
        with pytest.raises(httpx.ReadTimeout):
            await response.aread()
        await response.aclose()

    dead = ConnectionPool("http://127.0.0.1:9", timeout=1, connect_timeout=1)
    with pytest.raises(httpx.ConnectError):
        await dead.post("/x", b"{}", [])


async def test_a_broken_body_is_a_protocol_error_and_a_header_cannot_smuggle_lines() -> None:
    async def broken(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort")
        await writer.drain()

    async with Server(broken) as pool:
        response = await pool.post("/x", b"{}", [])
        with pytest.raises(httpx.RemoteProtocolError):
            await response.aread()
        await response.aclose()
        with pytest.raises(httpx.LocalProtocolError):
            await pool.post("/x", b"{}", [("x-a", "1\r\nx-injected: yes")])
