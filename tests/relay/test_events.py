"""The SSE event stream: cursors, resume after a client drop and after a server restart,
pings."""

from __future__ import annotations

import asyncio
import itertools

import httpx
import orjson
import pytest

from tests.relay.support import (
    SSEStream,
    aclient,
    assert_error,
    message,
    new_session,
    open_sse,
    permission,
    post_past_the_backlog_limit,
)


async def _post_texts(http: httpx.AsyncClient, sid: str, texts: list[str]) -> list[dict]:
    out = []
    for text in texts:
        r = await http.post(f"/api/v1/sessions/{sid}/messages", json=message(text, id=text))
        assert r.status_code == 201
        out.append(r.json())
    return out


async def test_every_logged_event_has_an_increasing_cursor(server) -> None:
    async with aclient(server) as http, open_sse(http, "/api/v1/events") as stream:
        assert stream.retry == 1000
        session = await new_session(http)
        await _post_texts(http, session["id"], ["a", "b"])
        request = (
            await http.post(f"/api/v1/sessions/{session['id']}/permissions", json=permission())
        ).json()
        await http.post(f"/api/v1/permissions/{request['id']}/respond", json={"behavior": "allow"})
        await http.post(f"/api/v1/sessions/{session['id']}/interrupt")
        events = await stream.take(6)
    assert [e.event for e in events] == [
        "session",
        "message",
        "message",
        "permission_request",
        "permission_resolved",
        "control",
    ]
    ids = [e.id for e in events]
    assert all(isinstance(i, int) for i in ids) and ids == sorted(set(ids))
    assert events[0].data["id"] == session["id"]
    assert [e.data["content"]["text"] for e in events[1:3]] == ["a", "b"]


async def test_resume_after_a_client_drop_gets_exactly_what_was_missed(server) -> None:
    async with aclient(server) as http:
        session = await new_session(http)
        sid = session["id"]
        async with open_sse(http, "/api/v1/events", params={"session": sid}) as stream:
            await _post_texts(http, sid, ["m1", "m2", "m3"])
            before = await stream.take(3)
        last = before[-1].id
        # While nobody listens: messages, a permission request opened and answered, a patch.
        await _post_texts(http, sid, ["m4", "m5"])
        request = (await http.post(f"/api/v1/sessions/{sid}/permissions", json=permission())).json()
        await http.post(f"/api/v1/permissions/{request['id']}/respond", json={"behavior": "deny"})
        await http.patch(f"/api/v1/sessions/{sid}", json={"title": "while away"})
        missed = ["message", "message", "permission_request", "permission_resolved", "session"]

        for how in ("header", "query"):
            kwargs = (
                {"headers": {"Last-Event-ID": str(last)}, "params": {"session": sid}}
                if how == "header"
                else {"params": {"session": sid, "since": last}}
            )
            async with open_sse(http, "/api/v1/events", **kwargs) as resumed:
                replay = await resumed.take(len(missed))
                # Then live, and nothing doubled in between.
                await _post_texts(http, sid, [f"live-{how}"])
                live = await resumed.take(1)
            assert [e.event for e in replay] == missed, how
            if how == "header":
                assert [e.data["content"]["text"] for e in replay[:2]] == ["m4", "m5"]
            ids = [e.id for e in replay + live]
            assert ids == sorted(set(ids)) and ids[0] > last
            assert live[0].data["content"]["text"] == f"live-{how}"
            last = live[0].id
            missed = []  # the second round resumes after the first one's live message

        # since=0 replays the session's whole history, in order.
        async with open_sse(http, "/api/v1/events", params={"session": sid, "since": 0}) as all_:
            history = await all_.until(
                lambda e: e.event == "message" and e.data["id"] == "live-query"
            )
        texts = [e.data["content"]["text"] for e in history if e.event == "message"]
        assert texts == ["m1", "m2", "m3", "m4", "m5", "live-header", "live-query"]
        assert history[0].event == "session" and history[0].data["title"] == "t"


async def test_a_resume_while_writers_are_busy_misses_nothing(server) -> None:
    async with aclient(server) as http:
        session = await new_session(http)
        sid = session["id"]
        url = f"/api/v1/sessions/{sid}/messages"
        got: list[int] = []
        cursor = 0
        # Drop and reconnect between bursts of writes; the seqs seen must be 1..N exactly.
        for burst in range(4):
            async with open_sse(
                http, "/api/v1/events", params={"session": sid, "since": cursor}
            ) as stream:
                for i in range(10):
                    await http.post(url, json=message(f"{burst}-{i}", id=f"{burst}-{i}"))
                events = await stream.until(
                    lambda e, b=burst: e.event == "message" and e.data["id"] == f"{b}-9"
                )
            for event in events:
                if event.event == "message":
                    got.append(event.data["seq"])
            cursor = events[-1].id
            # Half of the next burst is written while no one is connected.
            for i in range(10, 15):
                await http.post(url, json=message(f"{burst}-{i}", id=f"{burst}-{i}"))
        async with open_sse(
            http, "/api/v1/events", params={"session": sid, "since": cursor}
        ) as stream:
            tail = await stream.take(5)
        got.extend(e.data["seq"] for e in tail)
        assert got == list(range(1, 4 * 15 + 1))


def _read_events(server, since: int, count: int, session: str) -> list[tuple[int, str, dict]]:
    """Sync SSE read for tests that also restart the server (sync fixtures)."""
    out: list[tuple[int, str, dict]] = []
    with httpx.stream(
        "GET",
        f"{server.url}/api/v1/events",
        headers=server.headers,
        params={"since": since, "session": session},
        timeout=20,
    ) as response:
        event: dict = {}
        for line in response.iter_lines():
            if line.startswith("id: "):
                event["id"] = int(line[4:])
            elif line.startswith("event: "):
                event["event"] = line[7:]
            elif line.startswith("data: "):
                event["data"] = orjson.loads(line[6:])
            elif line == "" and "event" in event:
                if event["event"] != "ping":
                    out.append((event.get("id"), event["event"], event["data"]))
                event = {}
                if len(out) >= count:
                    return out
    raise AssertionError(f"stream ended after {out}")


def test_resume_after_a_server_restart(server_factory) -> None:
    # A process: the second restart is a real SIGKILL.
    server = server_factory(process=True)
    with server.client() as http:
        session = http.post("/api/v1/sessions", json={"title": "durable"}).json()
        sid = session["id"]
        url = f"/api/v1/sessions/{sid}/messages"
        for i in range(3):
            http.post(url, json=message(f"before-{i}", id=f"b{i}"))
        seen = _read_events(server, 0, 4, sid)
        cursor = seen[-1][0]
        http.post(url, json=message("missed", id="missed"))
        pending = http.post(f"/api/v1/sessions/{sid}/permissions", json=permission()).json()

    server.restart()

    with server.client() as http:
        # Sessions, messages and pending requests survive...
        assert http.get(f"/api/v1/sessions/{sid}").json()["last_seq"] == 4
        assert [m["id"] for m in http.get(f"{url}").json()["messages"]] == [
            "b0",
            "b1",
            "b2",
            "missed",
        ]
        assert http.get(f"/api/v1/permissions/{pending['id']}").json()["status"] == "pending"
        # ...and seq keeps counting where it stopped.
        assert http.post(url, json=message("after", id="after")).json()["seq"] == 5
        # A retry of a message sent before the restart is still recognised.
        assert http.post(url, json=message("x", id="b1")).json()["seq"] == 2

    # The old cursor gets exactly what came after it: no more, no less.
    resumed = _read_events(server, cursor, 3, sid)
    assert [(kind, data.get("id")) for _, kind, data in resumed] == [
        ("message", "missed"),
        ("permission_request", pending["id"]),
        ("message", "after"),
    ]
    assert [i for i, _, _ in resumed] == sorted(i for i, _, _ in resumed)
    assert resumed[0][0] > cursor
    # A killed server (no clean shutdown) loses nothing committed either.
    server.restart(kill=True)
    with server.client() as http:
        assert http.get(f"/api/v1/sessions/{sid}").json()["last_seq"] == 5
    assert _read_events(server, cursor, 3, sid) == resumed


def test_pings_arrive_without_a_cursor(server_factory) -> None:
    server = server_factory(extra_env={"TETHER_PING_INTERVAL": "0.2"})
    pings = []
    with httpx.stream(
        "GET", f"{server.url}/api/v1/events", headers=server.headers, timeout=20
    ) as response:
        block: list[str] = []
        for line in response.iter_lines():
            if line:
                block.append(line)
                continue
            if "event: ping" in block:
                pings.append(block)
                if len(pings) == 3:
                    break
            block = []
    for block in pings:
        assert not any(line.startswith("id:") for line in block)
        assert any(line.startswith('data: {"time":') for line in block)


async def test_bad_cursors_and_unknown_sessions_are_refused(server) -> None:
    async with aclient(server) as http:
        for params, headers, status in (
            ({"since": "abc"}, {}, 422),
            ({"since": "-1"}, {}, 422),
            ({}, {"Last-Event-ID": "x"}, 422),
            ({"session": "ses_nope"}, {}, 404),
        ):
            r = await http.get("/api/v1/events", params=params, headers=headers)
            assert_error(r, status)
            r = await http.get("/permissions/stream", params=params, headers=headers)
            assert_error(r, status)


async def test_a_session_stream_carries_only_that_session(server) -> None:
    async with aclient(server) as http:
        mine, other = await new_session(http), await new_session(http)
        async with open_sse(http, "/api/v1/events", params={"session": mine["id"]}) as stream:
            await _post_texts(http, other["id"], ["theirs"])
            await _post_texts(http, mine["id"], ["ours"])
            event = (await stream.take(1))[0]
        assert isinstance(stream, SSEStream)
        assert event.data["content"]["text"] == "ours"


async def test_a_follower_that_falls_far_behind_is_cut_off_and_resumes_losslessly(
    server, monkeypatch
) -> None:
    """A follower that does not read while too many events are published is disconnected;
    with its last cursor it gets the rest, and the two parts are the whole log."""
    import re
    import socket

    async with aclient(server) as http:
        session = await new_session(http)
        sid = session["id"]
        # A raw socket with a tiny receive buffer, so the backlog builds up in the relay.
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", server.port))
        reader, writer = await asyncio.open_connection(sock=sock, limit=2**16)
        writer.write(
            f"GET /api/v1/events?session={sid} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {server.token}\r\n\r\n".encode()
        )
        await asyncio.wait_for(reader.readuntil(b": connected\n\n"), 20)

        total = await post_past_the_backlog_limit(http, server, sid, monkeypatch)

        # Now read: the stream ends (the chunked terminator) before it has everything.
        async def read_to_the_end() -> bytes:
            data = b""
            while not data.endswith(b"\r\n0\r\n\r\n"):
                chunk = await reader.read(2**16)
                assert chunk, "the connection closed instead of ending the response"
                data += chunk
            return data

        raw = await asyncio.wait_for(read_to_the_end(), 60)
        writer.close()
        first = [int(i) for i in re.findall(rb"id: (\d+)\nevent: message\n", raw)]
        assert 0 < len(first) < total

        async with open_sse(
            http, "/api/v1/events", params={"session": sid, "since": first[-1]}
        ) as stream:
            rest = await stream.take(total - len(first), timeout=60)
        seqs = [int(s) for s in re.findall(rb'"seq":(\d+)', raw)] + [e.data["seq"] for e in rest]
        assert seqs == list(range(1, total + 1))
        ids = first + [e.id for e in rest]
        assert ids == sorted(set(ids))


async def test_followers_written_in_coalesced_batches_keep_order_and_exact_cursors(
    server,
) -> None:
    """Events posted concurrently reach every follower of a session once each, in cursor
    order, however the bus batched them (many per write, or written straight to the
    connection); and a resume from any cursor seen gets exactly the rest."""
    count = 60
    async with aclient(server) as http:
        sid = (await new_session(http))["id"]
        url = f"/api/v1/sessions/{sid}/messages"
        streams = [open_sse(http, "/api/v1/events", params={"session": sid}) for _ in range(4)]
        opened = [await s.__aenter__() for s in streams]
        try:

            async def post(lo: int) -> None:
                for i in range(lo, count, 8):
                    r = await http.post(url, json=message(f"m{i}", id=f"m{i}"))
                    assert r.status_code == 201

            await asyncio.gather(*(post(lo) for lo in range(8)))
            seen = [await stream.take(count) for stream in opened]
        finally:
            for s in streams:
                await s.__aexit__(None, None, None)
        for events in seen:
            assert [e.data["seq"] for e in events] == list(range(1, count + 1))
            assert [e.id for e in events] == [e.id for e in seen[0]]
            assert all(a.id < b.id for a, b in itertools.pairwise(events))
        cursor = seen[0][count // 3 - 1]
        async with open_sse(
            http, "/api/v1/events", params={"session": sid, "since": cursor.id}
        ) as stream:
            rest = await stream.take(count - count // 3)
        assert [e.data["seq"] for e in rest] == list(range(count // 3 + 1, count + 1))
        assert [e.id for e in rest] == [e.id for e in seen[0][count // 3 :]]


async def test_a_request_opened_while_a_stream_starts_arrives_once(server) -> None:
    """A live stream first sends the requests already pending, then what happens next. A
    request opened between the subscription and that snapshot belongs to "next" only: it
    used to come twice (once from the snapshot with no cursor, once live), which a busy
    server showed as a stray permission_request ahead of everything else."""
    if server._threaded is None:
        pytest.skip("needs the server's loop: an in-process server")
    from tether.relay.stream import follow, subscribe

    relay = server.relay
    async with aclient(server) as http:
        session = await new_session(http)
        subscribed = await asyncio.to_thread(server.on_loop, subscribe(relay, session["id"], None))
        # Opened after the subscription, before the stream's first read of the log.
        request = (
            await http.post(f"/api/v1/sessions/{session['id']}/permissions", json=permission())
        ).json()

        async def first_events() -> list:
            seen: list = []
            stream = follow(relay, session["id"], None, subscribed=subscribed)
            try:
                while not any(e.type == "permission_request" for e in seen):
                    seen += [e for e in await anext(stream) if e.type != "ping"]
                # Then whatever else is queued (a doubled request would be), until quiet.
                while True:
                    try:
                        batch = await asyncio.wait_for(anext(stream), 0.3)
                    except TimeoutError:
                        break
                    seen += [e for e in batch if e is not None and e.type != "ping"]
            finally:
                await stream.aclose()
            return seen

        seen = await asyncio.to_thread(server.on_loop, first_events())
    requests = [e for e in seen if e.type == "permission_request"]
    assert [e.data["id"] for e in requests] == [request["id"]]
    assert requests[0].id is not None  # the live event, with its cursor
