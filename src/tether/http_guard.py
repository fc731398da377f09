"""The HTTP connection bounds uvicorn does not keep by itself: a request head must arrive
whole within a deadline, and then its body within another, so a client that connects and
sends nothing, or trickles its headers or its body a byte at a time, cannot hold a
connection open (slowloris); and a request head larger than a limit is refused with 431
(h11's own limit only counts an incomplete head, and httptools has none). Every handler
reads its whole body before it does anything, so a slow handler cannot trip the body
deadline."""

from __future__ import annotations

import asyncio
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

_TOO_LARGE = b"request head too large\n"
_431 = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: text/plain\r\n"
    b"connection: close\r\ncontent-length: %d\r\n\r\n%s" % (len(_TOO_LARGE), _TOO_LARGE)
)


class GuardedProtocol(H11Protocol):
    """H11Protocol that closes a connection whose request head is not complete within
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

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._watch_head()

    def data_received(self, data: bytes) -> None:
        if self.conn.their_state is h11.IDLE:
            end = data.find(b"\r\n\r\n")
            self._head_bytes += len(data) if end < 0 else end + 4
            if self._head_bytes > self.max_head_bytes:
                self._stop_watch()
                self.transport.write(_431)
                self.transport.close()
                return
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:
            self._head_bytes = 0
        self._watch_head()
        self._watch_body()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_watch()
        self._stop_body_watch()
        super().connection_lost(exc)

    def _watch_body(self) -> None:
        """Arm the body deadline when a head has arrived and its body has not; disarm it
        once the body is whole."""
        if self.conn.their_state is h11.SEND_BODY and not self.transport.is_closing():
            if self._body_deadline is None:
                self._body_deadline = self.loop.call_later(self.body_timeout, self._body_late)
        else:
            self._stop_body_watch()

    def _stop_body_watch(self) -> None:
        if self._body_deadline is not None:
            self._body_deadline.cancel()
            self._body_deadline = None

    def _body_late(self) -> None:
        self._body_deadline = None
        if self.conn.their_state is h11.SEND_BODY and not self.transport.is_closing():
            self.transport.close()

    def _watch_head(self) -> None:
        """Arm the deadline while a head is awaited, disarm it once one has arrived."""
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            self._stop_watch()
        elif self._head_deadline is None:
            self._head_deadline = self.loop.call_later(self.head_timeout, self._head_late)

    def _stop_watch(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_late(self) -> None:
        self._head_deadline = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
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
