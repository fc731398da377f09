"""The client's pure parts: backoff, error mapping, the follower's dedupe (SSE parsing is
tests/test_sse.py)."""

from __future__ import annotations

import random

import pytest

from tether.backoff import Backoff
from tether.client import (
    AlreadyResolved,
    Conflict,
    Forbidden,
    NotFound,
    RelayError,
    RelayUnavailable,
    SessionEnded,
    Unauthorized,
    ValidationFailed,
    VersionConflict,
)
from tether.client.errors import error_from
from tether.client.stream import Event, Follower, ws_url


def test_backoff_doubles_with_jitter_up_to_the_cap_and_resets() -> None:
    backoff = Backoff(1.0, 60.0, rng=random.Random(7))
    delays = [backoff.next_delay() for _ in range(10)]
    steps = [1, 2, 4, 8, 16, 32, 60, 60, 60, 60]
    for delay, step in zip(delays, steps, strict=True):
        assert step / 2 <= delay <= step
    assert len(set(delays)) == len(delays)  # jittered, not a fixed ladder
    backoff.reset()
    assert 0.5 <= backoff.next_delay() <= 1.0


def test_two_clients_do_not_back_off_in_lockstep() -> None:
    a, b = Backoff(rng=random.Random(1)), Backoff(rng=random.Random(2))
    assert [a.next_delay() for _ in range(4)] != [b.next_delay() for _ in range(4)]


@pytest.mark.parametrize(
    ("status", "kind", "cls"),
    [
        (401, "unauthorized", Unauthorized),
        (403, "forbidden", Forbidden),
        (404, "not_found", NotFound),
        (409, "already_resolved", AlreadyResolved),
        (409, "version_conflict", VersionConflict),
        (409, "session_ended", SessionEnded),
        (409, "conflict", Conflict),
        (422, "validation_error", ValidationFailed),
        (500, "internal_error", RelayUnavailable),
        (503, "", RelayUnavailable),
        (418, "teapot", RelayError),
    ],
)
def test_errors_map_by_type_then_status(status: int, kind: str, cls: type) -> None:
    error = error_from(status, {"error": {"type": kind, "message": "why"}})
    assert type(error) is cls
    assert error.status == status and error.message == "why"


def test_an_error_body_that_is_not_the_relays_still_maps() -> None:
    error = error_from(404, "<html>nginx</html>")
    assert isinstance(error, NotFound) and "404" in error.message
    resolved = error_from(
        409,
        {
            "error": {
                "type": "already_resolved",
                "message": "m",
                "permission": {"id": "p", "status": "allowed"},
            }
        },
    )
    assert isinstance(resolved, AlreadyResolved)
    assert resolved.permission == {"id": "p", "status": "allowed"}


def test_follower_skips_replayed_cursors_and_repeated_snapshots() -> None:
    follower = Follower(since=None)
    request = {"id": "p1", "status": "pending"}
    assert follower.admit(Event(None, "permission_request", request))
    assert follower.admit(Event(5, "message", {}))
    assert not follower.admit(Event(5, "message", {}))
    assert not follower.admit(Event(4, "message", {}))
    assert not follower.admit(Event(None, "permission_request", request))  # reconnect snapshot
    assert follower.admit(Event(None, "ping", {}))
    assert follower.admit(Event(6, "permission_resolved", {"id": "p1"}))
    # Once resolved, a request with the same id is news again (cannot normally happen).
    assert follower.admit(Event(None, "permission_request", request))
    assert follower.cursor == 6


def test_ws_url_keeps_tls() -> None:
    assert ws_url("https://relay.example:8443") == "wss://relay.example:8443"
    assert ws_url("http://127.0.0.1:8787") == "ws://127.0.0.1:8787"
