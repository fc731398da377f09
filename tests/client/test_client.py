"""`tether.client` against a real `tether serve`: calls, typed errors, and an event stream
that survives dropped connections and relay restarts without losing or doubling events."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.client.support import CuttableProxy, eventually, make_token
from tests.support.server import TetherServer, refused_port
from tether.client import (
    AlreadyResolved,
    Event,
    Forbidden,
    NotFound,
    RelayClient,
    RelayUnavailable,
    SessionEnded,
    SyncRelayClient,
    Unauthorized,
    ValidationFailed,
    VersionConflict,
)

TRANSPORTS = ["sse", "ws"]


class Collector:
    """Runs `relay.events(...)` in a task and keeps what it yields and the states it saw."""

    def __init__(self, relay: RelayClient, **kwargs: Any) -> None:
        self.events: list[Event] = []
        self.states: list[str] = []
        self.error: BaseException | None = None
        self._stream = relay.events(on_state=self.states.append, **kwargs)
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        try:
            async for event in self._stream:
                self.events.append(event)
        except Exception as exc:
            self.error = exc

    def of(self, kind: str) -> list[Event]:
        return [e for e in self.events if e.type == kind]

    def texts(self) -> list[str]:
        return [e.data["content"]["text"] for e in self.of("message")]

    def __repr__(self) -> str:  # what a failed wait shows
        return (
            f"Collector(states={self.states}, error={self.error!r}, "
            f"events={[(e.id, e.type) for e in self.events]})"
        )

    async def connected(self, times: int = 1) -> None:
        await self.until(lambda c: c.states.count("connected") >= times)

    async def until(self, predicate: Any, timeout: float = 60.0) -> None:
        async def check() -> Any:
            if self.error is not None:
                raise self.error
            return predicate(self) and self

        try:
            await eventually(check, timeout)
        except AssertionError:
            raise AssertionError(f"not reached in {timeout}s: {self!r}") from None

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


@contextlib.asynccontextmanager
async def collect(relay: RelayClient, **kwargs: Any) -> AsyncIterator[Collector]:
    collector = Collector(relay, **kwargs)
    try:
        yield collector
    finally:
        await collector.stop()


def text(n: int) -> dict[str, Any]:
    return {
        "id": f"m{n}",
        "role": "agent",
        "kind": "assistant_text",
        "content": {"text": f"text {n}"},
    }


@pytest.fixture
async def relay(server: TetherServer) -> AsyncIterator[RelayClient]:
    async with RelayClient(server.url, server.token) as client:
        yield client


# ── calls ──────────────────────────────────────────────────────────────────────────────


async def test_session_calls_round_trip(relay: RelayClient) -> None:
    me = await relay.me()
    assert me["scope"] == "admin"
    session = await relay.create_session(title="calls", cwd="/tmp/x")
    assert session["title"] == "calls" and session["agent"] == "claude-code"
    assert [s["id"] for s in await relay.list_sessions()] == [session["id"]]
    stored = await relay.post_messages(session["id"], [text(1), text(2)])
    assert [m["seq"] for m in stored] == [1, 2]
    again = await relay.post_messages(session["id"], [text(2)])  # idempotent by id
    assert again[0]["seq"] == 2
    prompt = await relay.send_text(session["id"], "hello")
    assert prompt["kind"] == "user_text" and prompt["seq"] == 3
    assert [m["seq"] for m in await relay.messages(session["id"], after=1)] == [2, 3]
    assert [m["seq"] for m in await relay.messages(session["id"], before=3, limit=1)] == [2]
    changed = await relay.set_permission_mode(session["id"], "plan")
    assert changed["permission_mode"] == "plan"
    patched = await relay.update_session(session["id"], metadata={"a": 1}, expected_version=0)
    with pytest.raises(VersionConflict) as stale:
        await relay.update_session(session["id"], metadata={"a": 2}, expected_version=0)
    assert stale.value.status == 409
    assert stale.value.current is not None
    assert stale.value.current["version"] == patched["metadata_version"]
    await relay.interrupt(session["id"])
    ended = await relay.end_session(session["id"], reason="done")
    assert ended["status"] == "ended"
    with pytest.raises(SessionEnded):
        await relay.interrupt(session["id"])


async def test_typed_errors_carry_the_relays_type_and_message(
    server: TetherServer, relay: RelayClient
) -> None:
    with pytest.raises(NotFound) as missing:
        await relay.get_session("no-such-session")
    assert missing.value.status == 404 and missing.value.type == "not_found"
    assert missing.value.message
    with pytest.raises(NotFound):  # a path-like id stays one path segment
        await relay.get_session("../me")
    session = await relay.create_session(title="errors")
    with pytest.raises(ValidationFailed) as bad:
        await relay.set_permission_mode(session["id"], "yolo")
    assert bad.value.fields and bad.value.fields[0]["field"] == "mode"

    async with RelayClient(server.url, "tth_wrong_token") as stranger:
        with pytest.raises(Unauthorized) as refused:
            await stranger.list_sessions()
        assert refused.value.status == 401
        assert "tth_wrong_token" not in repr(stranger)

    viewer = make_token(server, "viewer", "wall")
    async with RelayClient(server.url, viewer) as watcher:
        assert len(await watcher.list_sessions()) == 1
        with pytest.raises(Forbidden) as forbidden:
            await watcher.send_text(session["id"], "hi")
        assert forbidden.value.status == 403 and "viewer" in forbidden.value.message


async def test_an_unreachable_relay_is_relay_unavailable() -> None:
    async with RelayClient(f"http://127.0.0.1:{refused_port()}", "t") as nowhere:
        with pytest.raises(RelayUnavailable) as down:
            await nowhere.me()
        assert "refused" in str(down.value)
        with pytest.raises(RelayUnavailable):
            async for _ in nowhere.events(reconnect=False):
                pass


def test_the_sync_client_makes_the_same_calls(server: TetherServer) -> None:
    with SyncRelayClient(server.url, server.token) as relay:
        session = relay.create_session(title="sync")
        relay.send_text(session["id"], "from a script")
        assert [m["content"]["text"] for m in relay.messages(session["id"])] == ["from a script"]
        request = relay.open_permission(session["id"], tool_name="Bash", input={"command": "ls"})
        answered = relay.respond(request["id"], "deny", message="not now")
        assert answered["status"] == "denied"
        with pytest.raises(AlreadyResolved):
            relay.respond(request["id"], "allow")
        with pytest.raises(NotFound):
            relay.get_session("nope")
        events = relay.events(session_id=session["id"], since=0)
        first = next(events)
        events.close()
        assert first.type == "session" and first.id is not None


# ── events: refusals ──────────────────────────────────────────────────────────────────


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_refused_token_raises_at_once(server: TetherServer, transport: str) -> None:
    async with RelayClient(server.url, "tth_not_a_token") as stranger:
        states: list[str] = []
        started = time.monotonic()
        with pytest.raises(Unauthorized):
            async for _ in stranger.events(transport=transport, on_state=states.append):
                pass
        # No retry happened: the generator never waited out a backoff.
        assert "reconnecting" not in states
        assert time.monotonic() - started < 30


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_an_unknown_session_raises_not_found(relay: RelayClient, transport: str) -> None:
    states: list[str] = []
    with pytest.raises(NotFound):
        async for _ in relay.events(session_id="nope", transport=transport, on_state=states.append):
            pass
    assert "reconnecting" not in states


# ── events: resume without loss ────────────────────────────────────────────────────────


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_resumes_across_a_dropped_connection(
    server: TetherServer, relay: RelayClient, transport: str
) -> None:
    session = await relay.create_session(title="drops")
    waiting = await relay.open_permission(session["id"], tool_name="Bash", input={"command": "ls"})
    async with (
        CuttableProxy(server.port) as proxy,
        RelayClient(proxy.url, server.token, backoff_base=0.2) as follower,
        collect(follower, session_id=session["id"], transport=transport) as seen,
    ):
        await seen.connected()
        # The pending request arrives first, without a cursor.
        await seen.until(lambda c: c.of("permission_request"))
        assert seen.of("permission_request")[0].id is None
        await relay.post_messages(session["id"], [text(1)])
        await seen.until(lambda c: c.texts() == ["text 1"])
        for n in range(2, 5):
            proxy.cut()
            # Written while the follower is (probably) away: replayed from its cursor.
            await relay.post_messages(session["id"], [text(n)])
            await seen.connected(times=n)
        await relay.post_messages(session["id"], [text(5)])
        await seen.until(lambda c: len(c.texts()) >= 5)
        assert seen.texts() == [f"text {n}" for n in range(1, 6)]
        ids = [e.id for e in seen.events if e.id is not None]
        assert ids == sorted(set(ids))  # in order, none twice
        # Each reconnect's snapshot repeated the pending request; it was handed out once.
        assert [e.data["id"] for e in seen.of("permission_request")] == [waiting["id"]]
        assert "reconnecting" in seen.states
        assert follower.last_event_id == ids[-1]


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_resumes_across_a_relay_restart(server: TetherServer, transport: str) -> None:
    async with RelayClient(server.url, server.token, backoff_base=0.3) as relay:
        session = await relay.create_session(title="restart")
        async with collect(relay, session_id=session["id"], transport=transport) as seen:
            await seen.connected()
            await relay.post_messages(session["id"], [text(1), text(2)])
            await seen.until(lambda c: len(c.texts()) == 2)
            server.restart()
            # Straight after the restart, likely before the follower is back: replayed.
            await relay.post_messages(session["id"], [text(3)])
            request = await relay.open_permission(
                session["id"], tool_name="Read", input={"file_path": "/etc/hosts"}
            )
            await relay.respond(request["id"], "allow")
            await seen.connected(times=2)
            await relay.post_messages(session["id"], [text(4)])
            await seen.until(lambda c: len(c.texts()) >= 4 and c.of("permission_resolved"))
            assert seen.texts() == ["text 1", "text 2", "text 3", "text 4"]
            ids = [e.id for e in seen.events if e.id is not None]
            assert ids == sorted(set(ids))
            assert [e.data["id"] for e in seen.of("permission_request")] == [request["id"]]
            assert seen.states.count("reconnecting") >= 1


async def test_since_replays_the_log_and_reconnect_false_gives_up(
    server: TetherServer, relay: RelayClient
) -> None:
    session = await relay.create_session(title="since")
    await relay.post_messages(session["id"], [text(1), text(2)])
    async with (
        CuttableProxy(server.port) as proxy,
        RelayClient(proxy.url, server.token) as follower,
    ):
        seen = Collector(follower, session_id=session["id"], since=0, reconnect=False)
        await seen.until(lambda c: len(c.texts()) == 2)
        proxy.cut()
        await eventually(lambda: asyncio.sleep(0, seen._task.done()))
        assert isinstance(seen.error, RelayUnavailable)
        assert seen.states[-1] == "disconnected"
        assert seen.of("session") and seen.of("session")[0].id is not None


# ── permission races ──────────────────────────────────────────────────────────────────


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_two_handlers_race_and_one_learns_it_lost(
    server: TetherServer, relay: RelayClient, transport: str
) -> None:
    session = await relay.create_session(title="race")
    phone_token = make_token(server, "client", "phone")
    async with (
        RelayClient(server.url, server.token) as laptop,
        RelayClient(server.url, phone_token) as phone,
        collect(laptop, transport=transport) as laptop_seen,
        collect(phone, transport=transport) as phone_seen,
    ):
        await laptop_seen.connected()
        await phone_seen.connected()
        request = await relay.open_permission(
            session["id"], tool_name="Bash", input={"command": "rm -rf build"}
        )
        for seen in (laptop_seen, phone_seen):
            await seen.until(lambda c: c.of("permission_request"))
        results = await asyncio.gather(
            laptop.respond(request["id"], "allow"),
            phone.respond(request["id"], "deny", message="not that"),
            return_exceptions=True,
        )
        won = [r for r in results if isinstance(r, dict)]
        lost = [r for r in results if isinstance(r, AlreadyResolved)]
        assert len(won) == 1 and len(lost) == 1, results
        assert lost[0].status == 409 and lost[0].type == "already_resolved"
        assert lost[0].permission is not None
        assert lost[0].permission["status"] == won[0]["status"]
        for seen in (laptop_seen, phone_seen):
            await seen.until(lambda c: c.of("permission_resolved"))
            assert seen.of("permission_resolved")[0].data["status"] == won[0]["status"]


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_cursor_beyond_the_log_is_reset_to_its_end(
    relay: RelayClient, transport: str
) -> None:
    """A cursor from another relay's log (or one since wiped) is moved down to the relay's
    end with a `reset` event, and the stream delivers from there."""
    session = await relay.create_session(title="reset")
    request = await relay.open_permission(session["id"], tool_name="Bash", input={})
    async with collect(relay, since=10**6, transport=transport) as seen:
        await seen.until(lambda c: c.of("reset") and c.of("permission_request"))
        (reset,) = seen.of("reset")
        assert reset.data["cursor"] == reset.id and reset.id < 10**6
        # The pending snapshot is handed out afresh after the reset.
        assert [e.data["id"] for e in seen.of("permission_request")] == [request["id"]]
        await relay.post_messages(session["id"], [text(1)])
        await seen.until(lambda c: c.texts() == ["text 1"])
        assert seen.of("message")[0].id == reset.id + 1
        assert relay.last_event_id == reset.id + 1
