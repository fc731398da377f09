"""In-process fan-out of logged events to the connections that follow them.

Publishing never waits on a slow reader: a follower that falls too far behind is cut
off. It loses nothing by that, since the event log is durable: it reconnects with its last
cursor and the relay replays the rest.

The work of fanning out is paid once per event, not once per event per follower (the
profile of issue 16 found the per-follower queues were a third of the relay's CPU at
its ceiling). Followers of the same session share one channel: a published event is
appended to it once, and each follower only keeps its position in it. What a follower
takes is a `Batch` that every follower taking the same run of events shares, so the SSE
bytes of the run are joined once. And followers are woken by a flush rather than by
each publish: one flush wakes each follower once for whatever was published since the
last, and a flush that woke many followers is spaced from the next (FLUSH_SPACING), so
under load each follower writes fewer, larger batches instead of one per commit.
"""

from __future__ import annotations

import asyncio

from tether.relay.event import WireEvent
from tether.sse_wire import SSEWire, chunk

QUEUE_LIMIT = 10_000
# The bytes a follower may have waiting (events are shared, but a slow follower alone can
# keep old large ones alive); over it, it is cut off like one over QUEUE_LIMIT.
QUEUE_BYTES = 32 * 1024 * 1024
# The most a follower takes in one go. A slow reader's backlog then waits here, as shared
# WireEvent objects under the queue bounds, rather than as its own bytes in its transport
# buffer; and the batch it writes as one buffer stays small.
BATCH_LIMIT = 100
BATCH_BYTES = 1024 * 1024
# After a flush that woke N followers the next waits at least N × FLUSH_SPACING seconds
# (at most FLUSH_SPACING_MAX): waking a follower costs a task switch and a write to its
# socket, so this bounds that work to a share of the CPU whatever the publish rate, while
# a lone event, or events for few followers, still go out at once. 100 followers under a
# steady stream: a batch every 5 ms at most, which is all the latency it adds.
FLUSH_SPACING = 50e-6
FLUSH_SPACING_MAX = 0.02


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


class Batch(list[WireEvent]):
    """A run of published events as a follower takes it: followers that take the same run
    get the same Batch, so its SSE bytes are joined once for all of them."""

    __slots__ = ("_chunk", "_sse")

    def __init__(self, events: list[WireEvent]) -> None:
        super().__init__(events)
        self._sse: bytes | None = None
        self._chunk: bytes | None = None

    @property
    def sse(self) -> bytes:
        if self._sse is None:
            self._sse = self[0].sse if len(self) == 1 else b"".join(e.sse for e in self)
        return self._sse

    @property
    def chunk(self) -> bytes:
        """The SSE bytes as one HTTP chunk, for followers written to directly."""
        if self._chunk is None:
            self._chunk = chunk(self.sse)
        return self._chunk


def sse_bytes(events: list[WireEvent]) -> bytes:
    """The SSE frames of `events`, shared when they are a Batch taken whole."""
    if isinstance(events, Batch):
        return events.sse
    return events[0].sse if len(events) == 1 else b"".join(e.sse for e in events)


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class _Channel:
    """The events published for one session (or for all: key None) that some follower has
    yet to take, in order. Event number `base + i` is `events[i]`, and `starts[i]` counts
    the bytes published before it, so a follower's backlog in bytes is one subtraction."""

    def __init__(self, key: str | None) -> None:
        self.key = key
        self.events: list[WireEvent] = []
        self.starts: list[int] = []
        self.base = 0
        self.end = 0  # base + len(events): the number the next event gets
        self.total = 0
        self.subs: set[Subscription] = set()
        self._last: Batch | None = None
        self._last_start = -1

    def append(self, event: WireEvent) -> None:
        self.events.append(event)
        self.starts.append(self.total)
        self.total += event_size(event)
        self.end += 1

    def behind(self, position: int, byte_limit: int) -> bool:
        """Whether a follower at `position` has more waiting than it may: over QUEUE_LIMIT
        events, or over `byte_limit` bytes (one event alone is always taken)."""
        waiting = self.end - position
        return waiting > 1 and (
            waiting > QUEUE_LIMIT or self.total - self.starts[position - self.base] > byte_limit
        )

    def take(self, position: int) -> Batch:
        """The events from `position` on, at most BATCH_LIMIT and about BATCH_BYTES (one
        event alone however large). A follower that takes from where the last one took
        gets the same Batch (perhaps shorter than what is there now: it takes the rest on
        its next call), so caught-up followers share one run of bytes."""
        if position == self._last_start and self._last is not None:
            return self._last
        i = position - self.base
        stop = min(len(self.events), i + BATCH_LIMIT)
        starts, count, first = self.starts, len(self.events), self.starts[i]
        j = i + 1  # events[i:j] is the batch; one more while they fit in BATCH_BYTES
        while j < stop and (starts[j + 1] if j + 1 < count else self.total) - first <= BATCH_BYTES:
            j += 1
        batch = Batch(self.events[i:j])
        self._last, self._last_start = batch, position
        return batch

    def trim(self) -> None:
        """Forget the events every follower has taken."""
        low = min((sub.position for sub in self.subs), default=self.end)
        drop = low - self.base
        if drop > 0:
            del self.events[:drop]
            del self.starts[:drop]
            self.base = low


class Subscription:
    """One follower: its position in its channel. It waits on one future with a timer for
    its ping, and takes everything published since (up to BATCH_LIMIT) at once, so a
    follower that fell behind catches up in one write."""

    def __init__(self, bus: Bus, channel: _Channel | None, byte_limit: int) -> None:
        self.session_id = None if channel is None else channel.key
        self.byte_limit = byte_limit
        self.overflowed = False
        self._bus = bus
        self._channel = channel
        self.position = 0 if channel is None else channel.end
        self._ended = channel is None
        self._waiter: asyncio.Future[None] | None = None
        # Set by an SSE follower once it is live and takes every event as published: the
        # flush then writes its events to this wire itself while it waits (see flush).
        self.wire: SSEWire | None = None

    def _ready(self) -> bool:
        return self._ended or (self._channel is not None and self.position < self._channel.end)

    def _end(self) -> None:
        self._ended = True
        self._channel = None
        if self._waiter is not None:
            _wake(self._waiter)

    def _wake(self) -> None:
        if self._waiter is not None:
            _wake(self._waiter)

    async def wait(self, timeout: float | None) -> list[WireEvent | None]:
        """What was published since the last call (up to BATCH_LIMIT events and about
        BATCH_BYTES), once there is something; [] when `timeout` seconds pass first. [None]
        means the subscription was cut off (it fell behind, its token was revoked or the
        server is stopping): its follower should reconnect with its cursor."""
        if not self._ready():
            loop = asyncio.get_running_loop()
            waiter = self._waiter = loop.create_future()
            timer = None if timeout is None else loop.call_later(timeout, _wake, waiter)
            try:
                await waiter
            finally:
                self._waiter = None
                if timer is not None:
                    timer.cancel()
        if self._ended:
            return [None]
        channel = self._channel
        if channel is None or self.position >= channel.end:
            return []
        batch = channel.take(self.position)
        self.position += len(batch)
        return batch  # type: ignore[return-value]


class Bus:
    def __init__(self, byte_limit: int = QUEUE_BYTES) -> None:
        self.byte_limit = byte_limit
        self._channels: dict[str | None, _Channel] = {}
        self._dirty: set[_Channel] = set()
        self._flush: asyncio.TimerHandle | asyncio.Handle | None = None
        self._next_flush = 0.0
        self.closing = False

    def subscribe(self, session_id: str | None = None) -> Subscription:
        if self.closing:
            sub = Subscription(self, None, self.byte_limit)
            sub.overflowed = True
            return sub
        channel = self._channels.get(session_id)
        if channel is None:
            channel = self._channels[session_id] = _Channel(session_id)
        sub = Subscription(self, channel, self.byte_limit)
        channel.subs.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        channel = sub._channel
        if channel is None:
            return
        channel.subs.discard(sub)
        if not channel.subs and self._channels.get(channel.key) is channel:
            del self._channels[channel.key]
            self._dirty.discard(channel)
        sub._channel = None
        sub._ended = True

    def close_all(self) -> None:
        """End every subscription (the server is stopping): streams finish at once instead
        of holding the shutdown until its grace period runs out."""
        self.closing = True
        for channel in tuple(self._channels.values()):
            for sub in tuple(channel.subs):
                self._cut_off(sub)

    def end(self, sub: Subscription) -> None:
        """End one subscription now (its token was revoked): its follower stops."""
        self._cut_off(sub)

    def _cut_off(self, sub: Subscription) -> None:
        # What it has not taken is dropped with its position: it resumes from its last
        # cursor, so dropping here loses nothing.
        sub.overflowed = True
        self.unsubscribe(sub)
        sub._end()

    def publish(self, events: list[WireEvent]) -> None:
        channels = self._channels
        if not channels or not events:
            return
        everything = channels.get(None)
        dirty = self._dirty
        for event in events:
            if everything is not None:
                everything.append(event)
                dirty.add(everything)
            if event.session_id is not None:
                channel = channels.get(event.session_id)
                if channel is not None:
                    channel.append(event)
                    dirty.add(channel)
        if dirty and self._flush is None:
            loop = asyncio.get_running_loop()
            if self._next_flush <= loop.time():
                self._flush = loop.call_soon(self._run_flush)
            else:
                self._flush = loop.call_at(self._next_flush, self._run_flush)

    def _run_flush(self) -> None:
        """Wake the followers of every channel published to since the last flush; cut off
        those too far behind; forget what all have taken."""
        self._flush = None
        dirty, self._dirty = self._dirty, set()
        woken = 0
        for channel in dirty:
            for sub in tuple(channel.subs):
                if channel.behind(sub.position, sub.byte_limit):
                    self._cut_off(sub)
                    continue
                waiter = sub._waiter
                if waiter is None or waiter.done():
                    continue  # busy: it takes what is new when it next waits
                woken += 1
                # A follower waiting has written all it took, so writing the next events
                # for it keeps its order. The wire declines a slow or closed connection:
                # then its task writes, through ASGI and its flow control.
                if sub.wire is not None and sub.position < channel.end:
                    batch = channel.take(sub.position)
                    if sub.wire.write(batch.chunk):
                        sub.position += len(batch)
                        if sub.position >= channel.end:
                            continue
                sub._wake()
            channel.trim()
        loop = asyncio.get_running_loop()
        self._next_flush = loop.time() + min(FLUSH_SPACING_MAX, woken * FLUSH_SPACING)
