"""In-process fan-out of logged events to the connections that follow them.

Publishing never waits on a slow reader: each subscriber has a bounded queue, and one that
falls too far behind is cut off. It loses nothing by that, since the event log is durable:
it reconnects with its last cursor and the relay replays the rest.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from tether.relay.event import Event

QUEUE_LIMIT = 10_000


@dataclass(eq=False)
class Subscription:
    session_id: str | None
    queue: asyncio.Queue[Event | None] = field(
        default_factory=lambda: asyncio.Queue(maxsize=QUEUE_LIMIT))
    overflowed: bool = False

    async def get(self) -> Event | None:
        """The next event; None once the subscription was cut off for falling behind."""
        if self.overflowed and self.queue.empty():
            return None
        return await self.queue.get()


class Bus:
    def __init__(self) -> None:
        self._subscribers: set[Subscription] = set()
        self.closing = False

    def subscribe(self, session_id: str | None = None) -> Subscription:
        sub = Subscription(session_id)
        if self.closing:
            sub.overflowed = True
            sub.queue.put_nowait(None)
        else:
            self._subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subscribers.discard(sub)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

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
        while not sub.queue.empty():
            sub.queue.get_nowait()
        sub.queue.put_nowait(None)

    def publish(self, events: list[Event]) -> None:
        for event in events:
            for sub in tuple(self._subscribers):
                if sub.session_id is not None and sub.session_id != event.session_id:
                    continue
                if sub.overflowed:
                    continue
                try:
                    sub.queue.put_nowait(event)
                except asyncio.QueueFull:
                    self._cut_off(sub)
