"""Retention: ended sessions are deleted with everything of theirs, the rest stays exact.

A follower of a live session misses nothing and sees nothing twice while retention and
compaction run; a cursor older than what retention kept resumes with a `reset`, a newer
one resumes exactly."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.relay.support import aclient, message, new_session, open_sse, permission, run_tether
from tests.support.postgres import fresh_postgres_database
from tether.relay.store import open_database
from tether.relay.store.store import Store

TIMEOUT = 20.0


def _with_retention(server_factory, tmp_path: Path, **policy: float):
    data_dir = tmp_path / "retained"
    data_dir.mkdir()
    lines = "".join(f"  {k}: {v}\n" for k, v in policy.items())
    (data_dir / "config.yaml").write_text("retention:\n" + lines)
    return server_factory(data_dir=data_dir)


async def _gone(http, session_id: str) -> None:
    deadline = asyncio.get_running_loop().time() + TIMEOUT
    while (await http.get(f"/api/v1/sessions/{session_id}")).status_code != 404:
        assert asyncio.get_running_loop().time() < deadline, "retention never ran"
        await asyncio.sleep(0.1)


async def _resume(http, cursor: int, count: int):
    headers = {"Last-Event-ID": str(cursor)}
    async with open_sse(http, "/api/v1/events", headers=headers) as stream:
        return await stream.take(count)


def test_retention_deletes_ended_sessions_and_keeps_the_rest_exact(
    server_factory, tmp_path: Path
) -> None:
    server = _with_retention(server_factory, tmp_path, ended_after=0.3, interval=0.1)

    async def scenario() -> None:
        async with aclient(server) as http:
            old = (await new_session(http, title="old"))["id"]
            live = (await new_session(http, title="live"))["id"]
            async with open_sse(http, "/api/v1/events", params={"session": live}) as follower:
                for i in range(5):
                    await http.post(f"/api/v1/sessions/{old}/messages", json=message(f"o{i}"))
                await http.post(f"/api/v1/sessions/{old}/permissions", json=permission())
                ended = await http.post(f"/api/v1/sessions/{old}/end")
                assert ended.status_code == 200
                everything = await _resume(http, 0, 11)  # 2 sessions, 5, request, end: 3
                last_of_old = max(e.id for e in everything if e.data.get("session_id") == old)
                # The live session keeps writing while retention and compaction run.
                for i in range(40):
                    posted = await http.post(
                        f"/api/v1/sessions/{live}/messages", json=message(str(i), id=f"l{i}")
                    )
                    assert posted.status_code == 201
                    if i == 20:
                        await _gone(http, old)
                seen = await follower.take(40)

            assert [e.data["seq"] for e in seen] == list(range(1, 41))
            ids = [e.id for e in seen]
            assert ids == sorted(ids) and len(set(ids)) == len(ids)

            # Everything of the old session went; the live one is whole.
            assert (await http.get(f"/api/v1/sessions/{old}/messages")).status_code == 404
            pending = (await http.get("/api/v1/permissions")).json()
            assert all(p["session_id"] != old for p in pending["permissions"])
            listed = await http.get(f"/api/v1/sessions/{live}/messages", params={"limit": 100})
            assert [m["seq"] for m in listed.json()["messages"]] == list(range(1, 41))

            # A cursor from before what retention deleted cannot resume exactly: reset.
            (reset,) = await _resume(http, 0, 1)
            assert reset.event == "reset" and reset.data["requested"] == 0
            assert reset.id == reset.data["cursor"] >= ids[-1]
            # One from after it resumes exactly.
            after = await _resume(http, last_of_old, 40)
            assert [e.id for e in after] == ids

    asyncio.run(scenario())


def test_db_prune_and_vacuum_commands(server) -> None:
    async def write() -> tuple[str, str]:
        async with aclient(server) as http:
            old = (await new_session(http))["id"]
            live = (await new_session(http))["id"]
            for sid in (old, live):
                await http.post(f"/api/v1/sessions/{sid}/messages", json=message("hi"))
            await http.post(f"/api/v1/sessions/{old}/end")
            return old, live

    old, live = asyncio.run(write())
    pruned = run_tether(server, "db", "prune", "--older-than", "0")
    assert pruned.returncode == 0, pruned.stderr
    assert "deleted 1 ended session" in pruned.stdout
    vacuumed = run_tether(server, "db", "vacuum")
    assert vacuumed.returncode == 0, vacuumed.stderr

    async def check() -> None:
        async with aclient(server) as http:
            assert (await http.get(f"/api/v1/sessions/{old}")).status_code == 404
            messages = (await http.get(f"/api/v1/sessions/{live}/messages")).json()["messages"]
            assert [m["content"]["text"] for m in messages] == ["hi"]
            (reset,) = await _resume(http, 1, 1)
            assert reset.event == "reset"

    asyncio.run(check())


async def _prune_waits_for_a_lock(store: Store, statement: str) -> None:
    """Until retention's `statement` (its start) waits on a lock another transaction holds."""
    for _ in range(400):
        waiting = await store.db.fetch(
            "SELECT 1 FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND query LIKE $1",
            statement + "%",
        )
        if waiting:
            return
        await asyncio.sleep(0.025)
    raise AssertionError(f"retention never waited at {statement!r}")


async def _ended_sessions_with_requests(store: Store, count: int) -> list[tuple[str, str]]:
    """`count` sessions that ended long ago, each with a request still pending (its
    session ended by an update that left it open): (session id, request id) each."""
    made = []
    for _ in range(count):
        sid = (await store.write(lambda tx: store.create_session(tx, {}, None)))["id"]
        request = await store.write(
            lambda tx, sid=sid: store.open_permission(tx, sid, {"tool_name": "Bash"}, 600)
        )
        made.append((sid, request["id"]))
    await store.db.execute("UPDATE sessions SET status = 'ended', last_activity_at = 0")
    return made


async def _events_without_a_session(store: Store) -> list[dict]:
    return await store.db.fetch(
        "SELECT type FROM events WHERE session_num IS NOT NULL "
        "AND session_num NOT IN (SELECT num FROM sessions)"
    )


async def _answer_held_open(
    store: Store, request_id: str, then=None
) -> tuple[asyncio.Task, asyncio.Task | None, asyncio.Event]:
    """Answer the request in a writer batch that holds the request's row until the event
    returned is set, with the operation `then` queued after it (so in the same batch).
    Returns once the row is held: the answer's task, `then`'s, and the event."""
    answering, answered = asyncio.Event(), asyncio.Event()

    async def slow_answer(tx):
        resolved = await store.resolve_permission(tx, request_id, "allowed", {"behavior": "allow"})
        answering.set()  # the request's row is held until this commits
        await answered.wait()
        return resolved

    answer = asyncio.create_task(store.write(slow_answer))
    after = asyncio.create_task(store.write(then)) if then is not None else None
    await answering.wait()
    return answer, after, answered


def _on_postgres(tmp_path: Path, scenario) -> None:
    async def run(url: str) -> None:
        store = Store(open_database(url, tmp_path))
        await store.open()
        try:
            await scenario(store)
        finally:
            await store.close()

    with fresh_postgres_database() as url:
        asyncio.run(run(url))


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_an_answer_written_while_its_session_is_pruned_goes_with_it(
    backend: str, tmp_path: Path
) -> None:
    """Another process answers a request of an ended session just as retention deletes
    the session: retention waits for the answer and deletes its event too, so no event is
    left naming a session that is gone (it would replay without its session)."""

    async def scenario(store: Store) -> None:
        [(_, request_id)] = await _ended_sessions_with_requests(store, 1)
        answer, _, answered = await _answer_held_open(store, request_id)
        prune = asyncio.create_task(store.prune(cutoff=1.0))
        await _prune_waits_for_a_lock(store, "DELETE FROM permissions")
        answered.set()
        assert (await answer)["status"] == "allowed"
        assert await prune == 1
        assert await _events_without_a_session(store) == []

    _on_postgres(tmp_path, scenario)


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_retention_and_a_batch_that_deadlock_both_get_through(backend: str, tmp_path: Path) -> None:
    """A writer's batch answers a request of one ended session, then ends another, while
    retention has locked both sessions and waits for the request: PostgreSQL cancels one
    side of the deadlock, that side runs again, and every caller gets its answer."""

    async def scenario(store: Store) -> None:
        [(_, request_id), (second, _)] = await _ended_sessions_with_requests(store, 2)

        async def end_second(tx):  # what ending a session does, in the answer's batch
            await store.log_control(
                tx, second, {"action": "end"}, session_changes={"status": "ended"}
            )
            return await store.get_session(second, tx)

        answer, ending, answered = await _answer_held_open(store, request_id, then=end_second)
        prune = asyncio.create_task(store.prune(cutoff=1.0))
        await _prune_waits_for_a_lock(store, "DELETE FROM permissions")
        answered.set()  # the batch goes on to the second session, which retention holds
        answered_it, ended, pruned = await asyncio.gather(answer, ending, prune)
        assert answered_it["status"] == "allowed" and ended["status"] == "ended"
        # PostgreSQL cancelled retention (it had waited longest), which ran again after the
        # batch: the first session went; the second, active again, stays.
        assert pruned == 1
        assert [r["id"] for r in await store.db.fetch("SELECT id FROM sessions")] == [second]
        assert await _events_without_a_session(store) == []

    _on_postgres(tmp_path, scenario)
