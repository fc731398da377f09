"""Retention: ended sessions are deleted some time after their last activity.

Off unless `retention.ended_after` is set. Every `retention.interval` seconds a pass
deletes the sessions that ended and were last active more than `ended_after` seconds ago,
with their messages, permission requests, flows and events (store.prune), then gives the
freed space back (store.compact). Every relay process may run it; the deletes are
idempotent. A stream resumed from a cursor older than what retention kept starts with a
`reset` (relay/stream.py), since events after that cursor may be gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from tether.config import Retention
from tether.relay.store import Store

log = logging.getLogger("tether.relay.retention")


async def run_once(store: Store, policy: Retention, now: float | None = None) -> int:
    """One pass; how many sessions it deleted."""
    if policy.ended_after is None:
        return 0
    cutoff = (time.time() if now is None else now) - policy.ended_after
    deleted = await store.prune(cutoff)
    if deleted:
        log.info("retention deleted %d ended session(s)", deleted)
        if policy.compact:
            await store.compact()
    return deleted


class RetentionTask:
    def __init__(self, store: Store, policy: Retention) -> None:
        self.store = store
        self.policy = policy
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.policy.ended_after is not None:
            self._task = asyncio.create_task(self._loop(), name="relay-retention")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        while True:
            try:
                await run_once(self.store, self.policy)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("retention pass failed; trying again next interval")
            await asyncio.sleep(self.policy.interval)
