"""Live events for relays that share one PostgreSQL database.

Several `tether serve` processes may write to the same database. Each one must deliver
every event to its own subscribers, in cursor order, whichever process wrote it. So on
PostgreSQL the bus is fed from the event log itself rather than by the writer: every
writing transaction sends `NOTIFY tether_events` (delivered at commit), and each process
reads the log after the last id it published and publishes what it finds. Writers commit
in id order (see the advisory lock in store/db.py), so reading "after the last id" never
skips a row. A slow poll backs the notifications up, so a lost listener connection
delays events by at most a second instead of losing them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from tether.relay.bus import Bus
from tether.relay.store import Store

log = logging.getLogger("tether.relay.feed")

CHANNEL = "tether_events"
SAFETY_POLL_SECONDS = 1.0
PAGE = 1000


class LogFeed:
    def __init__(self, store: Store, bus: Bus, database_url: str) -> None:
        self.store = store
        self.bus = bus
        self.database_url = database_url
        self.last_id = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._listener: Any = None

    async def start(self) -> None:
        self.last_id = await self.store.last_event_id()
        await self._listen()
        self._task = asyncio.create_task(self._run(), name="relay-log-feed")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._close_listener()

    def poke(self) -> None:
        """A write in this process committed: look at the log now."""
        self._wake.set()

    async def _listen(self) -> None:
        import asyncpg

        try:
            self._listener = await asyncpg.connect(self.database_url)
            await self._listener.add_listener(CHANNEL, self._on_notify)
        except (OSError, asyncpg.PostgresError) as exc:
            log.warning(
                "cannot LISTEN for events (%s); polling every %.0f s", exc, SAFETY_POLL_SECONDS
            )
            await self._close_listener()

    async def _close_listener(self) -> None:
        if self._listener is not None:
            with contextlib.suppress(Exception):
                await self._listener.close()
            self._listener = None

    def _on_notify(self, *_: Any) -> None:
        self._wake.set()

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), SAFETY_POLL_SECONDS)
            self._wake.clear()
            try:
                await self._drain()
                if self._listener is None or self._listener.is_closed():
                    await self._close_listener()
                    await self._listen()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reading the event log failed; retrying")

    async def _drain(self) -> None:
        while True:
            events = await self.store.events_after(self.last_id, None, PAGE)
            if not events:
                return
            self.bus.publish(events)
            self.last_id = events[-1].id or self.last_id
            if len(events) < PAGE:
                return
