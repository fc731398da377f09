"""The runner's lease: a session knows whether its agent is there. The runner's own event
stream (`runner=1`) holds it; when that stream ends, however it ends, everyone watching is
told the agent is offline."""

from __future__ import annotations

import asyncio

from tests.relay.support import aclient, assert_error, make_token, new_session, open_sse
from tether.client import RelayClient
from tether.relay.store.store import agent_online


async def test_the_runner_stream_holds_the_lease_and_its_end_says_offline(server) -> None:
    async with aclient(server) as http, open_sse(http, "/api/v1/events") as watcher:
        session = await new_session(http)
        sid = session["id"]
        assert session["agent_online"] is None  # no runner ever: no claim either way
        await watcher.take(1)
        async with RelayClient(server.url, server.token) as runner:

            async def follow() -> None:
                async for _ in runner.events(session_id=sid, runner=True):
                    pass

            following = asyncio.create_task(follow())
            [online] = await watcher.take(1)
            assert online.event == "session" and online.data["agent_online"] is True
            got = (await http.get(f"/api/v1/sessions/{sid}")).json()
            assert got["agent_online"] is True
            following.cancel()  # the runner's stream ends (it exited, was killed…)
        [offline] = await watcher.take(1)
        assert offline.event == "session" and offline.data["agent_online"] is False
        listed = (await http.get("/api/v1/sessions")).json()["sessions"]
        assert [s["agent_online"] for s in listed if s["id"] == sid] == [False]


async def test_only_the_agent_side_may_hold_a_lease(server) -> None:
    async with aclient(server) as http:
        sid = (await new_session(http))["id"]
        async with aclient(server, make_token(server, "client")) as phone:
            r = await phone.get(f"/api/v1/events?session={sid}&runner=1")
            assert_error(r, 403)
        assert_error(await http.get("/api/v1/events?runner=1"), 422)


def test_a_lease_not_renewed_in_time_has_lapsed() -> None:
    assert agent_online(None, None) is None
    assert agent_online("lease_1", 100.0, now=99.0) is True
    assert agent_online("lease_1", 100.0, now=100.0) is False
    assert agent_online(None, 100.0, now=50.0) is False  # released
