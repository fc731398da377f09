"""Several relay processes on one PostgreSQL database act as one relay."""

from __future__ import annotations

import asyncio

import pytest

from tests.relay.support import aclient, message, new_session, open_sse, permission


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_a_client_of_one_process_sees_writes_made_through_another(server_factory) -> None:
    # Servers are made outside the event loop: the factory creates a database with asyncio.run.
    first = server_factory(process=True)
    second = server_factory(process=True, token=first.token)
    asyncio.run(_follow_one_write_through_the_other(first, second))


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
            seen = await stream.take(12)

    ids = [e.id for e in seen]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert [e.data["content"]["text"] for e in seen[:10]] == [str(i) for i in range(10)]
    assert [e.event for e in seen[10:]] == ["permission_request", "permission_resolved"]
