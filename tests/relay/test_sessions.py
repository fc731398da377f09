"""Sessions and messages over real HTTP: the entity shapes, versioned fields, gap-free seqs
under concurrent publishers, and idempotent retries."""

from __future__ import annotations

import asyncio
import re

from tests.relay.support import aclient, assert_error, message, new_session, open_sse

SESSION_KEYS = {
    "id",
    "title",
    "agent",
    "cwd",
    "host",
    "status",
    "permission_mode",
    "model",
    "created_at",
    "updated_at",
    "last_activity_at",
    "metadata",
    "metadata_version",
    "agent_state",
    "agent_state_version",
    "last_seq",
    "pending_permissions",
    "agent_online",
}
MESSAGE_KEYS = {"session_id", "seq", "id", "role", "kind", "content", "raw", "author", "created_at"}
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


async def test_create_get_list_and_patch_a_session(server) -> None:
    async with aclient(server) as http:
        created = await new_session(
            http,
            title="fix bug",
            agent="claude-code",
            cwd="/src",
            host="laptop",
            model="opus",
            metadata={"branch": "main"},
        )
        assert set(created) == SESSION_KEYS
        assert created["id"].startswith("ses_")
        assert (created["status"], created["permission_mode"]) == ("starting", "default")
        assert created["metadata"] == {"branch": "main"} and created["metadata_version"] == 0
        assert created["last_seq"] == 0 and created["pending_permissions"] == 0
        assert all(ISO.match(created[k]) for k in ("created_at", "updated_at"))

        fetched = (await http.get(f"/api/v1/sessions/{created['id']}")).json()
        assert fetched == created

        other = await new_session(http, title="second")
        await http.post(f"/api/v1/sessions/{created['id']}/messages", json=message("hi"))
        listed = (await http.get("/api/v1/sessions")).json()["sessions"]
        # Most recent activity first: the one just written to leads.
        assert [s["id"] for s in listed[:2]] == [created["id"], other["id"]]

        patched = await http.patch(
            f"/api/v1/sessions/{created['id']}", json={"title": "renamed", "status": "running"}
        )
        assert patched.status_code == 200
        assert set(patched.json()) == SESSION_KEYS
        assert (patched.json()["title"], patched.json()["status"]) == ("renamed", "running")

        await http.post(f"/api/v1/sessions/{other['id']}/end", json={"reason": "done"})
        active = (await http.get("/api/v1/sessions", params={"status": "active"})).json()
        ended = (await http.get("/api/v1/sessions", params={"status": "ended"})).json()
        assert [s["id"] for s in active["sessions"]] == [created["id"]]
        assert [s["id"] for s in ended["sessions"]] == [other["id"]]


async def test_versioned_metadata_and_agent_state(server) -> None:
    async with aclient(server) as http:
        session = await new_session(http, metadata={"a": 1})
        url = f"/api/v1/sessions/{session['id']}"

        first = (await http.patch(url, json={"metadata": {"a": 2}, "expected_version": 0})).json()
        assert (first["metadata"], first["metadata_version"]) == ({"a": 2}, 1)

        # A writer that read version 0 is told what is there now instead of overwriting it.
        stale = await http.patch(url, json={"metadata": {"a": 99}, "expected_version": 0})
        error = assert_error(stale, 409, "version_conflict")
        assert error["current"] == {"field": "metadata", "version": 1, "value": {"a": 2}}
        assert (await http.get(url)).json()["metadata"] == {"a": 2}

        # agent_state has its own version; without expected_version a patch always lands.
        state = (await http.patch(url, json={"agent_state": {"busy": True}})).json()
        assert (state["agent_state"], state["agent_state_version"]) == ({"busy": True}, 1)
        assert state["metadata_version"] == 1
        stale_state = await http.patch(url, json={"agent_state": {}, "expected_version": 5})
        assert assert_error(stale_state, 409, "version_conflict")["current"] == {
            "field": "agent_state",
            "version": 1,
            "value": {"busy": True},
        }
        ok = await http.patch(url, json={"agent_state": {"busy": False}, "expected_version": 1})
        assert ok.json()["agent_state_version"] == 2


async def test_messages_get_seqs_and_pages(server) -> None:
    async with aclient(server) as http:
        session = await new_session(http)
        url = f"/api/v1/sessions/{session['id']}/messages"
        one = await http.post(url, json=message("one", id="m1"))
        assert one.status_code == 201
        assert set(one.json()) == MESSAGE_KEYS
        assert (one.json()["seq"], one.json()["id"], one.json()["author"]) == (
            1,
            "m1",
            "TETHER_TOKEN",
        )
        batch = await http.post(url, json=[message(str(i)) for i in range(2, 11)])
        assert batch.status_code == 201
        assert [m["seq"] for m in batch.json()["messages"]] == list(range(2, 11))
        assert all(m["id"].startswith("msg_") for m in batch.json()["messages"])

        everything = (await http.get(url)).json()["messages"]
        assert [m["seq"] for m in everything] == list(range(1, 11))
        assert (await http.get(url, params={"after": 7})).json()["messages"][0]["seq"] == 8
        page = (await http.get(url, params={"after": 2, "limit": 3})).json()["messages"]
        assert [m["seq"] for m in page] == [3, 4, 5]
        # With `before`, the newest `limit` before it, still ascending.
        older = (await http.get(url, params={"before": 9, "limit": 3})).json()["messages"]
        assert [m["seq"] for m in older] == [6, 7, 8]
        assert (await http.get(f"/api/v1/sessions/{session['id']}")).json()["last_seq"] == 10


async def test_concurrent_publishers_get_gap_free_seqs_in_stream_order(server) -> None:
    posters, each = 20, 10
    async with aclient(server) as http:
        session = await new_session(http)
        url = f"/api/v1/sessions/{session['id']}/messages"
        async with open_sse(http, "/api/v1/events", params={"session": session["id"]}) as stream:

            async def publish(worker: int) -> list[int]:
                async with aclient(server) as own:
                    seqs = []
                    for i in range(each):
                        r = await own.post(url, json=message(f"{worker}.{i}", id=f"w{worker}-{i}"))
                        assert r.status_code == 201, r.text
                        seqs.append(r.json()["seq"])
                    return seqs

            results = await asyncio.gather(*(publish(w) for w in range(posters)))
            seen = await stream.take(posters * each)

    total = posters * each
    assigned = sorted(s for seqs in results for s in seqs)
    assert assigned == list(range(1, total + 1))  # no gaps, no duplicates
    for seqs in results:  # each publisher's own posts keep their order
        assert seqs == sorted(seqs)
    assert [e.event for e in seen if e.event != "message"] == []
    assert [e.data["seq"] for e in seen] == list(range(1, total + 1))
    cursors = [e.id for e in seen]
    assert cursors == sorted(cursors) and len(set(cursors)) == total
    # Each message's text says who sent it: the stream carries what was stored for that seq.
    by_id = {f"w{w}-{i}": f"{w}.{i}" for w in range(posters) for i in range(each)}
    assert all(e.data["content"]["text"] == by_id[e.data["id"]] for e in seen)


async def test_a_retried_message_id_is_stored_once(server) -> None:
    async with aclient(server) as http:
        session = await new_session(http)
        url = f"/api/v1/sessions/{session['id']}/messages"
        first = (await http.post(url, json=message("hello", id="retry-me"))).json()
        await http.post(url, json=message("other", id="next"))
        again = await http.post(url, json=message("hello", id="retry-me"))
        assert again.status_code == 201
        assert again.json() == first  # same seq, same created_at: the stored row

        # Retries of a list: the known ids are answered as stored, new ones appended.
        mixed = await http.post(
            url, json=[message("x", id="next"), message("y", id="new"), message("y", id="new")]
        )
        assert [m["seq"] for m in mixed.json()["messages"]] == [2, 3, 3]

        # Racing retries of the same id still store it once.
        racers = await asyncio.gather(
            *(http.post(url, json=message("race", id="racy")) for _ in range(8))
        )
        assert {r.json()["seq"] for r in racers} == {4}
        stored = (await http.get(url)).json()["messages"]
        assert [m["id"] for m in stored] == ["retry-me", "next", "new", "racy"]

        # The same id in another session is a different message.
        other = await new_session(http)
        elsewhere = await http.post(
            f"/api/v1/sessions/{other['id']}/messages", json=message("hello", id="retry-me")
        )
        assert elsewhere.json()["seq"] == 1


async def test_client_messages_are_always_stored_as_the_user(server) -> None:
    from tests.relay.support import make_token

    client_token = make_token(server, "client", "phone")
    async with aclient(server) as agent, aclient(server, client_token) as phone:
        session = await new_session(agent)
        url = f"/api/v1/sessions/{session['id']}/messages"
        posted = await phone.post(
            url, json={"role": "agent", "kind": "user_text", "content": {"text": "continue"}}
        )
        assert posted.status_code == 201
        assert (posted.json()["role"], posted.json()["author"]) == ("user", "phone")
        by_agent = await agent.post(url, json=message("ok", role="agent"))
        assert by_agent.json()["role"] == "agent"


async def test_control_actions_reach_a_session_follower(server) -> None:
    async with aclient(server) as http:
        session = await new_session(http)
        sid = session["id"]
        async with open_sse(http, "/api/v1/events", params={"session": sid}) as stream:
            assert (await http.post(f"/api/v1/sessions/{sid}/interrupt")).json() == {"ok": True}
            mode = await http.post(
                f"/api/v1/sessions/{sid}/permission-mode", json={"mode": "acceptEdits"}
            )
            assert mode.status_code == 200
            assert mode.json()["permission_mode"] == "acceptEdits"
            ended = await http.post(f"/api/v1/sessions/{sid}/end", json={"reason": "bye"})
            assert ended.json()["status"] == "ended"
            events = await stream.until(
                lambda e: e.event == "control" and e.data["action"] == "end"
            )

        controls = [e.data for e in events if e.event == "control"]
        assert [c["action"] for c in controls] == ["interrupt", "permission_mode", "end"]
        assert controls[1]["mode"] == "acceptEdits" and controls[2]["reason"] == "bye"
        assert all(c["session_id"] == sid and c["by"] == "TETHER_TOKEN" for c in controls)
        assert all(ISO.match(c["created_at"]) for c in controls)
        sessions = [e.data for e in events if e.event == "session"]
        assert sessions[0]["permission_mode"] == "acceptEdits"
        assert sessions[-1]["status"] == "ended"

        # An ended session takes no more interrupts.
        late = await http.post(f"/api/v1/sessions/{sid}/interrupt")
        assert_error(late, 409, "session_ended")


async def test_session_events_carry_the_whole_session(server) -> None:
    async with aclient(server) as http:
        async with open_sse(http, "/api/v1/events") as stream:
            session = await new_session(http)
            await http.patch(f"/api/v1/sessions/{session['id']}", json={"title": "x"})
            await http.post(
                f"/api/v1/sessions/{session['id']}/permission-mode", json={"mode": "plan"}
            )
            events = await stream.until(
                lambda e: e.event == "session" and e.data["permission_mode"] == "plan"
            )
        for event in events:
            if event.event == "session":
                assert set(event.data) == SESSION_KEYS, event.data


async def test_a_session_without_a_title_is_named_by_its_first_prompt(server) -> None:
    async with aclient(server) as http:
        r = await http.post("/api/v1/sessions", json={"cwd": "/p"})
        sid = r.json()["id"]
        assert r.json()["title"] == "untitled"
        agent_first = {"role": "agent", "kind": "assistant_text", "content": {"text": "hi"}}
        await http.post(f"/api/v1/sessions/{sid}/messages", json=agent_first)
        assert (await http.get(f"/api/v1/sessions/{sid}")).json()["title"] == "untitled"
        prompt = "\n  Fix the   flaky login test " + "x" * 80 + "\nand more"
        await http.post(
            f"/api/v1/sessions/{sid}/messages",
            json={"role": "user", "kind": "user_text", "content": {"text": prompt}},
        )
        title = (await http.get(f"/api/v1/sessions/{sid}")).json()["title"]
        assert title.startswith("Fix the flaky login test xxx") and title.endswith("…")
        assert len(title) == 60
        await http.post(
            f"/api/v1/sessions/{sid}/messages",
            json={"role": "user", "kind": "user_text", "content": {"text": "second"}},
        )
        assert (await http.get(f"/api/v1/sessions/{sid}")).json()["title"] == title
