"""The bus that fans events out to the followers in one process: each event is kept once
per channel (its session, and all sessions) and shared; what is published before a flush
reaches a follower as one batch; a follower takes at most a batch at a time and resumes
exactly where it stopped; one that falls too far behind is cut off alone; and a live
follower's events may be written to its connection by the flush itself, in order with
what its own task writes."""

from __future__ import annotations

import asyncio

from tether.relay.bus import BATCH_LIMIT, Batch, Bus
from tether.relay.event import WireEvent
from tether.sse_wire import chunk

_ids = iter(range(1, 1_000_000))


def ev(session: str | None, text: str = "x") -> WireEvent:
    return WireEvent(next(_ids), "message", session, {"text": text})


async def settle() -> None:
    """Let the flush run (it is scheduled with call_soon, or a few ms later under load)."""
    for _ in range(3):
        await asyncio.sleep(0.03)


def ids(events) -> list[int]:
    return [e.id for e in events]


async def test_followers_of_a_session_share_each_batch() -> None:
    bus = Bus()
    a1, a2, everything, b = (
        bus.subscribe("a"),
        bus.subscribe("a"),
        bus.subscribe(),
        bus.subscribe("b"),
    )
    first = [ev("a"), ev("b"), ev("a")]
    second = [ev("a")]
    bus.publish(first)
    bus.publish(second)
    got1, got2 = await a1.wait(1), await a2.wait(1)
    assert isinstance(got1, Batch) and got1 is got2
    assert ids(got1) == [first[0].id, first[2].id, second[0].id]
    assert got1.sse == b"".join(e.sse for e in got1)
    assert ids(await everything.wait(1)) == ids(first + second)
    assert ids(await b.wait(1)) == [first[1].id]
    assert await b.wait(0.01) == []  # nothing more: it times out empty


async def test_publishes_before_a_flush_reach_a_waiting_follower_as_one_batch() -> None:
    bus = Bus()
    sub = bus.subscribe("a")
    waiting = asyncio.create_task(sub.wait(5))
    await asyncio.sleep(0)  # parked
    events = [ev("a", str(i)) for i in range(5)]
    for event in events:
        bus.publish([event])
    assert ids(await waiting) == ids(events)


async def test_a_follower_takes_at_most_a_batch_and_resumes_exactly() -> None:
    bus = Bus()
    sub = bus.subscribe("a")
    events = [ev("a") for _ in range(2 * BATCH_LIMIT + 50)]
    bus.publish(events)
    taken = [await sub.wait(1) for _ in range(3)]
    assert [len(t) for t in taken] == [BATCH_LIMIT, BATCH_LIMIT, 50]
    assert [e.id for t in taken for e in t] == ids(events)
    # A follower that subscribes now starts after them.
    late = bus.subscribe("a")
    more = ev("a")
    bus.publish([more])
    assert ids(await late.wait(1)) == [more.id]


async def test_a_follower_too_far_behind_is_cut_off_alone() -> None:
    bus = Bus(byte_limit=1000)
    slow, reader = bus.subscribe("a"), bus.subscribe("a")
    got: list[int] = []
    for i in range(20):
        event = ev("a", "y" * 200)
        bus.publish([event])
        await settle() if i == 0 else await asyncio.sleep(0)
        got.extend(ids(await reader.wait(1)))
    await settle()
    assert await slow.wait(1) == [None] and slow.overflowed
    assert len(got) == 20 and got == sorted(got)
    # The cut-off follower's events are forgotten once the others took them.
    bus.publish([ev("a")])
    await settle()
    assert len(await reader.wait(1)) == 1


class Connection:
    """Stands in for a follower's socket: records the chunks written to it, or declines
    them (a full buffer, a closed connection)."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.accepting = True

    def write(self, framed: bytes) -> bool:
        if self.accepting:
            self.chunks.append(framed)
        return self.accepting


async def test_a_waiting_follower_is_written_directly_in_order_with_its_own_writes() -> None:
    bus = Bus()
    sub = bus.subscribe("a")
    connection = Connection()
    sub.wire = connection  # type: ignore[assignment]
    waiting = asyncio.create_task(sub.wait(5))
    await asyncio.sleep(0)
    direct = [ev("a", str(i)) for i in range(3)]
    bus.publish(direct)
    await settle()
    # The flush wrote them as one chunk and left the follower waiting.
    assert connection.chunks == [chunk(b"".join(e.sse for e in direct))]
    assert not waiting.done()
    # A connection that declines: the follower's task is woken and takes them itself.
    connection.accepting = False
    declined = [ev("a", "d1"), ev("a", "d2")]
    bus.publish(declined)
    assert ids(await waiting) == ids(declined)
    # A follower busy writing (not waiting) is never written to under it.
    connection.accepting = True
    busy = ev("a", "busy")
    bus.publish([busy])
    await settle()
    assert len(connection.chunks) == 1
    assert ids(await sub.wait(1)) == [busy.id]


async def test_ending_a_subscription_wakes_it_with_the_end_mark() -> None:
    bus = Bus()
    sub = bus.subscribe("a")
    waiting = asyncio.create_task(sub.wait(5))
    await asyncio.sleep(0)
    bus.end(sub)
    assert await waiting == [None]
    bus.close_all()
    assert await bus.subscribe("a").wait(1) == [None]
