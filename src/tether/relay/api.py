"""The relay's HTTP API (`/api/v1`), plus the older confirmation contract at `/permissions`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute

from tether.protocol import Capability
from tether.relay.auth import Principal
from tether.relay.errors import MalformedJSON, PayloadTooLarge, Unprocessable
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
from tether.relay.stream import event_stream, legacy_permission_stream, websocket_endpoint

Handler = Callable[[Request, Relay, Principal], Awaitable[Response]]


def json_response(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


def relay_of(request: Request) -> Relay:
    return request.app.state.relay


def endpoint(action: Capability | None = Capability.read) -> Callable[[Handler], Callable]:
    """Authenticate the caller (and check the scope for `action`) before the handler runs."""

    def wrap(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            relay = relay_of(request)
            who = await relay.auth.authenticate(request.headers.get("authorization"))
            if action is not None:
                who.require(action)
            return await handler(request, relay, who)

        run.__name__ = handler.__name__
        return run

    return wrap


async def read_json(request: Request) -> Any:
    """The parsed body, refusing oversized bodies before reading them whole."""
    limit = relay_of(request).settings.max_body_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"request body is {declared} bytes; the limit is {limit}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"request body is over the limit of {limit} bytes")
        chunks.append(chunk)
    body = b"".join(chunks)
    if not body.strip():
        return {}
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedJSON(f"the request body is not valid JSON: {exc}") from None


def int_param(
    request: Request,
    name: str,
    default: int | None,
    *,
    minimum: int = 0,
    maximum: int | None = None,
) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise Unprocessable(f"query.{name}: must be a whole number, not {raw!r}") from None
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"from {minimum} to {maximum}" if maximum is not None else f"at least {minimum}"
        raise Unprocessable(f"query.{name}: must be {bound}")
    return value


# ── sessions ──────────────────────────────────────────────────────────────────────────


@endpoint()
async def list_sessions(request: Request, relay: Relay, who: Principal) -> Response:
    status = request.query_params.get("status")
    limit = int_param(request, "limit", 500, minimum=1, maximum=5000)
    return json_response({"sessions": await relay.store.list_sessions(status, limit or 500)})


@endpoint(None)
async def create_session(request: Request, relay: Relay, who: Principal) -> Response:
    body = validate(SessionCreate, await read_json(request))
    return json_response(await relay.create_session(who, body), 201)


@endpoint()
async def get_session(request: Request, relay: Relay, who: Principal) -> Response:
    return json_response(await relay.store.get_session(request.path_params["session_id"]))


@endpoint(None)
async def patch_session(request: Request, relay: Relay, who: Principal) -> Response:
    body = validate(SessionPatch, await read_json(request))
    session_id = request.path_params["session_id"]
    return json_response(await relay.update_session(who, session_id, body))


@endpoint(None)
async def end_session(request: Request, relay: Relay, who: Principal) -> Response:
    body = validate(SessionEnd, await read_json(request))
    session_id = request.path_params["session_id"]
    return json_response(await relay.end_session(who, session_id, body.reason))


@endpoint(None)
async def interrupt(request: Request, relay: Relay, who: Principal) -> Response:
    return json_response(await relay.interrupt(who, request.path_params["session_id"]))


@endpoint(None)
async def permission_mode(request: Request, relay: Relay, who: Principal) -> Response:
    body = validate(PermissionModeIn, await read_json(request))
    session_id = request.path_params["session_id"]
    return json_response(await relay.set_permission_mode(who, session_id, body))


# ── messages ──────────────────────────────────────────────────────────────────────────


@endpoint()
async def list_messages(request: Request, relay: Relay, who: Principal) -> Response:
    session_id = request.path_params["session_id"]
    after = int_param(request, "after", 0) or 0
    before = int_param(request, "before", None, minimum=1)
    limit = int_param(request, "limit", 100, minimum=1, maximum=5000) or 100
    messages = await relay.store.list_messages(session_id, after=after, before=before, limit=limit)
    return json_response({"messages": messages})


@endpoint(None)
async def post_messages(request: Request, relay: Relay, who: Principal) -> Response:
    data = await read_json(request)
    session_id = request.path_params["session_id"]
    if isinstance(data, list):
        if not data:
            raise Unprocessable("body: send at least one message")
        items = [validate(MessageIn, item) for item in data]
        stored = await relay.post_messages(who, session_id, items)
        return json_response({"messages": stored}, 201)
    stored = await relay.post_messages(who, session_id, [validate(MessageIn, data)])
    return json_response(stored[0], 201)


# ── permission requests ───────────────────────────────────────────────────────────────


@endpoint(None)
async def open_permission(request: Request, relay: Relay, who: Principal) -> Response:
    body = validate(PermissionOpen, await read_json(request))
    session_id = request.path_params["session_id"]
    return json_response(await relay.open_permission(who, session_id, body), 201)


@endpoint()
async def list_permissions(request: Request, relay: Relay, who: Principal) -> Response:
    status = request.query_params.get("status")
    session_id = request.query_params.get("session")
    permissions = await relay.store.list_permissions(status=status, session_id=session_id)
    return json_response({"permissions": permissions})


@endpoint()
async def get_permission(request: Request, relay: Relay, who: Principal) -> Response:
    permission_id = request.path_params["permission_id"]
    wait = request.query_params.get("wait")
    if wait:
        try:
            seconds = min(max(float(wait), 0.0), 300.0)
        except ValueError:
            raise Unprocessable(f"query.wait: must be a number of seconds, not {wait!r}") from None
        return json_response(await relay.wait_permission(permission_id, seconds))
    return json_response(await relay.store.get_permission(permission_id))


@endpoint(None)
async def respond_permission(request: Request, relay: Relay, who: Principal) -> Response:
    body = validate(PermissionAnswer, await read_json(request))
    permission_id = request.path_params["permission_id"]
    return json_response(await relay.answer_permission(who, permission_id, body))


@endpoint(None)
async def cancel_permission(request: Request, relay: Relay, who: Principal) -> Response:
    body = validate(PermissionCancel, await read_json(request))
    permission_id = request.path_params["permission_id"]
    return json_response(await relay.cancel_permission(who, permission_id, body))


# ── misc ──────────────────────────────────────────────────────────────────────────────


@endpoint()
async def me(request: Request, relay: Relay, who: Principal) -> Response:
    return json_response({"token_id": who.token_id, "name": who.name, "scope": who.scope})


@endpoint()
async def events(request: Request, relay: Relay, who: Principal) -> Response:
    return await event_stream(request, relay)


@endpoint()
async def legacy_stream(request: Request, relay: Relay, who: Principal) -> Response:
    return await legacy_permission_stream(request, relay)


def relay_routes() -> list[BaseRoute]:
    v1 = [
        Route("/me", me),
        Route("/sessions", list_sessions, methods=["GET"]),
        Route("/sessions", create_session, methods=["POST"]),
        Route("/sessions/{session_id}", get_session, methods=["GET"]),
        Route("/sessions/{session_id}", patch_session, methods=["PATCH"]),
        Route("/sessions/{session_id}/messages", list_messages, methods=["GET"]),
        Route("/sessions/{session_id}/messages", post_messages, methods=["POST"]),
        Route("/sessions/{session_id}/interrupt", interrupt, methods=["POST"]),
        Route("/sessions/{session_id}/permission-mode", permission_mode, methods=["POST"]),
        Route("/sessions/{session_id}/end", end_session, methods=["POST"]),
        Route("/sessions/{session_id}/permissions", open_permission, methods=["POST"]),
        Route("/permissions", list_permissions, methods=["GET"]),
        Route("/permissions/{permission_id}", get_permission, methods=["GET"]),
        Route("/permissions/{permission_id}/respond", respond_permission, methods=["POST"]),
        Route("/permissions/{permission_id}/cancel", cancel_permission, methods=["POST"]),
        Route("/events", events, methods=["GET"]),
        WebSocketRoute("/ws", websocket_endpoint),
    ]
    return [
        Mount("/api/v1", routes=v1),
        Route("/permissions/stream", legacy_stream, methods=["GET"]),
        Route("/permissions/{permission_id}/respond", respond_permission, methods=["POST"]),
    ]
