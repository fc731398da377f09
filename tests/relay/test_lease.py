"""The runner's lease: a session knows whether its agent is there. The runner's own event
stream (`runner=1`) holds it; when that stream ends, however it ends, everyone watching is
told the agent is offline."""

from __future__ import annotations

import asyncio

from tests.relay.support import aclient, assert_error, make_token, new_session, open_sse
from tether.client import RelayClient
from tether.relay.store.store import agent_online


def follow_as_runner(runner: RelayClient, sid: str) -> asyncio.Task[None]:
    """The runner's stream of its session (`runner=1`), which holds the lease."""

    async def follow() -> None:
        async for _ in runner.events(session_id=sid, runner=True):
            pass

    return asyncio.create_task(follow())


async def test_the_runner_stream_holds_the_lease_and_its_end_says_offline(server) -> None:
    async with aclient(server) as http, open_sse(http, "/api/v1/events") as watcher:
        session = await new_session(http)
        sid = session["id"]
        assert session["agent_online"] is None  # no runner ever: no claim either way
        await watcher.take(1)
        async with RelayClient(server.url, server.token) as runner:
            following = follow_as_runner(runner, sid)
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


async def test_a_stream_that_outlives_its_lapsed_lease_takes_it_back(server_factory) -> None:
    # A runner's stream stalled past the lease (a slow link holds its pings back, or the
    # sweeping relay's clock runs ahead): the sweep says offline. When the stream moves
    # again its renewals must bring the agent back, not fail quietly for good.
    from tether.relay.store import open_database

    server = server_factory(extra_env={"TETHER_PING_INTERVAL": "0.3"})
    async with aclient(server) as http, open_sse(http, "/api/v1/events") as watcher:
        sid = (await new_session(http))["id"]
        await watcher.take(1)
        async with RelayClient(server.url, server.token) as runner:
            following = follow_as_runner(runner, sid)
            [online] = await watcher.take(1)
            assert online.data["agent_online"] is True
            db = open_database(server.database_url, server.data_dir)
            await db.connect()
            try:  # the stall, as the sweep sees it: the lease ran out
                await db.execute("UPDATE sessions SET runner_lease_until = 0 WHERE id = $1", sid)
            finally:
                await db.close()
            [offline] = await watcher.take(1)
            assert offline.data["agent_online"] is False
            [back] = await watcher.take(1, timeout=10)
            assert back.event == "session" and back.data["agent_online"] is True
            following.cancel()
        [gone] = await watcher.take(1)
        assert gone.data["agent_online"] is False
