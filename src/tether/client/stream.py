"""Following the relay's event stream over SSE or the WebSocket, across drops.

One connection is a generator of `Opened` then events; it raises `Dropped` when it ends
or fails in a way worth retrying, and a `RelayError` when the relay refused it (401,
403, 404…), which no retry will fix. `follow` strings connections together: it waits with
backoff between them, reconnects from the last cursor so nothing is missed or doubled,
and drops the repeated pending-permission snapshot a reconnect brings.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import orjson
import websockets
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from tether.backoff import Backoff
from tether.client.errors import RelayUnavailable, error_from
from tether.sse import SSEParser

# A connection that stayed up this long (or delivered a logged event) was healthy: the next
# drop starts the backoff from its base again.
HEALTHY_AFTER = 10.0


@dataclass(frozen=True, slots=True)
class Event:
    """One event of the relay. `id` is its cursor; None for pings and the pending-request
    snapshot sent on connect, which are not in the log."""

    id: int | None
    type: str
    data: dict[str, Any]


class Opened:
    """Marker a connection yields once the relay has accepted it."""


OPENED = Opened()


class Dropped(Exception):
    """The connection ended or failed in a way a reconnect can fix."""


StateCallback = Callable[[str], None]
Connection = AsyncIterator["Opened | Event"]


def _params(session_id: str | None, since: int | None) -> dict[str, str]:
    params: dict[str, str] = {}
    if session_id:
        params["session"] = session_id
    if since is not None:
        params["since"] = str(since)
    return params


def _decode(data: str) -> dict[str, Any]:
    try:
        value = orjson.loads(data) if data else {}
    except orjson.JSONDecodeError:
        return {"raw": data}
    return value if isinstance(value, dict) else {"value": value}


async def sse_connection(
    http: httpx.AsyncClient,
    session_id: str | None,
    since: int | None,
    idle_timeout: float,
    runner: bool = False,
) -> Connection:
    # The cursor travels as Last-Event-ID, as a browser's EventSource would send it.
    headers = {"Accept": "text/event-stream"}
    if since is not None:
        headers["Last-Event-ID"] = str(since)
    params = _params(session_id, None)
    if runner:  # this stream holds the session's lease: the relay knows the agent is here
        params["runner"] = "1"
    timeout = httpx.Timeout(connect=10.0, read=idle_timeout, write=10.0, pool=10.0)
    try:
        async with http.stream(
            "GET", "/api/v1/events", params=params, headers=headers, timeout=timeout
        ) as response:
            if response.status_code >= 400:
                await response.aread()
                try:
                    payload = response.json()
                except ValueError:
                    payload = None
                error = error_from(response.status_code, payload)
                if isinstance(error, RelayUnavailable) or response.status_code == 429:
                    raise Dropped(f"the relay answered HTTP {response.status_code}")
                raise error
            yield OPENED
            parser = SSEParser()
            async for chunk in response.aiter_bytes():
                for message in parser.feed(chunk):
                    ident = int(message.id) if message.id and message.id.isdigit() else None
                    yield Event(ident, message.event, _decode(message.data))
    except httpx.TransportError as exc:
        raise Dropped(describe_transport_error(exc)) from None
    raise Dropped("the relay ended the stream")


def ws_url(base_url: str) -> str:
    if base_url.startswith("https://"):
        return "wss://" + base_url[len("https://") :]
    if base_url.startswith("http://"):
        return "ws://" + base_url[len("http://") :]
    return base_url


async def ws_connection(
    base_url: str, token: str, session_id: str | None, since: int | None, idle_timeout: float
) -> Connection:
    query = urlencode(_params(session_id, since))
    uri = ws_url(base_url) + "/api/v1/ws" + (f"?{query}" if query else "")
    try:
        async with ws_connect(
            uri,
            additional_headers={"Authorization": f"Bearer {token}"},
            open_timeout=10,
            ping_interval=20,
            ping_timeout=20,
            max_size=64 * 1024 * 1024,
            proxy=None,
        ) as ws:
            opened = False
            while True:
                raw = await asyncio.wait_for(ws.recv(), idle_timeout)
                frame = _decode(raw if isinstance(raw, str) else raw.decode())
                kind = frame.get("type")
                if kind == "ready":
                    opened = True
                    yield OPENED
                elif kind == "error":
                    status = int(frame.get("status") or 400)
                    error = error_from(status, {"error": frame.get("error")})
                    if isinstance(error, RelayUnavailable):
                        raise Dropped(error.message)
                    if not opened:  # refused before `ready`: the token, the session…
                        raise error
                    # After `ready` an error frame answers a frame we sent; we send none.
                elif "event" in frame:
                    ident = frame.get("id")
                    yield Event(
                        ident if isinstance(ident, int) else None,
                        str(frame["event"]),
                        frame.get("data") if isinstance(frame.get("data"), dict) else {},
                    )
    except ConnectionClosed as exc:
        code = exc.rcvd.code if exc.rcvd is not None else None
        # Final refusals (4401: the token was refused or revoked since) raise; 4408 (fell
        # behind) and 4429 (too many connections) are worth a retry.
        if code is not None and 4400 <= code < 4500 and code not in (4408, 4429):
            reason = exc.rcvd.reason if exc.rcvd is not None else ""
            raise error_from(code - 4000, {"error": {"message": reason or None}}) from None
        raise Dropped(f"the connection closed ({code})") from None
    except InvalidStatus as exc:
        status = exc.response.status_code
        try:
            payload = orjson.loads(exc.response.body or b"")
        except orjson.JSONDecodeError:
            payload = None
        error = error_from(status, payload)
        if isinstance(error, RelayUnavailable) or status == 429:
            raise Dropped(f"the relay answered HTTP {status}") from None
        raise error from None
    except (OSError, TimeoutError, InvalidHandshake, websockets.WebSocketException) as exc:
        raise Dropped(str(exc) or type(exc).__name__) from None


def describe_transport_error(exc: httpx.TransportError) -> str:
    """A short reason for people: "connection refused", "timed out"… never the request."""
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    text = str(exc)
    if isinstance(exc, httpx.ConnectError):
        if "refused" in text.lower() or "all connection attempts failed" in text.lower():
            return "connection refused"
        return text or "cannot connect"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "the connection was cut"
    return text or type(exc).__name__


class Follower:
    """State of one `events()` iteration: the cursor and the permission requests already
    handed out, so neither a replay nor the reconnect snapshot repeats anything."""

    def __init__(self, since: int | None) -> None:
        self.cursor = since
        self.pending: set[str] = set()

    def admit(self, event: Event) -> bool:
        """Whether the consumer should see this event; updates the cursor."""
        if event.type == "reset":
            # The cursor was beyond the relay's log (it was reset or replaced): adopt the
            # relay's end, even though it is lower, and let the consumer reload its state.
            # The pending snapshot that follows is handed out afresh.
            self.cursor = event.id
            self.pending.clear()
            return True
        if event.id is not None:
            if self.cursor is not None and event.id <= self.cursor:
                return False
            self.cursor = event.id
        permission_id = event.data.get("id") if event.type.startswith("permission_") else None
        if event.type == "permission_request" and isinstance(permission_id, str):
            if event.id is None and permission_id in self.pending:
                return False  # the snapshot of a reconnect: already handed out
            self.pending.add(permission_id)
        elif event.type == "permission_resolved" and isinstance(permission_id, str):
            self.pending.discard(permission_id)
        return True


async def follow(
    open_connection: Callable[[int | None], Connection],
    *,
    since: int | None,
    reconnect: bool,
    backoff: Backoff,
    on_state: StateCallback | None,
    on_cursor: Callable[[int | None], None],
) -> AsyncIterator[Event]:
    follower = Follower(since)

    def state(name: str) -> None:
        if on_state is not None:
            on_state(name)

    try:
        while True:
            opened_at: float | None = None
            delivered = False
            try:
                async with contextlib.aclosing(open_connection(follower.cursor)) as conn:
                    async for item in conn:
                        if isinstance(item, Opened):
                            opened_at = time.monotonic()
                            state("connected")
                            continue
                        if not follower.admit(item):
                            continue
                        if item.id is not None:
                            delivered = True
                            on_cursor(follower.cursor)
                        yield item
            except Dropped as exc:
                if not reconnect:
                    raise RelayUnavailable(str(exc)) from None
                healthy = opened_at is not None and (
                    delivered or time.monotonic() - opened_at >= HEALTHY_AFTER
                )
                if healthy:
                    backoff.reset()
                state("reconnecting")
                await asyncio.sleep(backoff.next_delay())
    finally:
        state("disconnected")
