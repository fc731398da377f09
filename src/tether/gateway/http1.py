"""A lean HTTP/1.1 client for the upstream calls: keep-alive connections to one origin,
each an asyncio Protocol with httptools (llhttp, in C) parsing the response.

Why not httpx: the gateway's profile (bench/README.md) put httpx and httpcore at about
70% of the CPU a passthrough request costs, in request building, URL merging, cookie
handling, anyio cancel scopes and h11's pure-Python parsing, none of which a POST to a
configured origin needs. This client keeps what the gateway relies on: a pooled
keep-alive connection per request (at most 256 open, 64 kept idle for 60 s), TLS with
certifi's roots and hostname verification, connect/read/write timeouts, responses
streamed as they arrive with flow control, and httpx's exception classes, so a timeout
is an `httpx.TimeoutException` and a broken connection an `httpx.HTTPError` for the
code that handles them.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterator
from typing import Protocol
from urllib.parse import urlsplit

import httptools
import httpx

from tether import __version__
from tether.redact import redact_url
from tether.tls import client_context

# Sent when the request carries none of its own: httpx's defaults (the providers always ask
# for identity encoding themselves), but the user-agent names tether, not the library
# under it. A client's own user-agent goes through instead (providers/base.py forwards it).
DEFAULT_HEADERS = (
    ("accept", "*/*"),
    ("accept-encoding", "identity"),  # nothing here decodes a compressed body
    ("connection", "keep-alive"),
    ("user-agent", f"tether/{__version__}"),
)
# Past this many unread response bytes, stop reading the socket until the reader catches up.
_READ_HIGH_WATER = 1024 * 1024


class ResponseHeaders:
    """The response's headers as sent (`raw`), looked up case-insensitively."""

    __slots__ = ("_lookup", "raw")

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        self.raw = raw
        self._lookup: dict[str, str] | None = None

    def _map(self) -> dict[str, str]:
        if self._lookup is None:
            lookup: dict[str, str] = {}
            for name, value in self.raw:
                key = name.decode("latin-1").lower()
                text = value.decode("latin-1")
                lookup[key] = f"{lookup[key]}, {text}" if key in lookup else text
            self._lookup = lookup
        return self._lookup

    def get(self, name: str, default: str | None = None) -> str | None:
        return self._map().get(name.lower(), default)

    def __getitem__(self, name: str) -> str:
        return self._map()[name.lower()]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._map()


class _Connection(asyncio.Protocol):
    """One keep-alive connection; one request on it at a time."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.idle_since = 0.0
        self._waiter: asyncio.Future[None] | None = None
        self._write_waiter: asyncio.Future[None] | None = None
        self._write_paused = False
        self._reset()

    def _reset(self) -> None:
        self.status = 0
        self.raw_headers: list[tuple[bytes, bytes]] = []
        self.headers_done = False
        self.complete = False
        self.keep_alive = False
        self.error: Exception | None = None
        self.chunks: collections.deque[bytes] = collections.deque()
        self.buffered = 0
        self._informational = False
        self._reading_paused = False

    # --- asyncio.Protocol -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(httpx.RemoteProtocolError(f"malformed response from the upstream: {exc}"))
            self.abort()

    def eof_received(self) -> bool | None:
        return None  # close the transport; connection_lost says what that means

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.complete:
            pass
        elif self.headers_done and self._ends_at_close():
            self.complete = True
        else:
            reason = "Server disconnected without sending a response."
            if self.headers_done:
                reason = "peer closed connection without sending complete message body"
            self._fail(
                httpx.RemoteProtocolError(reason) if exc is None else httpx.ReadError(str(exc))
            )
        self._wake()
        if self._write_waiter is not None and not self._write_waiter.done():
            self._write_waiter.set_result(None)

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        if self._write_waiter is not None and not self._write_waiter.done():
            self._write_waiter.set_result(None)

    # --- httptools callbacks ----------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        self.raw_headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if 100 <= status < 200:  # an interim answer (100 Continue): the real one follows
            self._informational = True
            self.raw_headers = []
            return
        self.status = status
        self.headers_done = True
        self._wake()

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)
        self.buffered += len(body)
        if self.buffered > _READ_HIGH_WATER and not self._reading_paused and self.transport:
            self._reading_paused = True
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if self._informational:
            self._informational = False
            return
        self.complete = True
        # Asked now: llhttp forgets once the message is over.
        self.keep_alive = self.parser.should_keep_alive()
        self._wake()

    # --- the request's side -----------------------------------------------------------------

    def _ends_at_close(self) -> bool:
        """A body with neither a length nor chunks ends when the connection does."""
        names = {name.lower() for name, _ in self.raw_headers}
        return b"content-length" not in names and b"transfer-encoding" not in names

    def _fail(self, exc: Exception) -> None:
        if self.error is None:
            self.error = exc
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def wait(self, timeout: float | None) -> None:
        """Until the parser has something new (or the connection failed), at most
        `timeout` seconds between one byte and the next."""
        waiter = self.loop.create_future()
        self._waiter = waiter
        timer = None
        if timeout is not None:
            timer = self.loop.call_later(timeout, _expire, waiter)
        try:
            await waiter
        finally:
            self._waiter = None
            if timer is not None:
                timer.cancel()

    async def send(self, head: bytes, content: bytes, timeout: float | None) -> None:
        assert self.transport is not None
        # One call, no copy: `head + content` copied the whole body (a ~50 KB request is
        # the usual), and two writes cost two syscalls. uvloop writes both buffers at once
        # (writev); asyncio's own loop joins them.
        self.transport.writelines((head, content))
        if self._write_paused and not self.closed:
            self._write_waiter = self.loop.create_future()
            try:
                await asyncio.wait_for(self._write_waiter, timeout)
            except TimeoutError:
                self.abort()
                raise httpx.WriteTimeout("timed out sending the request upstream") from None
            finally:
                self._write_waiter = None

    def take(self) -> bytes:
        data = self.chunks[0] if len(self.chunks) == 1 else b"".join(self.chunks)
        self.chunks.clear()
        self.buffered = 0
        if self._reading_paused and self.transport is not None:
            self._reading_paused = False
            self.transport.resume_reading()
        return data

    def reusable(self) -> bool:
        return (
            self.complete
            and not self.closed
            and self.error is None
            and self.transport is not None
            and not self.transport.is_closing()
            and self.keep_alive
        )

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


class BodyObserver(Protocol):
    def body_chunk(self, chunk: bytes) -> None: ...
    def body_end(self) -> None: ...


class UpstreamResponse:
    """An upstream's answer with its body unread: stream it (`aiter_raw`) or read it
    whole (`aread`), and close it (`aclose`), which hands the connection back for reuse
    when the body was read to its end."""

    def __init__(self, pool: ConnectionPool, conn: _Connection, read_timeout: float | None):
        self._pool = pool
        self._conn: _Connection | None = conn
        self._read_timeout = read_timeout
        self.status_code = conn.status
        self.headers = ResponseHeaders(conn.raw_headers)
        # Told of each body chunk as it is read, and of the end (flow capture); None costs
        # one check per chunk.
        self.observer: BodyObserver | None = None

    async def _next(self) -> bytes | None:
        """The next body bytes as they arrive, None at the end."""
        conn = self._conn
        if conn is None:
            raise httpx.StreamClosed()
        while True:
            if conn.chunks:
                chunk = conn.take()
                if self.observer is not None:
                    self.observer.body_chunk(chunk)
                return chunk
            if conn.complete:
                if self.observer is not None:
                    self.observer.body_end()
                return None
            if conn.error is not None:
                self._discard()
                raise conn.error
            try:
                await conn.wait(self._read_timeout)
            except TimeoutError:
                self._discard()
                raise httpx.ReadTimeout("the upstream went silent mid-response") from None

    async def aiter_raw(self) -> AsyncIterator[bytes]:
        while (chunk := await self._next()) is not None:
            yield chunk

    aiter_bytes = aiter_raw  # identity encoding is asked for: no decoding to do

    def buffered(self) -> bytes:
        """The body bytes that have arrived and not been read, without waiting (b"" when
        none): a stream's first events often come with the head, and go on at once."""
        conn = self._conn
        if conn is None or not conn.chunks:
            return b""
        chunk = conn.take()
        if self.observer is not None:
            self.observer.body_chunk(chunk)
        return chunk

    async def aread(self) -> bytes:
        # A loop, not the async generator: a generator per call costs the event loop's
        # bookkeeping of async generators (a WeakSet entry and a finalizer).
        chunks = []
        while (chunk := await self._next()) is not None:
            chunks.append(chunk)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def aclose(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            self._pool.release(conn)

    def _discard(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.abort()
            self._pool.release(conn)


class ConnectionPool:
    """Keep-alive connections to one origin (`base_url`, whose path prefixes every
    request's path, as httpx's base_url did)."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float | None,
        connect_timeout: float | None,
        max_connections: int = 256,
        max_keepalive: int = 64,
        keepalive_expiry: float = 60.0,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {redact_url(base_url)!r}")
        self.host = parts.hostname
        self.tls = parts.scheme == "https"
        self.port = parts.port or (443 if self.tls else 80)
        default_port = self.port == (443 if self.tls else 80)
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.host_header = host if default_port else f"{host}:{self.port}"
        self.prefix = parts.path.rstrip("/")
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.max_keepalive = max_keepalive
        self.keepalive_expiry = keepalive_expiry
        self._slots = asyncio.Semaphore(max_connections)
        self._idle: collections.deque[_Connection] = collections.deque()

    async def aclose(self) -> None:
        while self._idle:
            self._idle.pop().abort()

    def _head(self, path: str, headers: list[tuple[str, str]], length: int) -> bytes:
        lines = [f"POST {self.prefix}{path} HTTP/1.1", f"host: {self.host_header}"]
        given = set()
        for name, value in headers:
            if "\n" in value or "\r" in value or "\n" in name or "\r" in name or ":" in name:
                raise httpx.LocalProtocolError(f"illegal header {name!r}")
            given.add(name.lower())
            lines.append(f"{name}: {value}")
        lines.extend(f"{name}: {value}" for name, value in DEFAULT_HEADERS if name not in given)
        lines.append(f"content-length: {length}\r\n\r\n")
        if "\n" in path or "\r" in path or " " in path:
            raise httpx.LocalProtocolError(f"illegal request path {path!r}")
        return "\r\n".join(lines).encode("latin-1")

    async def post(
        self, path: str, content: bytes, headers: list[tuple[str, str]]
    ) -> UpstreamResponse:
        """Send a POST and return once the response's head has arrived."""
        head = self._head(path, headers, len(content))
        if self._slots.locked():  # all connections busy: wait for one, as long as a read
            try:
                await asyncio.wait_for(self._slots.acquire(), self.timeout)
            except TimeoutError:
                raise httpx.PoolTimeout("no upstream connection came free in time") from None
        else:
            await self._slots.acquire()
        try:
            conn = self._idle_connection() or await self._connect()
            try:
                await conn.send(head, content, self.timeout)
                while not conn.headers_done:
                    if conn.error is not None:
                        raise conn.error
                    await conn.wait(self.timeout)
            except TimeoutError:
                conn.abort()
                raise httpx.ReadTimeout("the upstream did not answer in time") from None
            except BaseException:
                conn.abort()
                raise
        except BaseException:
            self._slots.release()
            raise
        return UpstreamResponse(self, conn, self.timeout)

    def _idle_connection(self) -> _Connection | None:
        now = asyncio.get_running_loop().time()
        while self._idle:
            conn = self._idle.pop()
            if conn.closed or now - conn.idle_since > self.keepalive_expiry:
                conn.abort()
                continue
            conn._reset()
            return conn
        return None

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        context = None
        if self.tls:
            context = client_context()
        try:
            _, conn = await asyncio.wait_for(
                loop.create_connection(
                    lambda: _Connection(loop),
                    self.host,
                    self.port,
                    ssl=context,
                    server_hostname=self.host if context else None,
                ),
                self.connect_timeout,
            )
        except TimeoutError:
            raise httpx.ConnectTimeout(f"connecting to {self.host}:{self.port} timed out") from None
        except OSError as exc:
            raise httpx.ConnectError(str(exc) or type(exc).__name__) from None
        return conn

    def release(self, conn: _Connection) -> None:
        """A response is done with its connection: keep it for the next request when its
        answer was read whole and the server keeps it open, else close it."""
        self._slots.release()
        if conn.reusable() and len(self._idle) < self.max_keepalive:
            conn.idle_since = asyncio.get_running_loop().time()
            self._idle.append(conn)
        else:
            conn.abort()
