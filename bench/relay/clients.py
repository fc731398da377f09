"""Lean relay clients on raw asyncio sockets, so the bench's own side is not what limits it.

An SSE follower here costs a socket and a small buffer; it finds what it measures with one
regex over each read instead of parsing every event in Python.
"""

from __future__ import annotations

import asyncio
import base64
import os
import re
import time
from collections.abc import Callable

HEADER_END = b"\r\n\r\n"


async def _read_until(
    reader: asyncio.StreamReader, marker: bytes, buf: bytes = b"", timeout: float = 30
) -> bytes:
    async def run() -> bytes:
        nonlocal buf
        while marker not in buf:
            chunk = await reader.read(65536)
            if not chunk:
                raise ConnectionError(f"closed before {marker!r}: {buf[:200]!r}")
            buf += chunk
        return buf

    return await asyncio.wait_for(run(), timeout)


class SSEClient:
    """`GET /api/v1/events` on a raw socket; `opened()` returns once `: connected` came."""

    def __init__(self, port: int, token: str, query: str = "") -> None:
        self.port, self.token, self.query = port, token, query
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.pending = b""

    async def open(self) -> SSEClient:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        self.writer.write(
            f"GET /api/v1/events{self.query} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
            f"Authorization: Bearer {self.token}\r\nAccept: text/event-stream\r\n\r\n".encode()
        )
        buf = await _read_until(self.reader, b": connected\n\n")
        head, _, rest = buf.partition(HEADER_END)
        if not head.startswith(b"HTTP/1.1 200"):
            raise ConnectionError(head.decode(errors="replace"))
        self.pending = rest.split(b": connected\n\n", 1)[1]
        return self

    async def read(self) -> bytes:
        assert self.reader is not None
        data = await self.reader.read(262144)
        if not data:
            raise ConnectionError("stream closed")
        return data

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


class WSClient:
    """`GET /api/v1/ws` on a raw socket, header auth; `open()` returns after `ready`."""

    def __init__(self, port: int, token: str) -> None:
        self.port, self.token = port, token
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> WSClient:
        reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        key = base64.b64encode(os.urandom(16)).decode()
        self.writer.write(
            f"GET /api/v1/ws HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Authorization: Bearer {self.token}\r\n\r\n".encode()
        )
        buf = await _read_until(reader, HEADER_END)
        if not buf.startswith(b"HTTP/1.1 101"):
            raise ConnectionError(buf[:200].decode(errors="replace"))
        await _read_until(reader, b'"ready"', buf.split(HEADER_END, 1)[1])
        self._reader = reader
        return self

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


# A message event of the bench: its seq (per session, so its order) and its mark `"k":N`.
MARK = re.compile(rb'"seq":(\d+)[^\n]*?"k":(\d+)')


class MarkReader(asyncio.Protocol):
    """An SSE follower as a bare Protocol: each read is one regex pass for the marks, no
    coroutine per event. Takes over an opened SSEClient's socket. Counts the events that
    came out of order or twice (a seq not above the last one)."""

    def __init__(
        self, on_mark: Callable[[int, float], None], carry: bytes, sessions: int = 1
    ) -> None:
        self.on_mark = on_mark
        self.carry = carry
        # Order is per session; a mark k belongs to session k % sessions.
        self.sessions = sessions
        self.last_seq = [0] * sessions
        self.disorder = 0

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        data = self.carry + data
        cut = data.rfind(b"\n\n")
        if cut < 0:
            self.carry = data
            return
        self.carry = data[cut + 2 :]
        for match in MARK.finditer(data, 0, cut):
            seq, k = int(match.group(1)), int(match.group(2))
            session = k % self.sessions
            if seq <= self.last_seq[session]:
                self.disorder += 1
            self.last_seq[session] = seq
            self.on_mark(k, now)


def read_marks(
    client: SSEClient, on_mark: Callable[[int, float], None], sessions: int = 1
) -> MarkReader:
    """Hand an opened SSE client's socket to a MarkReader."""
    assert client.writer is not None
    transport = client.writer.transport
    reader = MarkReader(on_mark, client.pending, sessions)
    transport.set_protocol(reader)
    return reader


class HTTPConnection:
    """One keep-alive HTTP/1.1 connection, one request at a time; a few bytes of parsing
    instead of a full client, so the publisher is not what limits the rate."""

    def __init__(self, port: int, token: str) -> None:
        self.port, self.token = port, token
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> HTTPConnection:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        return self

    async def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        assert self.reader is not None and self.writer is not None
        self.writer.write(
            f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
            f"Authorization: Bearer {self.token}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        head = await self.reader.readuntil(HEADER_END)
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
