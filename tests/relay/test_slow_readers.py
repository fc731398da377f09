"""A follower that does not read is bounded by bytes, not only by event count: once it
has more than `max_stream_buffer_bytes` waiting, its stream is cut off, and it resumes
from its cursor with nothing lost or doubled."""

from __future__ import annotations

import asyncio

import pytest

from tests.relay.support import aclient, message, new_session, open_sse

POSTS = 30
SIZE = 1024 * 1024


async def test_a_slow_reader_is_cut_off_by_bytes_and_resumes_losslessly(server_factory) -> None:
    server = await asyncio.to_thread(
        server_factory, extra_env={"TETHER_MAX_STREAM_BUFFER_BYTES": str(2 * SIZE)}
    )
    async with aclient(server) as writer, aclient(server) as reader:
        sid = (await new_session(writer))["id"]
        async with open_sse(reader, f"/api/v1/events?session={sid}") as stream:
            # The reader reads nothing while 30 MiB are posted (far more than the socket
            # buffers hold), then reads what it was sent until the relay ends the stream.
            for n in range(1, POSTS + 1):
                body = message(f"{n}:" + "x" * SIZE, id=f"m{n}")
                response = await writer.post(f"/api/v1/sessions/{sid}/messages", json=body)
                assert response.status_code == 201, response.text
            received = []
            with pytest.raises(EOFError):
                while True:
                    event = await stream.next()
                    if event.event == "message":
                        received.append(event)
        seqs = [e.data["seq"] for e in received]
        assert seqs == list(range(1, len(seqs) + 1)) and len(seqs) < POSTS
        cursor = received[-1].id if received else 0

        # Resuming from its cursor it gets exactly the rest.
        async with open_sse(
            reader, f"/api/v1/events?session={sid}", headers={"Last-Event-ID": str(cursor)}
        ) as resumed:
            rest = [
                e
                for e in await resumed.until(
                    lambda e: e.event == "message" and e.id is not None and e.data["seq"] == POSTS
                )
                if e.event == "message"
            ]
        assert [e.data["seq"] for e in rest] == list(range(len(seqs) + 1, POSTS + 1))
        assert all(e.data["content"]["text"].startswith(f"{e.data['seq']}:") for e in rest)
