"""The HTTP connection bounds uvicorn does not keep by itself: a request head must arrive
whole within a deadline, and then its body within another, so a client that connects and
sends nothing, or trickles its headers or its body a byte at a time, cannot hold a
connection open (slowloris); and a request head larger than a limit is refused with 431
(httptools has no limit of its own). Every handler reads its whole body before it does
anything, so a slow handler cannot trip the body deadline.

Built on uvicorn's httptools protocol rather than h11's: the gateway's profile showed h11
(a pure-Python parser and writer) at about a sixth of the CPU a proxied request costs,
httptools (llhttp, in C) at a fraction of that. httptools reports a request's progress
through callbacks (message begin, headers complete, message complete), which is all the
deadlines need."""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from tether.sse_wire import EXTENSION, SSEWire

_TOO_LARGE = b"request head too large\n"
_431 = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: text/plain\r\n"
    b"connection: close\r\ncontent-length: %d\r\n\r\n%s" % (len(_TOO_LARGE), _TOO_LARGE)
)


class GuardedProtocol(HttpToolsProtocol):
    """HttpToolsProtocol that closes a connection whose request head is not complete within
    `head_timeout` seconds of its first byte (or of the connection, for the first one), or
    whose body is not complete within `body_timeout` seconds of its head, and answers 431
    to a head over `max_head_bytes`."""

    head_timeout: float = 10.0
    body_timeout: float = 120.0
    max_head_bytes: int = 64 * 1024

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_deadline: asyncio.TimerHandle | None = None
        self._body_deadline: asyncio.TimerHandle | None = None
        self._head_bytes = 0
        # Where the client is: between requests (a head may start), inside a head, or
        # inside a body. Set by the parser's callbacks.
        self._in_head = False
        self._in_body = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_deadline = self.loop.call_later(self.head_timeout, self._head_late)

    def data_received(self, data: bytes) -> None:
        if not self._in_body:
            # Bytes of a head: all of them, or those up to its blank line (a body may
            # follow in the same read).
            end = data.find(b"\r\n\r\n")
            self._head_bytes += len(data) if end < 0 else end + 4
            if self._head_bytes > self.max_head_bytes:
                self._stop_head_watch()
                self.transport.write(_431)
                self.transport.close()
                return
        super().data_received(data)
        if self.transport.is_closing() or self.transport.get_protocol() is not self:
            self._stop_head_watch()  # closed, or handed over to a WebSocket protocol
            self._stop_body_watch()
            return
        if self._in_head:
            if self._head_deadline is None:
                self._head_deadline = self.loop.call_later(self.head_timeout, self._head_late)
        else:
            self._stop_head_watch()
        if self._in_body:
            if self._body_deadline is None:
                self._body_deadline = self.loop.call_later(self.body_timeout, self._body_late)
        else:
            self._stop_body_watch()

    # --- the parser's callbacks -------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._in_head = True
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_bytes = 0
        # An upgrade (WebSocket) has no body to wait for: the protocol is handed over.
        self._in_body = not self.parser.should_upgrade()
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not None and cycle.scope is self.scope and self.scope["method"] == "GET":
            # A GET may be an event stream: give it the wire the relay's bus writes to.
            self.scope.setdefault("extensions", {})[EXTENSION] = SSEWire(
                self.transport, self.flow, cycle
            )

    def on_message_complete(self) -> None:
        self._in_body = False
        super().on_message_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_watch()
        self._stop_body_watch()
        super().connection_lost(exc)

    # --- deadlines --------------------------------------------------------------------------

    def _stop_head_watch(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _stop_body_watch(self) -> None:
        if self._body_deadline is not None:
            self._body_deadline.cancel()
            self._body_deadline = None

    def _head_late(self) -> None:
        self._head_deadline = None
        # Nothing since the connection opened, or a head begun and never finished.
        late = self._in_head or self.cycle is None
        if late and not self._in_body and not self.transport.is_closing():
            self.transport.close()

    def _body_late(self) -> None:
        self._body_deadline = None
        if self._in_body and not self.transport.is_closing():
            self.transport.close()


def guarded_protocol(
    head_timeout: float, max_head_bytes: int, body_timeout: float = 120.0
) -> type[GuardedProtocol]:
    bounds = {
        "head_timeout": head_timeout,
        "max_head_bytes": max_head_bytes,
        "body_timeout": body_timeout,
    }
    return type("GuardedProtocol", (GuardedProtocol,), bounds)
