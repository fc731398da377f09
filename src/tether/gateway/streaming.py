"""Streaming to the client: an ASGI response that cancels its producer when the client
goes away, and a pacer that reports upstream silences so a `ping` can be sent."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from starlette.types import Receive, Scope, Send

T = TypeVar("T")


class Silence:
    """Yielded by `paced` when the source said nothing for a whole interval."""


SILENCE = Silence()


class _End:
    pass


async def paced(
    source: AsyncIterator[T], interval: float, buffer: int = 64
) -> AsyncIterator[T | Silence]:
    """Items of `source`, with SILENCE once `interval` seconds (at most 1.5 × interval)
    pass without one.

    One reader task feeds a bounded queue, so the source's pending read is never
    cancelled by a tick (cancelling an HTTP read mid-way would break the connection),
    and one timer per stream checks for silence: per item the cost is a queue hand-off,
    not a task or a timer each. A failure of the source is raised here; stopping the
    consumer cancels the reader."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Any] = asyncio.Queue(buffer)
    last = loop.time()

    async def read() -> None:
        nonlocal last
        try:
            async for item in source:
                last = loop.time()
                await queue.put(item)
            await queue.put(_End())
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            await queue.put(exc)

    def tick() -> None:
        nonlocal last, timer
        now = loop.time()
        if now - last >= interval and queue.empty():
            last = now
            queue.put_nowait(SILENCE)
        timer = loop.call_later(interval / 2, tick)

    reader = asyncio.ensure_future(read())
    timer = loop.call_later(interval / 2, tick)
    try:
        while True:
            item = await queue.get()
            if isinstance(item, _End):
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        timer.cancel()
        if not reader.done():
            reader.cancel()
        with contextlib.suppress(BaseException):
            await reader


CLIENT_LEFT: Any = object()  # what `unless_client_leaves` returns when the client left


async def unless_client_leaves(receive: Receive, work: Awaitable[T]) -> T:
    """`work`'s result, or CLIENT_LEFT with `work` cancelled once the client disconnects
    (`receive` says `http.disconnect`, or fails).

    `work` runs in the caller's own task, and one watcher task beside it cancels that task
    when the client leaves: running `work` in a task of its own and waiting on both (as
    this did before) cost a task, an asyncio.wait and a loop turn before the first byte,
    on every call. The watcher is cancelled, not awaited, when `work` ends: awaiting it
    would cost another turn before the answer goes out."""
    current = asyncio.current_task()
    assert current is not None
    left = finished = False

    async def disconnected() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    def client_left(watcher: asyncio.Future[None]) -> None:
        nonlocal left
        if watcher.cancelled():
            return  # stopped by us: `work` is over
        watcher.exception()  # retrieved: a failing receive() counts as the client gone
        # This runs a loop turn after the watcher ended: by then `work` may be over too.
        if not finished:
            left = True
            current.cancel()

    watcher = asyncio.ensure_future(disconnected())
    watcher.add_done_callback(client_left)
    try:
        return await work
    except asyncio.CancelledError:
        if left:
            left = False
            if current.uncancel() == 0:  # the watcher's cancel, nobody else's
                return CLIENT_LEFT  # type: ignore[no-any-return]
        raise
    finally:
        finished = True
        if left:
            current.uncancel()  # `work` ended despite the cancel: take it back
        watcher.cancel()


class StreamOut:
    """A streaming ASGI response. A client disconnect cancels the producer (and so the
    upstream request it is reading); `on_close` runs however the stream ended."""

    def __init__(
        self,
        status: int,
        headers: list[tuple[bytes, bytes]],
        body: AsyncIterator[bytes],
        on_close: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self.on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def pump() -> None:
            await send(
                {"type": "http.response.start", "status": self.status, "headers": self.headers}
            )
            async for chunk in self.body:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})

        try:
            with contextlib.suppress(OSError):
                await unless_client_leaves(receive, pump())
        finally:
            aclose = getattr(self.body, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()
            if self.on_close is not None:
                await self.on_close()
