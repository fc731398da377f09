"""The write path under concurrency: writes that arrive together commit together (one
writer per process, group commit), and nothing of what the relay promises bends for it:
gap-free seqs, idempotent ids, first answer wins, every event once and in order. (Two
processes writing at once: test_scale_out.py.)"""

from __future__ import annotations

import asyncio

import httpx

from tests.relay.support import aclient, message, new_session, open_sse, permission


async def test_writes_that_arrive_together_keep_every_promise(server) -> None:
    async with aclient(server) as http:
        session = await new_session(http)
        sid = session["id"]
        opened = (await http.post(f"/api/v1/sessions/{sid}/permissions", json=permission())).json()
        async with open_sse(http, "/api/v1/events", params={"session": sid}) as stream:
            posts = [
                http.post(f"/api/v1/sessions/{sid}/messages", json=message(str(i), id=f"m{i}"))
                for i in range(30)
            ]
            # The same ids again, at the same moment: stored once, answered alike.
            retries = [
                http.post(f"/api/v1/sessions/{sid}/messages", json=message(str(i), id=f"m{i}"))
                for i in range(0, 30, 3)
            ]
            answers = [
                http.post(f"/api/v1/permissions/{opened['id']}/respond", json={"behavior": b})
                for b in ("allow", "deny", "allow")
            ]
            # A write that fails (an unknown session) among them fails alone.
            stray = http.post("/api/v1/sessions/ses_nope/messages", json=message("x"))
            results = await asyncio.gather(*posts, *retries, *answers, stray)
            # The pending request first (the snapshot a new stream starts with), then 31.
            snapshot, *seen = await stream.take(32)

    posted, retried = results[:30], results[30:40]
    answered, lost = results[40:43], results[43]
    assert all(r.status_code == 201 for r in posted + retried)
    seqs = {r.json()["id"]: r.json()["seq"] for r in posted}
    assert sorted(seqs.values()) == list(range(1, 31))
    assert all(r.json()["seq"] == seqs[r.json()["id"]] for r in retried)
    assert sorted(r.status_code for r in answered) == [200, 409, 409]
    assert lost.status_code == 404
    assert snapshot.event == "permission_request" and snapshot.id is None

    ids = [e.id for e in seen]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    messages = [e for e in seen if e.event == "message"]
    assert [e.data["seq"] for e in messages] == list(range(1, 31))
    assert [e.event for e in seen if e.event != "message"] == ["permission_resolved"]


async def test_posts_to_several_sessions_at_once_each_count_on_their_own(server) -> None:
    """Posts queued together are stored by one statement however many sessions they
    reach: each session still counts its seqs from 1 with no gap, in the order each
    agent posted, and one bad post among them fails alone."""
    async with aclient(server) as http:
        sids = [(await new_session(http))["id"] for _ in range(3)]

        async def agent(sid: str, n: int) -> list[httpx.Response]:
            # One agent posts in order, two at a time in flight, as the runner may.
            out: list[httpx.Response] = []
            for i in range(0, n, 2):
                out += await asyncio.gather(
                    *(
                        http.post(
                            f"/api/v1/sessions/{sid}/messages",
                            json=[message(f"{sid}-{j}", id=f"{sid}-{j}")],
                        )
                        for j in (i, i + 1)
                    )
                )
            return out

        stray = http.post("/api/v1/sessions/ses_nope/messages", json=message("x"))
        *runs, lost = await asyncio.gather(*(agent(sid, 12) for sid in sids), stray)
        for sid, responses in zip(sids, runs, strict=True):
            assert all(r.status_code == 201 for r in responses)
            listed = (await http.get(f"/api/v1/sessions/{sid}/messages")).json()
            assert [m["seq"] for m in listed["messages"]] == list(range(1, 13))
            # Each pair was posted together, so only its two may be in either order.
            pairs = [
                sorted(m["id"] for m in listed["messages"][k : k + 2]) for k in range(0, 12, 2)
            ]
            assert pairs == [sorted([f"{sid}-{j}", f"{sid}-{j + 1}"]) for j in range(0, 12, 2)]
        assert lost.status_code == 404
        assert "ses_nope" in lost.json()["error"]["message"]
