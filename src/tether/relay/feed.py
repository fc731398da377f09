"""Live events for relays that share one PostgreSQL database.

Several `tether serve` processes may write to the same database. Each one must deliver
every event to its own subscribers, in cursor order, whichever process wrote it. Events
get their ids and commit under one lock (store/store.py), so commit order is id order, and
each commit announces itself with `NOTIFY tether_events, 'FIRST LAST [events]'`: its id
range and, when they fit in a notification, the events themselves. So this feed learns of
every commit without reading the log: this process's own commits straight from its writer
(`committed`), other processes' from their notifications, and it publishes them in id
order as soon as the ids below are accounted for.

It reads the log only to fill a hole: a commit whose events did not fit in its
notification, or ids below a known commit that nothing announced (a notification still on
its way, one lost while the listener reconnected, or ids a failed commit drew). Since
commit order is id order, once a commit is known every lower id is final, so that read
never misses a late commit. A slow poll backs it all up, so a lost listener delays events
by at most a second instead of losing them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from tether.relay.bus import Bus
from tether.relay.event import WireEvent
from tether.relay.periodic import cancel
from tether.relay.store import Store
from tether.relay.store.store import CHANNEL, parse_notification

log = logging.getLogger("tether.relay.feed")

SAFETY_POLL_SECONDS = 1.0
# How long a hole below a known commit may wait for its own notification before the log
# is read for it: the notification usually comes first, as its commit came first.
HOLE_GRACE_SECONDS = 0.01
PAGE = 1000


class LogFeed:
    def __init__(self, store: Store, bus: Bus, database_url: str) -> None:
        self.store = store
        self.bus = bus
        self.database_url = database_url
        self.last_id = 0
        # Commits known but not yet published: first id → (last id, events or None when
        # only the range is known).
        self._known: dict[int, tuple[int, list[WireEvent] | None]] = {}
        self._reading = False
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._listener: Any = None

    async def start(self) -> None:
        self.last_id = await self.store.last_event_id()
        await self._listen()
        self._task = asyncio.create_task(self._run(), name="relay-log-feed")

    async def stop(self) -> None:
        await cancel(self._task)
        await self._close_listener()

    def committed(self, events: list[WireEvent]) -> None:
        """A batch this process's writer committed (ids known, in order)."""
        first, last = events[0].id, events[-1].id
        assert first is not None and last is not None
        self._learn(first, last, events)

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

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        try:
            # Most often our own commit, already published: skip it before parsing it.
            head = payload.split(" ", 2)
            if int(head[1]) <= self.last_id:
                return
            first, last, events = parse_notification(payload)
        except (ValueError, IndexError, TypeError):
            log.warning("ignoring a malformed notification on %s", CHANNEL)
            self._wake.set()
            return
        self._learn(first, last, events)

    def _learn(self, first: int, last: int, events: list[WireEvent] | None) -> None:
        if last <= self.last_id:
            return
        known = self._known.get(first)
        if known is None or known[1] is None:
            self._known[first] = (last, events)
        self._publish_ready()

    def _publish_ready(self) -> None:
        """Publish the known commits that continue the published ids; wake the reader
        when a hole or a range without its events stands in the way."""
        if self._reading:
            return
        while self._known:
            first = min(self._known)
            last, events = self._known[first]
            if last <= self.last_id:
                del self._known[first]
                continue
            if first != self.last_id + 1 or events is None:
                self._wake.set()
                return
            del self._known[first]
            self.bus.publish(events)
            self.last_id = last

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), SAFETY_POLL_SECONDS)
            self._wake.clear()
            try:
                if self._known:
                    await self._fill_hole()
                else:
                    await self._drain()
                if self._listener is None or self._listener.is_closed():
                    await self._close_listener()
                    await self._listen()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reading the event log failed; retrying")

    async def _fill_hole(self) -> None:
        first = min(self._known)
        last, events = self._known[first]
        if first > self.last_id + 1 and events is not None:
            # A hole below a known commit: give its notification a moment to arrive.
            await asyncio.sleep(HOLE_GRACE_SECONDS)
            if not self._known or min(self._known) != first or first <= self.last_id + 1:
                self._publish_ready()
                return
            through = first - 1
        else:
            through = last  # the commit's range came without its events
        await self._read_through(through)
        self._publish_ready()

    async def _read_through(self, through: int) -> None:
        """Publish the logged events in (last_id, through]: all final, since a commit at or
        above `through` is known and commits come in id order."""
        self._reading = True
        try:
            while self.last_id < through:
                events = await self.store.events_between(
                    self.last_id, min(through, self.last_id + PAGE)
                )
                if events:
                    self.bus.publish(events)
                self.last_id = min(through, self.last_id + PAGE)
        finally:
            self._reading = False

    async def _drain(self) -> None:
        """The safety poll: whatever the log holds after what was published."""
        self._reading = True
        try:
            while True:
                events = await self.store.events_after(self.last_id, None, PAGE)
                if not events:
                    return
                self.bus.publish(events)
                self.last_id = events[-1].id or self.last_id
                if len(events) < PAGE:
                    return
        finally:
            self._reading = False
            self._publish_ready()
