"""In-process fan-out of logged events to the connections that follow them.

Publishing never waits on a slow reader: each subscriber has a bounded queue, and one that
falls too far behind is cut off. It loses nothing by that, since the event log is durable:
it reconnects with its last cursor and the relay replays the rest.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field

from tether.relay.event import WireEvent

QUEUE_LIMIT = 10_000
# The bytes a follower may have queued (events are shared, but a slow follower alone can
# keep old large ones alive); over it, it is cut off like one over QUEUE_LIMIT.
QUEUE_BYTES = 32 * 1024 * 1024
# The most a follower takes in one go. A slow reader's backlog then waits here, as shared
# WireEvent objects under the queue bounds, rather than as its own bytes in its transport
# buffer; and the batch it writes as one buffer stays small.
BATCH_LIMIT = 100
BATCH_BYTES = 1024 * 1024


def event_size(event: WireEvent) -> int:
    return len(event.data_json)


def byte_chunks(events: list[WireEvent], limit: int = BATCH_BYTES) -> list[list[WireEvent]]:
    """`events` in runs of at most `limit` bytes (a larger event alone), for writing."""
    chunks: list[list[WireEvent]] = []
    size = 0
    for event in events:
        grow = event_size(event)
        if not chunks or size + grow > limit:
            chunks.append([])
            size = 0
        chunks[-1].append(event)
        size += grow
    return chunks


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


@dataclass(eq=False)
class Subscription:
    """One follower's queue. Not an asyncio.Queue: a follower waits on one future with a
    timer for its ping, where Queue.get under wait_for costs a Task per event; and it takes
    everything queued at once, so a follower that fell behind catches up in one write."""

    session_id: str | None
    byte_limit: int = QUEUE_BYTES
    _bytes: int = 0
    _events: deque[WireEvent | None] = field(default_factory=deque)
    _waiter: asyncio.Future[None] | None = None

    def put(self, event: WireEvent | None) -> bool:
        """Queue an event; False when the queue is full, by count or by bytes (one event
        alone is always taken, however large)."""
        if event is not None:
            size = event_size(event)
            if len(self._events) >= QUEUE_LIMIT or (
                self._events and self._bytes + size > self.byte_limit
            ):
                return False
            self._bytes += size
        self._events.append(event)
        if self._waiter is not None:
            _wake(self._waiter)
        return True

    async def wait(self, timeout: float | None) -> list[WireEvent | None]:
        """What is queued (up to BATCH_LIMIT events and about BATCH_BYTES), once there is
        something; [] when
        `timeout` seconds pass first. A None in the batch means the subscription was cut
        off for falling behind: its follower should reconnect with its cursor."""
        if not self._events:
            loop = asyncio.get_running_loop()
            waiter = self._waiter = loop.create_future()
            timer = None if timeout is None else loop.call_later(timeout, _wake, waiter)
            try:
                await waiter
            finally:
                self._waiter = None
                if timer is not None:
                    timer.cancel()
        events = self._events
        batch: list[WireEvent | None] = []
        size = 0
        while events and len(batch) < BATCH_LIMIT:
            event = events[0]
            grow = 0 if event is None else event_size(event)
            if batch and size + grow > BATCH_BYTES:
                break
            batch.append(events.popleft())
            size += grow
        self._bytes -= size
        return batch

    def clear(self) -> None:
        self._events.clear()
        self._bytes = 0


class Bus:
    def __init__(self, byte_limit: int = QUEUE_BYTES) -> None:
        self.byte_limit = byte_limit
        self._subscribers: set[Subscription] = set()
        self.closing = False

    def subscribe(self, session_id: str | None = None) -> Subscription:
        sub = Subscription(session_id, self.byte_limit)
        if self.closing:
            sub.put(None)
        else:
            self._subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subscribers.discard(sub)

    def close_all(self) -> None:
        """End every subscription (the server is stopping): streams finish at once instead
        of holding the shutdown until its grace period runs out."""
        self.closing = True
        for sub in tuple(self._subscribers):
            self._cut_off(sub)

    def end(self, sub: Subscription) -> None:
        """End one subscription now (its token was revoked): its follower stops."""
        self._cut_off(sub)

    def _cut_off(self, sub: Subscription) -> None:
        self._subscribers.discard(sub)
        # Drop what it has not read and wake it with the end sentinel: it resumes from
        # its last cursor, so dropping here loses nothing.
        sub.clear()
        sub.put(None)

    def publish(self, events: list[WireEvent]) -> None:
        for event in events:
            for sub in tuple(self._subscribers):
                if sub.session_id is not None and sub.session_id != event.session_id:
                    continue
                if not sub.put(event):
                    self._cut_off(sub)
