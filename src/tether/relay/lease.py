"""The runner's lease on its session: how the relay knows an agent is still there.

A runner follows its session's events with `runner=1`; that stream holds the lease. It is
renewed as the stream carries anything (at least a ping every `ping_interval`), so the
heartbeat is the connection the runner already has. When the stream closes (the runner
exits, is killed, or its network drops) the lease is dropped at once; when it is not
renewed within LEASE_PINGS ping intervals (a vanished machine, a half-open connection) a
sweep drops it. Either way the session is announced again with `agent_online: false`,
and every view shows "agent offline". Guarded updates make several relays sharing one
database announce each change once.
"""

from __future__ import annotations

import logging
import secrets
import time

from tether.relay.periodic import Periodic
from tether.relay.store import Store

log = logging.getLogger("tether.relay.lease")

LEASE_PINGS = 3  # missed renewals before a lease lapses


class Leases:
    def __init__(self, store: Store, ping_interval: float) -> None:
        self.store = store
        self.ttl = LEASE_PINGS * ping_interval
        self._sweeper = Periodic(
            "runner-leases",
            ping_interval,
            self.sweep,
            log,
            "runner lease sweep failed; trying again",
        )

    def start(self) -> None:
        self._sweeper.start()

    async def stop(self) -> None:
        await self._sweeper.stop()

    async def hold(self, session_id: str) -> str:
        holder = "lease_" + secrets.token_hex(8)
        until = time.time() + self.ttl
        await self.store.write(lambda tx: self.store.hold_lease(tx, session_id, holder, until))
        return holder

    async def renew(self, session_id: str, holder: str) -> None:
        until = time.time() + self.ttl
        if await self.store.renew_lease(session_id, holder, until):
            return
        # The sweep dropped it while this stream was stalled (or a relay's clock runs
        # ahead), yet the stream is alive: take it back, unless a newer one holds it.
        await self.store.write(
            lambda tx: self.store.hold_lease(tx, session_id, holder, until, only_if_free=True)
        )

    async def release(self, session_id: str, holder: str) -> None:
        now = time.time()
        await self.store.write(lambda tx: self.store.drop_lease(tx, session_id, holder, now))

    async def sweep(self) -> None:
        """Drop the leases nobody renewed in time."""
        now = time.time()
        for session_id in await self.store.lapsed_leases(now):
            await self.store.write(
                lambda tx, s=session_id, t=now: self.store.drop_lease(tx, s, None, t)
            )
