"""Live delivery: Server-Sent Events and the WebSocket, one following logic under both.

On connect a client first gets the pending permission requests, then (when it gave a
cursor) every logged event after that cursor, then live events. Events already sent are
skipped by cursor, so a reconnect never doubles anything and never misses anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import anyio
import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.websockets import WebSocket, WebSocketDisconnect

from tether.protocol import PERMISSION_EVENTS, WS_ACTIONS
from tether.relay.auth import Principal
from tether.relay.bus import Batch, Subscription, byte_chunks, sse_bytes
from tether.relay.errors import ApiError, Forbidden, MalformedJSON, Unauthorized, Unprocessable
from tether.relay.event import WireEvent
from tether.relay.legacy import legacy_event
from tether.relay.limits import LiveConnection
from tether.relay.models import (
    MessageIn,
    PermissionAnswer,
    PermissionCancel,
    PermissionModeIn,
    PermissionOpen,
    SessionCreate,
    SessionEnd,
    SessionPatch,
    validate,
)
from tether.relay.ownership import Visibility
from tether.relay.service import Relay
from tether.relay.validation import MAX_INT64, check_json, check_params, parse_json
from tether.sse_wire import SSEWire, wire_of

log = logging.getLogger("tether.relay.stream")

REPLAY_PAGE = 1000
AUTH_TIMEOUT = 10.0
# The WebSocket close code when the connection's token is revoked (as for a token refused
# at connect: 4000 + 401). Final: reconnecting with the same token cannot succeed.
REVOKED_CLOSE_CODE = 4401


def ping_event() -> WireEvent:
    return WireEvent(None, "ping", None, {"time": round(time.time(), 3)})


async def subscribe(
    relay: Relay, session_id: str | None, since: int | None
) -> tuple[Subscription, int]:
    """Subscribe a follower before telling it the stream is open (the SSE `: connected`
    comment, the WebSocket `ready`), so nothing written after that is missed. Returns the
    subscription and the cursor at or below which live events are skipped."""
    cursor = since or 0
    if since is None:
        # A live-only follower starts at the log's end as it stands before subscribing:
        # the log feed (PostgreSQL) also publishes what committed before, and the snapshot
        # of pending requests `follow` sends first must hold only those opened by then,
        # or one opened in between would reach the follower twice (snapshot and live).
        cursor = await relay.log_end()
    return relay.bus.subscribe(session_id), cursor


async def follow(
    relay: Relay,
    session_id: str | None,
    since: int | None,
    types: frozenset[str] | None = None,
    subscribed: tuple[Subscription, int] | None = None,
    visibility: Visibility | None = None,
) -> AsyncIterator[list[WireEvent]]:
    """Every event for this follower, in cursor order, with pings in idle stretches.
    Events come in batches (whatever was queued), so a connection that fell behind catches
    up in one write rather than one per event. Ends when the follower fell too far behind;
    it should reconnect with its cursor."""
    sub, cursor = subscribed or await subscribe(relay, session_id, since)
    try:
        # The requests still pending as of the cursor; later ones come live or replayed.
        snapshot = [
            WireEvent(None, "permission_request", permission["session_id"], permission)
            for event_id, permission in await relay.pending_snapshot(session_id)
            if event_id <= cursor
        ]
        if visibility is not None:
            snapshot = await visibility.filter(snapshot)
        if snapshot:
            yield snapshot
        if since is not None:
            while True:
                page = await relay.events_after(cursor, session_id, REPLAY_PAGE)
                if page:
                    cursor = page[-1].id or cursor
                    wanted = [e for e in page if types is None or e.type in types]
                    if visibility is not None:
                        wanted = await visibility.filter(wanted)
                    for chunk in byte_chunks(wanted):
                        yield chunk
                if len(page) < REPLAY_PAGE:
                    break
            # Retention may have deleted events after `since` while they were replayed.
            horizon, _ = await relay.log_bounds()
            if horizon > since:
                yield [reset_event(cursor, since)]
        interval = relay.settings.ping_interval
        while True:
            batch = await sub.wait(interval)
            if not batch:
                yield [ping_event()]
                continue
            if (
                types is None
                and (visibility is None or visibility.owner is None)
                and batch[0] is not None
                and (batch[0].id or 0) > cursor
            ):
                # The common case: the whole batch, as the bus shares it with every
                # follower that took the same run (its bytes joined once for all).
                cursor = batch[-1].id or cursor
                yield batch  # type: ignore[misc]
                continue
            out: list[WireEvent] = []
            for event in batch:
                if event is None:
                    if out and visibility is not None:
                        out = await visibility.filter(out)
                    if out:
                        yield out
                    return
                if event.id is not None and event.id <= cursor:
                    continue
                cursor = event.id or cursor
                if types is None or event.type in types:
                    out.append(event)
            if out and visibility is not None:
                out = await visibility.filter(out)
            if out:
                yield out
    finally:
        relay.bus.unsubscribe(sub)


def parse_cursor(value: str | None, name: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        cursor = int(value)
    except ValueError:
        raise Unprocessable(
            f"{name}: must be an event id (a whole number), not {value!r}"
        ) from None
    if not 0 <= cursor <= MAX_INT64:
        raise Unprocessable(f"{name}: must be an event id from 0 to {MAX_INT64}")
    return cursor


async def clamp_cursor(relay: Relay, since: int | None) -> tuple[int | None, WireEvent | None]:
    """A cursor the log cannot resume exactly starts from the current end instead, with a
    `reset` event that tells the client to reload its state and adopt the cursor: one
    beyond the end of the log (the log was reset, or it came from another relay), and one
    older than what retention kept (events after it may have been deleted)."""
    if since is None:
        return None, None
    horizon, end = await relay.log_bounds()
    if horizon <= since <= end:
        return since, None
    return end, reset_event(end, since)


def reset_event(cursor: int, requested: int) -> WireEvent:
    return WireEvent(cursor, "reset", None, {"cursor": cursor, "requested": requested})


async def _stream_params(
    request: Request, relay: Relay, who: Principal
) -> tuple[str | None, int | None]:
    check_params(request.query_params, "query")
    session_id = request.query_params.get("session") or None
    if session_id is not None:
        await relay.get_session(who, session_id)  # 404 for an unknown session
    header = request.headers.get("last-event-id")
    since = (
        parse_cursor(header, "Last-Event-ID")
        if header
        else parse_cursor(request.query_params.get("since"), "query.since")
    )
    return session_id, since


SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def register(relay: Relay, who: Principal, sub: Subscription) -> LiveConnection:
    """Count a stream that is about to go live (ApiError past the connection limit), and
    refuse one whose token was revoked while the stream was being set up: the revocation
    ended only the connections it could see, and this one was not counted yet."""
    live = relay.connections.add(who, sub)
    if relay.auth.is_revoked(who):
        relay.connections.remove(live)
        raise Unauthorized("the token was revoked")
    return live


def _sse_response(
    relay: Relay,
    who: Principal,
    session_id: str | None,
    since: int | None,
    types: frozenset[str] | None = None,
    shape: Callable[[WireEvent], WireEvent] | None = None,
    lease: bool = False,
) -> EventStreamResponse:
    visibility = Visibility(relay.store, who)
    response: EventStreamResponse

    async def open_stream() -> _OpenStream:
        """All that may refuse the stream, done before its 200 goes out, so a refusal
        (the connection limit reached since the check, the token revoked meanwhile) is
        its own status and error body, not an empty 200."""
        cursor, reset = await clamp_cursor(relay, since)
        subscribed = await subscribe(relay, session_id, cursor)
        opened = _OpenStream(cursor, reset, subscribed)
        try:
            opened.live = register(relay, who, subscribed[0])
            if lease and session_id is not None:
                opened.holder = await relay.hold_lease(who, session_id)
        except BaseException:
            await close_stream(opened)
            raise
        return opened

    async def close_stream(opened: _OpenStream) -> None:
        if opened.live is not None:
            relay.connections.remove(opened.live)
        relay.bus.unsubscribe(opened.subscribed[0])
        if opened.holder is not None:
            # Starlette cancels the body when the client goes, and a server stopping may
            # cancel this task: the release is shielded from both.
            with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
                await relay.leases.release(session_id, opened.holder)  # type: ignore[arg-type]

    async def body(opened: _OpenStream) -> AsyncIterator[bytes]:
        holder, subscribed = opened.holder, opened.subscribed
        renewed = time.monotonic()
        # The retry hint and a comment go first so clients see the stream open at once;
        # from here on nothing written is missed.
        yield b"retry: 1000\n: connected\n\n"
        if opened.reset is not None:
            yield opened.reset.sse
        async for batch in follow(relay, session_id, opened.cursor, types, subscribed, visibility):
            if shape is not None:
                batch = [shape(event) for event in batch]
            if isinstance(batch, Batch) and holder is None and shape is None:
                # Live, and taking every event as the bus publishes it: from now on the
                # bus may write this follower's events straight to its connection.
                subscribed[0].wire = response.wire
            yield sse_bytes(batch)
            # The runner's heartbeat: what it is sent (a ping at least) renews its lease.
            if holder is not None and time.monotonic() - renewed >= 1.0:
                renewed = time.monotonic()
                try:
                    await relay.leases.renew(session_id, holder)  # type: ignore[arg-type]
                except Exception:
                    # A database hiccup must not cut the runner's stream (and so its
                    # lease): the next renewal tries again.
                    log.warning("could not renew the runner lease of %s", session_id)

    response = EventStreamResponse(open_stream, body, close_stream)
    return response


@dataclass(slots=True)
class _OpenStream:
    """A stream's state between its set-up and its end."""

    cursor: int | None
    reset: WireEvent | None
    subscribed: tuple[Subscription, int]
    live: LiveConnection | None = None
    holder: str | None = None


async def _no_body() -> AsyncIterator[bytes]:
    return
    yield  # an async generator that yields nothing


class EventStreamResponse(StreamingResponse):
    """The SSE response: opens its stream (subscribes, counts it, takes the runner's
    lease) before the status line goes out, so anything that refuses the stream is still
    a proper error response; closes it however the response ends, even when the client
    left before the body began. Keeps the connection's wire (sse_wire.py), if the server
    gave one, for the bus to write live events to."""

    wire: SSEWire | None = None

    def __init__(
        self,
        open_stream: Callable[[], Awaitable[_OpenStream]],
        body: Callable[[_OpenStream], AsyncIterator[bytes]],
        close_stream: Callable[[_OpenStream], Awaitable[None]],
    ) -> None:
        super().__init__(_no_body(), media_type="text/event-stream", headers=SSE_HEADERS)
        self._open, self._body, self._close = open_stream, body, close_stream

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.wire = wire_of(scope)
        opened = await self._open()
        self.body_iterator = self._body(opened)
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self._close(opened)


async def event_stream(request: Request, relay: Relay, who: Principal) -> Response:
    session_id, since = await _stream_params(request, relay, who)
    relay.connections.check(who)
    # `runner=1`: the session's runner follows it, and this stream holds its lease.
    lease = request.query_params.get("runner") in ("1", "true")
    if lease:
        if session_id is None:
            raise Unprocessable(
                "query.runner: a runner's stream follows one session (give session)"
            )
        if who.scope not in ("admin", "agent"):
            raise Forbidden(f"a {who.scope} token cannot hold a session as its runner")
    return _sse_response(relay, who, session_id, since, lease=lease)


async def legacy_permission_stream(request: Request, relay: Relay, who: Principal) -> Response:
    """`GET /permissions/stream`: permission events and pings only, shaped as terminal
    handlers of the older confirmation contract expect (see relay/legacy.py)."""
    session_id, since = await _stream_params(request, relay, who)
    relay.connections.check(who)
    return _sse_response(relay, who, session_id, since, PERMISSION_EVENTS, legacy_event)


# ── WebSocket ─────────────────────────────────────────────────────────────────────────

# What a WebSocket `action` frame runs (not a scope capability: see tether.protocol).
WsHandler = Callable[[Relay, Principal, dict[str, Any]], Awaitable[Any]]


def _body(frame: dict[str, Any]) -> Any:
    return frame.get("body") if frame.get("body") is not None else {}


def _require(frame: dict[str, Any], key: str) -> str:
    value = frame.get(key)
    if not isinstance(value, str) or not value:
        raise Unprocessable(f"{key}: required")
    return value


async def _post_messages(relay: Relay, who: Principal, frame: dict[str, Any]) -> Any:
    body = _body(frame)
    items = body if isinstance(body, list) else [body]
    if not items:
        raise Unprocessable("body: send at least one message")
    stored = await relay.post_messages(
        who, _require(frame, "session_id"), [validate(MessageIn, i) for i in items]
    )
    return {"messages": stored} if isinstance(body, list) else stored[0]


async def _get_permission(relay: Relay, who: Principal, frame: dict[str, Any]) -> Any:
    return await relay.get_permission(who, _require(frame, "permission_id"))


WS_HANDLERS: dict[str, WsHandler] = {
    "create_session": lambda r, w, f: r.create_session(w, validate(SessionCreate, _body(f))),
    "update_session": lambda r, w, f: r.update_session(
        w, _require(f, "session_id"), validate(SessionPatch, _body(f))
    ),
    "post_messages": _post_messages,
    "interrupt": lambda r, w, f: r.interrupt(w, _require(f, "session_id")),
    "set_permission_mode": lambda r, w, f: r.set_permission_mode(
        w, _require(f, "session_id"), validate(PermissionModeIn, _body(f))
    ),
    "end_session": lambda r, w, f: r.end_session(
        w, _require(f, "session_id"), validate(SessionEnd, _body(f)).reason
    ),
    "open_permission": lambda r, w, f: r.open_permission(
        w, _require(f, "session_id"), validate(PermissionOpen, _body(f))
    ),
    "respond": lambda r, w, f: r.answer_permission(
        w, _require(f, "permission_id"), validate(PermissionAnswer, _body(f))
    ),
    "cancel_permission": lambda r, w, f: r.cancel_permission(
        w, _require(f, "permission_id"), validate(PermissionCancel, _body(f))
    ),
    "get_permission": _get_permission,
}


async def _receive(ws: WebSocket) -> str | bytes:
    """The next frame's payload, text or binary alike (both carry JSON); receive_text
    would fail with a KeyError on a binary frame."""
    message = await ws.receive()
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000), message.get("reason"))
    text = message.get("text")
    return text if text is not None else message.get("bytes") or b""


async def _ws_authenticate(ws: WebSocket, relay: Relay) -> Principal:
    header = ws.headers.get("authorization")
    if header:
        return await relay.auth.authenticate(header)
    # Browsers cannot set headers on a WebSocket, and tokens in URLs end up in logs:
    # the first frame carries the token instead.
    try:
        raw = await asyncio.wait_for(_receive(ws), AUTH_TIMEOUT)
    except TimeoutError:
        raise Unauthorized("no auth frame within 10 seconds") from None
    try:
        frame = parse_json(raw, "the auth frame")
    except MalformedJSON:
        raise Unauthorized('the first frame must be {"type": "auth", "token": "..."}') from None
    if (
        not isinstance(frame, dict)
        or frame.get("type") != "auth"
        or not isinstance(frame.get("token"), str)
    ):
        raise Unauthorized('the first frame must be {"type": "auth", "token": "..."}')
    return await relay.auth.check(frame["token"])


async def websocket_endpoint(ws: WebSocket) -> None:
    relay: Relay = ws.app.state.relay
    await ws.accept()
    send_lock = asyncio.Lock()

    async def send(text: str) -> None:
        async with send_lock:
            await ws.send_text(text)

    async def refuse(exc: ApiError) -> None:
        error = {"type": "error", "error": exc.body()["error"], "status": exc.status}
        await send(orjson.dumps(error).decode())
        await ws.close(code=4000 + exc.status, reason=exc.message[:120])

    try:
        who = await _ws_authenticate(ws, relay)
        await relay.devices.seen(who.token_id)
        check_params(ws.query_params, "query")
        session_id = ws.query_params.get("session") or None
        if session_id is not None:
            await relay.get_session(who, session_id)
        since, reset = await clamp_cursor(
            relay, parse_cursor(ws.query_params.get("since"), "query.since")
        )
        relay.connections.check(who)
    except ApiError as exc:
        await refuse(exc)
        return
    except WebSocketDisconnect:
        return

    subscribed = await subscribe(relay, session_id, since)
    try:
        live = register(relay, who, subscribed[0])
    except ApiError as exc:  # the limit was reached, or the token revoked, since the check
        relay.bus.unsubscribe(subscribed[0])
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            await refuse(exc)
        return
    try:
        await send(orjson.dumps({"type": "ready", "scope": who.scope, "name": who.name}).decode())
        if reset is not None:
            await send(reset.ws)
    except (WebSocketDisconnect, RuntimeError):
        relay.connections.remove(live)
        relay.bus.unsubscribe(subscribed[0])
        return

    async def pump() -> None:
        visibility = Visibility(relay.store, who)
        async for batch in follow(relay, session_id, since, None, subscribed, visibility):
            for event in batch:
                await send(event.ws)
        if live.revoked:
            await ws.close(code=REVOKED_CLOSE_CODE, reason="the token was revoked")
        elif relay.bus.closing:
            await ws.close(code=1012, reason="server restarting; reconnect with your cursor")
        else:  # fell behind: close so the client reconnects from its cursor
            await ws.close(code=4008, reason="fell behind; reconnect with your last cursor")

    pump_task = asyncio.create_task(pump())
    try:
        while True:
            raw = await _receive(ws)
            if live.revoked:  # act on nothing more, whatever the pump is doing
                with contextlib.suppress(RuntimeError):
                    await ws.close(code=REVOKED_CLOSE_CODE, reason="the token was revoked")
                break
            reply = await _handle_frame(relay, who, raw)
            if reply is not None:
                await send(reply)
    except WebSocketDisconnect:
        pass
    except RuntimeError:
        pass  # the socket was closed under us (pump closed it)
    finally:
        pump_task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await pump_task
        relay.connections.remove(live)
        relay.bus.unsubscribe(subscribed[0])  # also when the pump never got to start


def _error_frame(exc: ApiError) -> str:
    return orjson.dumps({"type": "error", "status": exc.status, **exc.body()}).decode()


async def _handle_frame(relay: Relay, who: Principal, raw: str | bytes) -> str | None:
    try:
        frame = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return _error_frame(MalformedJSON(f"frame is not valid JSON: {exc}"))
    if not isinstance(frame, dict):
        return _error_frame(Unprocessable("a frame must be a JSON object"))
    req = frame.get("req")
    if not isinstance(req, str | int | float | None) or isinstance(req, bool):
        # `req` is echoed back as given; only a scalar is sure to be written back out.
        return _error_frame(Unprocessable("req: must be a string or a number"))
    kind = frame.get("type")
    if kind == "ping":
        return orjson.dumps({"type": "pong"}).decode()
    if kind == "auth":
        return None
    handler = WS_HANDLERS.get(str(frame.get("action")))
    try:
        check_json(frame)
        if kind != "action" or handler is None:
            raise Unprocessable(
                f"unknown frame: expected type 'action' with action one of {', '.join(WS_ACTIONS)}"
            )
        result = await handler(relay, who, frame)
        return orjson.dumps({"type": "reply", "req": req, "ok": True, "data": result}).decode()
    except ApiError as exc:
        return orjson.dumps(
            {
                "type": "reply",
                "req": req,
                "ok": False,
                "status": exc.status,
                "error": exc.body()["error"],
            }
        ).decode()
    except Exception:
        log.exception("websocket action %s failed", frame.get("action"))
        return orjson.dumps(
            {
                "type": "reply",
                "req": req,
                "ok": False,
                "status": 500,
                "error": {"type": "internal_error", "message": "the relay failed to do that"},
            }
        ).decode()
