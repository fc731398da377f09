"""Retention: ended sessions are deleted some time after their last activity.

Off unless `retention.ended_after` is set. Every `retention.interval` seconds a pass
deletes the sessions that ended and were last active more than `ended_after` seconds ago,
with their messages, permission requests, flows and events (store.prune), then gives the
freed space back (store.compact). Every relay process may run it; the deletes are
idempotent. A stream resumed from a cursor older than what retention kept starts with a
`reset` (relay/stream.py), since events after that cursor may be gone.
"""

from __future__ import annotations

import logging
import time

from tether.config import Retention
from tether.relay.periodic import Periodic
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
        self.policy = policy
        self._loop = Periodic(
            "relay-retention",
            policy.interval,
            lambda: run_once(store, policy),
            log,
            "retention pass failed; trying again next interval",
            at_start=True,
        )

    def start(self) -> None:
        if self.policy.ended_after is not None:
            self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()
