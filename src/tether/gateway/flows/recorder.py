"""Capturing flows without slowing the calls they record.

`Recorder.endpoint` wraps a gateway endpoint: it begins a Flow, makes it the current one
(the upstream layer records into it), and, once the answer is known (for a stream: once
it has ended), hands the flow to a bounded queue. One writer task drains the queue in
batches, turns flows into rows on a worker thread (`digest.py`) and gives them to the
sink. A full queue drops the flow and counts it; the call never waits for the store, and
a failing store never fails a call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import Response

from tether.gateway.config import FlowsConfig
from tether.gateway.flows.digest import flow_row
from tether.gateway.flows.flow import CURRENT, Flow
from tether.gateway.streaming import StreamOut

log = logging.getLogger("tether.gateway.flows")

BATCH = 64


class FlowSink(Protocol):
    """Where rows go (the relay's store implements it; the gateway never imports it).

    A row is a dict of the flows table's columns (see `digest.flow_row`)."""

    async def write(self, rows: list[dict[str, Any]]) -> None: ...
    async def prune(self, max_age: float, max_bytes: float) -> int: ...


class Recorder:
    def __init__(self, config: FlowsConfig) -> None:
        self.config = config
        self.sink: FlowSink | None = None
        self.dropped = 0
        self.written = 0
        self.failed = 0
        self._queued_bytes = 0
        self._patterns = [re.compile(p.encode()) for p in config.redact]
        self._queue: asyncio.Queue[Flow] | None = None
        self._writer: asyncio.Task[None] | None = None
        # Nothing can turn capture on for any call: skip all work.
        self._never = (
            config.capture == "off"
            and "full" not in config.providers.values()
            and "metadata" not in config.providers.values()
            and "full" not in config.models.values()
            and "metadata" not in config.models.values()
        )

    @property
    def active(self) -> bool:
        return self._queue is not None

    def stats(self) -> dict[str, int]:
        queued = self._queue.qsize() if self._queue is not None else 0
        return {
            "written": self.written,
            "dropped": self.dropped,
            "failed": self.failed,
            "queued": queued,
        }

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        if self.sink is None or self._never:
            return
        self._queue = asyncio.Queue(self.config.queue_size)
        self._writer = asyncio.create_task(self._write_loop(), name="tether-flows-writer")

    async def stop(self) -> None:
        """Write what is queued (briefly), then stop."""
        if self._writer is None or self._queue is None:
            return
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._queue.join(), timeout=5)
        self._writer.cancel()
        with contextlib.suppress(BaseException):
            await self._writer
        self._writer = None
        self._queue = None

    async def flush(self) -> None:
        """Until every flow queued so far is written (tests, shutdown)."""
        if self._queue is not None:
            await self._queue.join()

    # --- the request's side ----------------------------------------------------------------

    def endpoint(
        self, handler: Callable[[Request], Awaitable[Any]], surface: str
    ) -> Callable[[Request], Awaitable[Any]]:
        async def run(request: Request) -> Any:
            if self._queue is None:
                return await handler(request)
            scope = request.scope
            flow = Flow(
                surface,
                scope["method"],
                scope["path"],
                scope["query_string"].decode("latin-1"),
                scope["headers"],
                mode=self.config.capture,  # until routing names the provider
                state=request.state,
            )
            token = CURRENT.set(flow)
            try:
                result = await handler(request)
            finally:
                CURRENT.reset(token)
            return self._finish(flow, result)

        run.__name__ = getattr(handler, "__name__", "endpoint")
        return run

    def mode(self, provider: str, client_model: str) -> str:
        return self.config.mode_for(provider, client_model)

    def _finish(self, flow: Flow, result: Any) -> Any:
        if flow.mode == "off":
            return result
        if isinstance(result, StreamOut):
            flow.status = result.status
            flow.response_headers = result.headers
            result.body = self._recorded(flow, result.body)
            inner_close = result.on_close

            async def on_close() -> None:
                try:
                    if inner_close is not None:
                        await inner_close()
                finally:
                    self._done(flow)

            result.on_close = on_close
            return result
        if isinstance(result, Response):
            flow.status = result.status_code
            flow.response_headers = result.raw_headers
            body = getattr(result, "body", None)
            if body:
                flow.response_chunks.append(bytes(body))
            if result.status_code == 499:
                flow.error = "the client disconnected before the answer"
        self._done(flow)
        return result

    @staticmethod
    async def _recorded(flow: Flow, body: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        chunks = flow.response_chunks
        try:
            async for chunk in body:
                chunks.append(chunk)
                yield chunk
        finally:
            aclose = getattr(body, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()

    def _done(self, flow: Flow) -> None:
        flow.t_done = time.perf_counter()
        queue = self._queue
        if queue is None:
            return
        flow.size = _held_bytes(flow)
        if self._queued_bytes + flow.size > self.config.queue_bytes:
            self.dropped += 1
            return
        try:
            queue.put_nowait(flow)
        except asyncio.QueueFull:
            self.dropped += 1
            return
        self._queued_bytes += flow.size

    # --- the writer ------------------------------------------------------------------------

    async def _write_loop(self) -> None:
        assert self._queue is not None and self.sink is not None
        queue, sink = self._queue, self.sink
        retention = self.config.retention
        next_prune = time.monotonic()
        while True:
            try:
                first = await asyncio.wait_for(
                    queue.get(), timeout=max(0.0, next_prune - time.monotonic())
                )
            except TimeoutError:
                first = None
            if first is not None:
                await self._write_batch(first)
            if time.monotonic() >= next_prune:
                next_prune = time.monotonic() + retention.every
                try:
                    await sink.prune(retention.max_age, retention.max_bytes)
                except Exception:
                    log.exception("flow retention failed")

    async def _write_batch(self, first: Flow) -> None:
        assert self._queue is not None and self.sink is not None
        queue = self._queue
        batch = [first]
        while len(batch) < BATCH and not queue.empty():
            batch.append(queue.get_nowait())
        try:
            rows = await asyncio.to_thread(self._rows, batch)
            await self.sink.write(rows)
            self.written += len(rows)
        except Exception:
            self.failed += len(batch)
            log.exception("could not store %d flows", len(batch))
        finally:
            for flow in batch:
                self._queued_bytes -= flow.size
                queue.task_done()

    def _rows(self, flows: list[Flow]) -> list[dict[str, Any]]:
        return [flow_row(flow, self.config, self._patterns) for flow in flows]


def _held_bytes(flow: Flow) -> int:
    """What a queued flow keeps in memory (its bodies), roughly."""
    size = len(flow.raw or b"") + sum(map(len, flow.upstream_chunks))
    size += sum(map(len, flow.response_chunks))
    if flow.upstream_request_body is not None and flow.upstream_request_body is not flow.raw:
        size += len(flow.upstream_request_body)
    return size
