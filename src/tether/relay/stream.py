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
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.websockets import WebSocket, WebSocketDisconnect

from tether.protocol import PERMISSION_EVENTS, WS_ACTIONS
from tether.relay.auth import Principal
from tether.relay.bus import Subscription
from tether.relay.errors import ApiError, Unauthorized, Unprocessable
from tether.relay.event import Event
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
from tether.relay.service import Relay

log = logging.getLogger("tether.relay.stream")

REPLAY_PAGE = 1000
AUTH_TIMEOUT = 10.0


def ping_event() -> Event:
    return Event(None, "ping", None, {"time": round(time.time(), 3)})


async def subscribe(
    relay: Relay, session_id: str | None, since: int | None
) -> tuple[Subscription, int]:
    """Subscribe a follower before telling it the stream is open (the SSE `: connected`
    comment, the WebSocket `ready`), so nothing written after that is missed. Returns the
    subscription and the cursor at or below which live events are skipped."""
    cursor = since or 0
    if since is None and relay.feed is not None:
        # The log feed also publishes what committed before this follower subscribed; a
        # live-only follower starts at the log's end as it stands before subscribing.
        cursor = await relay.store.last_event_id()
    return relay.bus.subscribe(session_id), cursor


async def follow(
    relay: Relay,
    session_id: str | None,
    since: int | None,
    types: frozenset[str] | None = None,
    subscribed: tuple[Subscription, int] | None = None,
) -> AsyncIterator[list[Event]]:
    """Every event for this follower, in cursor order, with pings in idle stretches.
    Events come in batches (whatever was queued), so a connection that fell behind catches
    up in one write rather than one per event. Ends when the follower fell too far behind;
    it should reconnect with its cursor."""
    sub, cursor = subscribed or await subscribe(relay, session_id, since)
    try:
        snapshot = [
            Event(None, "permission_request", permission["session_id"], permission)
            for event_id, permission in await relay.store.pending_with_cursor(session_id)
            if since is None or event_id <= since
        ]
        if snapshot:
            yield snapshot
        if since is not None:
            while True:
                page = await relay.store.events_after(cursor, session_id, REPLAY_PAGE)
                if page:
                    cursor = page[-1].id or cursor
                    wanted = [e for e in page if types is None or e.type in types]
                    if wanted:
                        yield wanted
                if len(page) < REPLAY_PAGE:
                    break
        interval = relay.settings.ping_interval
        while True:
            batch = await sub.wait(interval)
            if not batch:
                yield [ping_event()]
                continue
            out: list[Event] = []
            for event in batch:
                if event is None:
                    if out:
                        yield out
                    return
                if event.id is not None and event.id <= cursor:
                    continue
                cursor = event.id or cursor
                if types is None or event.type in types:
                    out.append(event)
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
    if cursor < 0:
        raise Unprocessable(f"{name}: must not be negative")
    return cursor


async def _stream_params(request: Request, relay: Relay) -> tuple[str | None, int | None]:
    session_id = request.query_params.get("session") or None
    if session_id is not None:
        await relay.store.get_session(session_id)  # 404 for an unknown session
    header = request.headers.get("last-event-id")
    since = (
        parse_cursor(header, "Last-Event-ID")
        if header
        else parse_cursor(request.query_params.get("since"), "query.since")
    )
    return session_id, since


SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def _sse_response(
    relay: Relay, session_id: str | None, since: int | None, types: frozenset[str] | None = None
) -> StreamingResponse:
    async def body() -> AsyncIterator[bytes]:
        subscribed = await subscribe(relay, session_id, since)
        try:
            # The retry hint and a comment go first so clients see the stream open at
            # once; from here on nothing written is missed.
            yield b"retry: 1000\n: connected\n\n"
            async for batch in follow(relay, session_id, since, types, subscribed):
                yield batch[0].sse if len(batch) == 1 else b"".join(e.sse for e in batch)
        finally:
            relay.bus.unsubscribe(subscribed[0])

    return StreamingResponse(body(), media_type="text/event-stream", headers=SSE_HEADERS)


async def event_stream(request: Request, relay: Relay) -> Response:
    session_id, since = await _stream_params(request, relay)
    return _sse_response(relay, session_id, since)


async def legacy_permission_stream(request: Request, relay: Relay) -> Response:
    """`GET /permissions/stream`: permission events and pings only, as terminal handlers
    of the older confirmation contract expect."""
    session_id, since = await _stream_params(request, relay)
    return _sse_response(relay, session_id, since, PERMISSION_EVENTS)


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
    stored = await relay.post_messages(
        who, _require(frame, "session_id"), [validate(MessageIn, i) for i in items]
    )
    return {"messages": stored} if isinstance(body, list) else stored[0]


async def _get_permission(relay: Relay, who: Principal, frame: dict[str, Any]) -> Any:
    return await relay.store.get_permission(_require(frame, "permission_id"))


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
        frame = orjson.loads(raw)
    except orjson.JSONDecodeError:
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

    try:
        who = await _ws_authenticate(ws, relay)
        session_id = ws.query_params.get("session") or None
        if session_id is not None:
            await relay.store.get_session(session_id)
        since = parse_cursor(ws.query_params.get("since"), "query.since")
    except ApiError as exc:
        await send(
            orjson.dumps(
                {"type": "error", "error": exc.body()["error"], "status": exc.status}
            ).decode()
        )
        await ws.close(code=4000 + exc.status, reason=exc.message[:120])
        return
    except WebSocketDisconnect:
        return

    subscribed = await subscribe(relay, session_id, since)
    try:
        await send(orjson.dumps({"type": "ready", "scope": who.scope, "name": who.name}).decode())
    except (WebSocketDisconnect, RuntimeError):
        relay.bus.unsubscribe(subscribed[0])
        return

    async def pump() -> None:
        async for batch in follow(relay, session_id, since, subscribed=subscribed):
            for event in batch:
                await send(event.ws)
        if relay.bus.closing:
            await ws.close(code=1012, reason="server restarting; reconnect with your cursor")
        else:  # fell behind: close so the client reconnects from its cursor
            await ws.close(code=4008, reason="fell behind; reconnect with your last cursor")

    pump_task = asyncio.create_task(pump())
    try:
        while True:
            raw = await _receive(ws)
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
        relay.bus.unsubscribe(subscribed[0])  # also when the pump never got to start


async def _handle_frame(relay: Relay, who: Principal, raw: str | bytes) -> str | None:
    try:
        frame = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return orjson.dumps(
            {
                "type": "error",
                "status": 400,
                "error": {"type": "malformed_json", "message": f"frame is not valid JSON: {exc}"},
            }
        ).decode()
    if not isinstance(frame, dict):
        return orjson.dumps(
            {
                "type": "error",
                "status": 422,
                "error": {"type": "validation_error", "message": "a frame must be a JSON object"},
            }
        ).decode()
    kind = frame.get("type")
    if kind == "ping":
        return orjson.dumps({"type": "pong"}).decode()
    if kind == "auth":
        return None
    req = frame.get("req")
    handler = WS_HANDLERS.get(str(frame.get("action")))
    try:
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
