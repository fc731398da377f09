"""A shortcut from the relay's event bus to an SSE follower's socket.

Fanning one event out to 100 followers the ASGI way costs, per follower, a task switch,
two async generators, Starlette's response loop and three wrapped `send`s before uvicorn
writes the bytes: the profile of issue 16 put that at about two thirds of the relay's CPU
at its fan-out ceiling. Once a follower is live and idle, the bus writes its events
itself, through this wire, as one HTTP chunk straight to the connection's transport.

The wire is put in the request's scope (`scope["extensions"]["tether.wire"]`) by tether's
HTTP protocol (http_guard.py), bound to that request's response cycle. It writes only
while that response is a started, unfinished chunked body on an open connection whose
buffer is below its high-water mark; otherwise it declines, and the follower's own task
writes through ASGI as before (with uvicorn's flow control), so a slow client is never
written past its limit.

Writing beside the ASGI stack is only right while nothing in it transforms response
bodies: tether's middlewares (the loopback Host guard, Starlette's error handlers) only
pass them on. One that did (compression, say) would have to drop the wire from the scope.
"""

from __future__ import annotations

import asyncio
from typing import Any

EXTENSION = "tether.wire"


def chunk(data: bytes) -> bytes:
    """`data` as one chunk of a chunked HTTP/1.1 body."""
    return b"%x\r\n%b\r\n" % (len(data), data)


class SSEWire:
    __slots__ = ("_cycle", "_flow", "_transport")

    def __init__(self, transport: asyncio.Transport, flow: Any, cycle: Any) -> None:
        self._transport = transport
        self._flow = flow
        self._cycle = cycle

    def write(self, framed: bytes) -> bool:
        """Write one chunk (framed by `chunk`); False, writing nothing, when the response
        cannot take it now."""
        cycle = self._cycle
        if (
            cycle.disconnected
            or not cycle.response_started
            or cycle.response_complete
            or cycle.chunked_encoding is not True
            or self._flow.write_paused
            or self._transport.is_closing()
        ):
            return False
        self._transport.write(framed)
        return True


def wire_of(scope: dict[str, Any]) -> SSEWire | None:
    extensions = scope.get("extensions")
    return None if extensions is None else extensions.get(EXTENSION)
