"""Streaming to the client: an ASGI response that cancels its producer when the client
goes away, and a pacer that reports upstream silences so a `ping` can be sent."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

from starlette.types import Receive, Scope, Send

T = TypeVar("T")


class Silence:
    """Yielded by `paced` when the source said nothing for a whole interval."""


SILENCE = Silence()


async def paced(source: AsyncIterator[T], interval: float) -> AsyncIterator[T | Silence]:
    """Items of `source`, with SILENCE whenever `interval` seconds pass without one. The
    pending read is never cancelled by a tick, only when the consumer stops."""
    iterator = source.__aiter__()
    pending: asyncio.Future[T] | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(iterator.__anext__())
            done, _ = await asyncio.wait((pending,), timeout=interval)
            if not done:
                yield SILENCE
                continue
            finished, pending = pending, None
            try:
                item = finished.result()
            except StopAsyncIteration:
                return
            yield item
    finally:
        if pending is not None:
            pending.cancel()
            with contextlib.suppress(BaseException):
                await pending


class StreamOut:
    """A streaming ASGI response. A client disconnect cancels the producer (and so the
    upstream request it is reading); `on_close` runs however the stream ended."""

    def __init__(self, status: int, headers: list[tuple[bytes, bytes]],
                 body: AsyncIterator[bytes],
                 on_close: Callable[[], Awaitable[None]] | None = None) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self.on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def pump() -> None:
            await send({"type": "http.response.start", "status": self.status,
                        "headers": self.headers})
            async for chunk in self.body:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})

        async def watch() -> None:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return

        producer = asyncio.ensure_future(pump())
        watcher = asyncio.ensure_future(watch())
        try:
            await asyncio.wait((producer, watcher), return_when=asyncio.FIRST_COMPLETED)
            if not producer.done():
                producer.cancel()  # the client left: stop reading the upstream
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await producer
        finally:
            watcher.cancel()
            if not producer.done():
                producer.cancel()
            with contextlib.suppress(BaseException):
                await watcher
            aclose = getattr(self.body, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()
            if self.on_close is not None:
                await self.on_close()
