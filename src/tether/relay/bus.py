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
# The most a follower takes in one go. A slow reader's backlog then waits here, as shared
# WireEvent objects under QUEUE_LIMIT, rather than as its own bytes in its transport buffer.
BATCH_LIMIT = 100


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


@dataclass(eq=False)
class Subscription:
    """One follower's queue. Not an asyncio.Queue: a follower waits on one future with a
    timer for its ping, where Queue.get under wait_for costs a Task per event; and it takes
    everything queued at once, so a follower that fell behind catches up in one write."""

    session_id: str | None
    overflowed: bool = False
    _events: deque[WireEvent | None] = field(default_factory=deque)
    _waiter: asyncio.Future[None] | None = None

    def put(self, event: WireEvent | None) -> bool:
        """Queue an event; False when the queue is full."""
        if len(self._events) >= QUEUE_LIMIT and event is not None:
            return False
        self._events.append(event)
        if self._waiter is not None:
            _wake(self._waiter)
        return True

    async def wait(self, timeout: float | None) -> list[WireEvent | None]:
        """What is queued (up to BATCH_LIMIT events), once there is something; [] when
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
        if len(events) <= BATCH_LIMIT:
            batch = list(events)
            events.clear()
            return batch
        return [events.popleft() for _ in range(BATCH_LIMIT)]

    def clear(self) -> None:
        self._events.clear()


class Bus:
    def __init__(self) -> None:
        self._subscribers: set[Subscription] = set()
        self.closing = False

    def subscribe(self, session_id: str | None = None) -> Subscription:
        sub = Subscription(session_id)
        if self.closing:
            sub.overflowed = True
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

    def _cut_off(self, sub: Subscription) -> None:
        sub.overflowed = True
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
