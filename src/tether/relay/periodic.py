"""The relay's background loops: a step run every so often until the relay stops.

Revocation, the lease sweep and retention each poll the store on a timer. A step that
fails (a database briefly unreachable, a lock timeout) is logged and tried again at the
next tick: one bad pass must not end the loop for the life of the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable


async def cancel(task: asyncio.Task[None] | None) -> None:
    """Cancel a background task and wait until it has ended."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


class Periodic:
    """Runs `step` every `every` seconds: after the first wait, or at once when
    `at_start` (a pass that has work left from before the process started)."""

    def __init__(
        self,
        name: str,
        every: float,
        step: Callable[[], Awaitable[object]],
        log: logging.Logger,
        failure: str,
        *,
        at_start: bool = False,
    ) -> None:
        self.name = name
        self.every = every
        self.step = step
        self.log = log
        self.failure = failure
        self.at_start = at_start
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        await cancel(self._task)
        self._task = None

    async def _run(self) -> None:
        if not self.at_start:
            await asyncio.sleep(self.every)
        while True:
            try:
                await self.step()
            except asyncio.CancelledError:
                raise
            except Exception:
                self.log.exception(self.failure)
            await asyncio.sleep(self.every)
