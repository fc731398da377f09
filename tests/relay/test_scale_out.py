"""Several relay processes on one PostgreSQL database act as one relay."""

from __future__ import annotations

import asyncio

import pytest

from tests.relay.support import aclient, message, new_session, open_sse, permission


def two_processes(server_factory):
    """Two `tether serve` processes on one database. Servers are made outside the event
    loop: the factory creates a database with asyncio.run."""
    first = server_factory(process=True)
    return first, server_factory(process=True, token=first.token)


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_a_client_of_one_process_sees_writes_made_through_another(server_factory) -> None:
    asyncio.run(_follow_one_write_through_the_other(*two_processes(server_factory)))


async def _follow_one_write_through_the_other(first, second) -> None:
    async with aclient(first) as a, aclient(second) as b:
        session = await new_session(a, title="shared")
        # Both processes read the same session...
        assert (await b.get(f"/api/v1/sessions/{session['id']}")).json()["title"] == "shared"

        # ...and a follower of the second gets, live and in order, what either writes.
        async with open_sse(b, "/api/v1/events", params={"session": session["id"]}) as stream:
            for i in range(10):
                writer = a if i % 2 == 0 else b
                posted = await writer.post(
                    f"/api/v1/sessions/{session['id']}/messages", json=message(str(i), id=f"m{i}")
                )
                assert posted.status_code == 201
            opened = (
                await a.post(f"/api/v1/sessions/{session['id']}/permissions", json=permission())
            ).json()
            answered = await b.post(
                f"/api/v1/permissions/{opened['id']}/respond", json={"behavior": "allow"}
            )
            assert answered.status_code == 200
            late = await a.post(
                f"/api/v1/permissions/{opened['id']}/respond", json={"behavior": "deny"}
            )
            assert late.status_code == 409
            # Too large for a notification: the other process reads it from the log.
            large = message("x" * 9000, id="large")
            assert (
                await a.post(f"/api/v1/sessions/{session['id']}/messages", json=large)
            ).is_success
            seen = await stream.take(13)

    ids = [e.id for e in seen]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert [e.data["content"]["text"] for e in seen[:10]] == [str(i) for i in range(10)]
    assert [e.event for e in seen[10:12]] == ["permission_request", "permission_resolved"]
    assert seen[12].data["content"]["text"] == "x" * 9000


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_two_processes_writing_one_session_at_once_agree(server_factory) -> None:
    asyncio.run(_write_through_both_at_once(*two_processes(server_factory)))


async def _write_through_both_at_once(first, second) -> None:
    async with aclient(first) as a, aclient(second) as b:
        sid = (await new_session(a))["id"]
        async with (
            open_sse(a, "/api/v1/events", params={"session": sid}) as on_first,
            open_sse(b, "/api/v1/events", params={"session": sid}) as on_second,
        ):

            async def post(client, i: int):
                path = f"/api/v1/sessions/{sid}/messages"
                return await client.post(path, json=message(str(i), id=f"m{i}"))

            # Every id goes to both processes at once: each is stored once.
            results = await asyncio.gather(
                *(post(a, i) for i in range(40)), *(post(b, i) for i in range(40))
            )
            seen_first = await on_first.take(40)
            seen_second = await on_second.take(40)
        listed = await b.get(f"/api/v1/sessions/{sid}/messages", params={"limit": 100})
        history = listed.json()["messages"]

    assert all(r.status_code == 201 for r in results)
    by_id = {}
    for r in results:
        stored = r.json()
        assert by_id.setdefault(stored["id"], stored["seq"]) == stored["seq"]
    assert sorted(by_id.values()) == list(range(1, 41))
    assert [m["seq"] for m in history] == list(range(1, 41))
    for seen in (seen_first, seen_second):
        ids = [e.id for e in seen]
        assert ids == sorted(ids) and len(set(ids)) == len(ids)
        assert [e.data["seq"] for e in seen] == list(range(1, 41))
    assert [e.id for e in seen_first] == [e.id for e in seen_second]
