"""The relay's HTTP API (`/api/v1`), plus the older confirmation contract at `/permissions`."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute

from tether.protocol import Capability
from tether.relay.auth import Principal
from tether.relay.errors import NotFound, PayloadTooLarge, Unauthorized, Unprocessable
from tether.relay.models import (
    MessageIn,
    PairingComplete,
    PairingCreate,
    PermissionAnswer,
    PermissionCancel,
    PermissionModeIn,
    PermissionOpen,
    PushSettingsIn,
    PushSubscribe,
    PushUnsubscribe,
    SessionCreate,
    SessionEnd,
    SessionKeyGrant,
    SessionPatch,
    TokenCreate,
    validate,
)
from tether.relay.notify import Notifier
from tether.relay.openapi import Operation, Param, openapi_document
from tether.relay.service import Relay
from tether.relay.stream import event_stream, legacy_permission_stream, websocket_endpoint
from tether.relay.validation import MAX_INT64, check_params, parse_json

T = TypeVar("T", bound=BaseModel)

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
            check_params(request.path_params, "path")
            check_params(request.query_params, "query")
            who = await relay.auth.authenticate(request.headers.get("authorization"))
            await relay.devices.seen(who.token_id)
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
    return parse_json(body)


async def read_body(request: Request, model: type[T]) -> T:
    """The body, read within the size limit and validated as `model` (422 naming the field)."""
    return validate(model, await read_json(request))


LIMIT_SESSIONS = Param("limit", "integer", minimum=1, maximum=5000, default=500)
LIMIT_MESSAGES = Param("limit", "integer", minimum=1, maximum=5000, default=100)
AFTER = Param("after", "integer", "messages after this seq", minimum=0, maximum=MAX_INT64)
BEFORE = Param("before", "integer", "the newest before this seq", minimum=1, maximum=MAX_INT64)
STATUS = Param("status")
SESSION = Param("session", description="only this session's")
WAIT = Param("wait", "number", "hold until resolved, at most this many seconds", minimum=0)
SINCE = Param("since", "integer", "replay the log after this cursor", minimum=0, maximum=MAX_INT64)


def int_param(request: Request, param: Param) -> int | None:
    raw = request.query_params.get(param.name)
    if raw is None or raw == "":
        return param.default
    try:
        value = int(raw)
    except ValueError:
        raise Unprocessable(f"query.{param.name}: must be a whole number, not {raw!r}") from None
    low, high = int(param.minimum or 0), int(param.maximum or MAX_INT64)
    if not low <= value <= high:
        raise Unprocessable(f"query.{param.name}: must be from {low} to {high}")
    return value


def wait_seconds(raw: str) -> float:
    """`?wait=S`: a finite, non-negative number of seconds; more than 300 waits 300."""
    try:
        seconds = float(raw)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds < 0:
        raise Unprocessable(f"query.wait: must be a number of seconds from 0 to 300, not {raw!r}")
    return min(seconds, 300.0)


# ── sessions ──────────────────────────────────────────────────────────────────────────


@endpoint()
async def list_sessions(request: Request, relay: Relay, who: Principal) -> Response:
    status = request.query_params.get("status")
    limit = int_param(request, LIMIT_SESSIONS) or 500
    return json_response({"sessions": await relay.list_sessions(who, status, limit)})


@endpoint(None)
async def create_session(request: Request, relay: Relay, who: Principal) -> Response:
    body = await read_body(request, SessionCreate)
    return json_response(await relay.create_session(who, body), 201)


@endpoint()
async def get_session(request: Request, relay: Relay, who: Principal) -> Response:
    return json_response(await relay.get_session(who, request.path_params["session_id"]))


@endpoint(None)
async def patch_session(request: Request, relay: Relay, who: Principal) -> Response:
    body = await read_body(request, SessionPatch)
    session_id = request.path_params["session_id"]
    return json_response(await relay.update_session(who, session_id, body))


@endpoint(Capability.grant_key)
async def add_session_key(request: Request, relay: Relay, who: Principal) -> Response:
    body = validate(SessionKeyGrant, await read_json(request))
    session_id = request.path_params["session_id"]
    return json_response(await relay.add_session_key(who, session_id, body), 201)


@endpoint(None)
async def end_session(request: Request, relay: Relay, who: Principal) -> Response:
    body = await read_body(request, SessionEnd)
    session_id = request.path_params["session_id"]
    return json_response(await relay.end_session(who, session_id, body.reason))


@endpoint(None)
async def interrupt(request: Request, relay: Relay, who: Principal) -> Response:
    return json_response(await relay.interrupt(who, request.path_params["session_id"]))


@endpoint(None)
async def permission_mode(request: Request, relay: Relay, who: Principal) -> Response:
    body = await read_body(request, PermissionModeIn)
    session_id = request.path_params["session_id"]
    return json_response(await relay.set_permission_mode(who, session_id, body))


# ── messages ──────────────────────────────────────────────────────────────────────────


@endpoint()
async def list_messages(request: Request, relay: Relay, who: Principal) -> Response:
    session_id = request.path_params["session_id"]
    after = int_param(request, AFTER) or 0
    before = int_param(request, BEFORE)
    limit = int_param(request, LIMIT_MESSAGES) or 100
    messages = await relay.list_messages(who, session_id, after=after, before=before, limit=limit)
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
    body = await read_body(request, PermissionOpen)
    session_id = request.path_params["session_id"]
    return json_response(await relay.open_permission(who, session_id, body), 201)


@endpoint()
async def list_permissions(request: Request, relay: Relay, who: Principal) -> Response:
    status = request.query_params.get("status")
    session_id = request.query_params.get("session")
    permissions = await relay.list_permissions(who, status, session_id)
    return json_response({"permissions": permissions})


@endpoint()
async def get_permission(request: Request, relay: Relay, who: Principal) -> Response:
    permission_id = request.path_params["permission_id"]
    permission = await relay.get_permission(who, permission_id)  # 404 / 403 before waiting
    wait = request.query_params.get("wait")
    if wait:
        answer = await relay.wait_permission(permission_id, wait_seconds(wait))
        if relay.auth.is_revoked(who):  # revoked while it waited: the answer is not theirs
            raise Unauthorized("the token was revoked")
        return json_response(answer)
    return json_response(permission)


@endpoint(None)
async def respond_permission(request: Request, relay: Relay, who: Principal) -> Response:
    body = await read_body(request, PermissionAnswer)
    permission_id = request.path_params["permission_id"]
    return json_response(await relay.answer_permission(who, permission_id, body))


@endpoint(None)
async def cancel_permission(request: Request, relay: Relay, who: Principal) -> Response:
    body = await read_body(request, PermissionCancel)
    permission_id = request.path_params["permission_id"]
    return json_response(await relay.cancel_permission(who, permission_id, body))


# ── push notifications ────────────────────────────────────────────────────────────


def push_of(request: Request) -> Notifier:
    return request.app.state.push


@endpoint()
async def push_key(request: Request, relay: Relay, who: Principal) -> Response:
    return json_response({"public_key": push_of(request).public_key})


@endpoint()
async def push_subscribe(request: Request, relay: Relay, who: Principal) -> Response:
    body = await read_body(request, PushSubscribe)
    return json_response(await push_of(request).subscribe(who, body), 201)


@endpoint()
async def push_unsubscribe(request: Request, relay: Relay, who: Principal) -> Response:
    body = await read_body(request, PushUnsubscribe)
    return json_response(await push_of(request).unsubscribe(who, body))


@endpoint()
async def push_subscriptions(request: Request, relay: Relay, who: Principal) -> Response:
    return json_response({"subscriptions": await push_of(request).of_token(who)})


@endpoint()
async def push_settings(request: Request, relay: Relay, who: Principal) -> Response:
    body = await read_body(request, PushSettingsIn)
    subscription_id = request.path_params["subscription_id"]
    return json_response(await push_of(request).configure(who, subscription_id, body))


# ── flows (the gateway's captured model calls) ────────────────────────────────────────

LIMIT_FLOWS = Param("limit", "integer", minimum=1, maximum=1000, default=100)
FLOW_MODEL = Param("model", description="the client's or the upstream model name")
FLOW_PROVIDER = Param("provider", description="the provider routing chose")
FLOW_STATUS = Param("status", "integer", "the status returned to the client", 100, 599)
FLOW_SINCE = Param("since", "number", "received at or after (Unix seconds)", minimum=0)
FLOW_BEFORE = Param("before", description="the page after this cursor (a flow id)")
FLOW_QUERY = (SESSION, FLOW_MODEL, FLOW_PROVIDER, FLOW_STATUS, FLOW_SINCE, FLOW_BEFORE, LIMIT_FLOWS)
FLOW_PARTS = {
    "request": "request_body",
    "upstream-request": "upstream_request_body",
    "upstream-response": "upstream_response_body",
    "response": "response_body",
}


@endpoint(Capability.read_flows)
async def list_flows(request: Request, relay: Relay, who: Principal) -> Response:
    query = request.query_params
    since = query.get("since")
    try:
        since_at = float(since) if since else None
    except ValueError:
        since_at = math.nan
    # NaN compares false to everything (an empty page that looks like "no flows").
    if since_at is not None and not (math.isfinite(since_at) and since_at >= 0):
        raise Unprocessable(f"query.since: must be Unix seconds, not {since!r}")
    limit = int_param(request, LIMIT_FLOWS) or 100
    flows = await relay.store.flows.list(
        session=query.get("session") or None,
        model=query.get("model") or None,
        provider=query.get("provider") or None,
        status=int_param(request, FLOW_STATUS),
        since=since_at,
        before=query.get("before") or None,
        limit=limit,
    )
    cursor = flows[-1]["id"] if len(flows) == limit else None
    return json_response({"flows": flows, "next": cursor})


async def _flow(relay: Relay, flow_id: str) -> dict[str, Any]:
    flow = await relay.store.flows.get(flow_id)
    if flow is None:
        raise NotFound(f"no flow {flow_id!r} (it may have been pruned)")
    return flow


@endpoint(Capability.read_flows)
async def get_flow(request: Request, relay: Relay, who: Principal) -> Response:
    flow = await _flow(relay, request.path_params["flow_id"])
    for column in FLOW_PARTS.values():
        body = flow[column]
        flow[column] = None if body is None else body.decode("utf-8", "replace")
    return json_response(flow)


@endpoint(Capability.read_flows)
async def get_flow_body(request: Request, relay: Relay, who: Principal) -> Response:
    part = request.path_params["part"]
    if part not in FLOW_PARTS:
        raise NotFound(f"no body {part!r}: one of {', '.join(FLOW_PARTS)}")
    flow = await _flow(relay, request.path_params["flow_id"])
    body = flow[FLOW_PARTS[part]]
    if body is None:
        raise NotFound(f"flow {flow['id']} kept no {part} body (capture was {flow['capture']})")
    return Response(body, media_type="application/octet-stream")


# ── misc ──────────────────────────────────────────────────────────────────────────────


@endpoint()
async def me(request: Request, relay: Relay, who: Principal) -> Response:
    return json_response({"token_id": who.token_id, "name": who.name, "scope": who.scope})


@endpoint(Capability.manage_tokens)
async def list_tokens(request: Request, relay: Relay, who: Principal) -> Response:
    return json_response({"tokens": await relay.list_tokens(who)})


@endpoint(None)
async def create_token(request: Request, relay: Relay, who: Principal) -> Response:
    body = await read_body(request, TokenCreate)
    return json_response(await relay.create_token(who, body), 201)


@endpoint(None)
async def revoke_token(request: Request, relay: Relay, who: Principal) -> Response:
    return json_response(await relay.revoke_token(who, request.path_params["token_id"]))


# ── pairing and devices ───────────────────────────────────────────────────────────────


@endpoint(Capability.manage_tokens)
async def create_pairing(request: Request, relay: Relay, who: Principal) -> Response:
    body = await read_body(request, PairingCreate)
    row = await relay.devices.create_pairing(
        body.id, body.verifier, body.scope, body.name, body.expires_in
    )
    return json_response(row, 201)


@endpoint(Capability.manage_tokens)
async def get_pairing(request: Request, relay: Relay, who: Principal) -> Response:
    return json_response(await relay.devices.get_pairing(request.path_params["pairing_id"]))


async def pairing_challenge(request: Request) -> Response:
    """No token: the device has none yet. What it proves is knowledge of the link."""
    check_params(request.path_params, "path")
    relay = relay_of(request)
    return json_response(await relay.devices.challenge(request.path_params["pairing_id"]))


async def complete_pairing(request: Request) -> Response:
    check_params(request.path_params, "path")
    relay = relay_of(request)
    body = await read_body(request, PairingComplete)
    paired = await relay.devices.complete(
        request.path_params["pairing_id"], body.nonce, body.public_key, body.proof, body.host_proof
    )
    return json_response(paired, 201)


@endpoint()
async def list_devices(request: Request, relay: Relay, who: Principal) -> Response:
    return json_response({"devices": await relay.devices.list()})


@endpoint(Capability.manage_tokens)
async def revoke_device(request: Request, relay: Relay, who: Principal) -> Response:
    device = await relay.devices.revoke(request.path_params["device"])
    relay.auth.revoke(device["token_id"])
    relay.connections.revoke(device["token_id"])
    return json_response(device)


@endpoint()
async def events(request: Request, relay: Relay, who: Principal) -> Response:
    return await event_stream(request, relay, who)


@endpoint()
async def legacy_stream(request: Request, relay: Relay, who: Principal) -> Response:
    return await legacy_permission_stream(request, relay, who)


@endpoint()
async def openapi(request: Request, relay: Relay, who: Principal) -> Response:
    return json_response(openapi_document(OPERATIONS))


OPERATIONS = (
    Operation("GET", "/me", me, "The caller's token: name and scope"),
    Operation("GET", "/sessions", list_sessions, "Sessions", query=(STATUS, LIMIT_SESSIONS)),
    Operation("POST", "/sessions", create_session, "Create a session", SessionCreate, created=True),
    Operation("GET", "/sessions/{session_id}", get_session, "A session"),
    Operation("PATCH", "/sessions/{session_id}", patch_session, "Change a session", SessionPatch),
    Operation(
        "GET",
        "/sessions/{session_id}/messages",
        list_messages,
        "A session's messages",
        query=(AFTER, BEFORE, LIMIT_MESSAGES),
    ),
    Operation(
        "POST",
        "/sessions/{session_id}/messages",
        post_messages,
        "Post one message or a list",
        MessageIn,
        body_list=True,
        created=True,
    ),
    Operation(
        "POST",
        "/sessions/{session_id}/keys",
        add_session_key,
        "Share an encrypted session's key with another paired device (add only; admin, client)",
        SessionKeyGrant,
        created=True,
    ),
    Operation("POST", "/sessions/{session_id}/interrupt", interrupt, "Interrupt the turn"),
    Operation(
        "POST",
        "/sessions/{session_id}/permission-mode",
        permission_mode,
        "Change the permission mode",
        PermissionModeIn,
    ),
    Operation("POST", "/sessions/{session_id}/end", end_session, "End a session", SessionEnd),
    Operation(
        "POST",
        "/sessions/{session_id}/permissions",
        open_permission,
        "Open a permission request",
        PermissionOpen,
        created=True,
    ),
    Operation(
        "GET", "/permissions", list_permissions, "Permission requests", query=(STATUS, SESSION)
    ),
    Operation(
        "GET", "/permissions/{permission_id}", get_permission, "A permission request", query=(WAIT,)
    ),
    Operation(
        "POST",
        "/permissions/{permission_id}/respond",
        respond_permission,
        "Answer a permission request",
        PermissionAnswer,
    ),
    Operation(
        "POST",
        "/permissions/{permission_id}/cancel",
        cancel_permission,
        "Cancel a permission request",
        PermissionCancel,
    ),
    Operation(
        "GET",
        "/flows",
        list_flows,
        "The gateway's captured model calls, newest first (admin, client)",
        query=FLOW_QUERY,
    ),
    Operation("GET", "/flows/{flow_id}", get_flow, "A flow, bodies as text (admin, client)"),
    Operation(
        "GET",
        "/flows/{flow_id}/body/{part}",
        get_flow_body,
        "One body of a flow as it was on the wire (request, upstream-request, "
        "upstream-response, response)",
        raw=True,
    ),
    Operation("GET", "/tokens", list_tokens, "Tokens (admin)"),
    Operation("POST", "/tokens", create_token, "Mint a token (admin)", TokenCreate, created=True),
    Operation("POST", "/tokens/{token_id}/revoke", revoke_token, "Revoke a token (admin)"),
    Operation("GET", "/push/key", push_key, "The VAPID public key (applicationServerKey)"),
    Operation(
        "POST",
        "/push/subscribe",
        push_subscribe,
        "Subscribe this device to push notifications",
        PushSubscribe,
        created=True,
    ),
    Operation(
        "POST", "/push/unsubscribe", push_unsubscribe, "Unsubscribe a device", PushUnsubscribe
    ),
    Operation("GET", "/push/subscriptions", push_subscriptions, "This token's push devices"),
    Operation(
        "PATCH",
        "/push/subscriptions/{subscription_id}",
        push_settings,
        "Change a device's notification settings",
        PushSettingsIn,
    ),
    Operation(
        "POST",
        "/pairings",
        create_pairing,
        "Open a pairing link (admin)",
        PairingCreate,
        created=True,
    ),
    Operation("GET", "/pairings/{pairing_id}", get_pairing, "A pairing link (admin)"),
    Operation(
        "POST",
        "/pairings/{pairing_id}/challenge",
        pairing_challenge,
        "A pairing challenge (no token: the link's secret is the credential)",
    ),
    Operation(
        "POST",
        "/pairings/{pairing_id}/complete",
        complete_pairing,
        "Complete a pairing: a token for the device",
        PairingComplete,
        created=True,
    ),
    Operation("GET", "/devices", list_devices, "Paired devices"),
    Operation("POST", "/devices/{device}/revoke", revoke_device, "Revoke a device (admin)"),
    Operation(
        "GET", "/events", events, "The event stream (SSE)", query=(SESSION, SINCE), stream=True
    ),
)


def relay_routes() -> list[BaseRoute]:
    v1: list[BaseRoute] = [Route(op.path, op.handler, methods=[op.method]) for op in OPERATIONS]
    v1 += [
        Route("/openapi.json", openapi, methods=["GET"]),
        WebSocketRoute("/ws", websocket_endpoint),
    ]
    return [
        Mount("/api/v1", routes=v1),
        Route("/permissions/stream", legacy_stream, methods=["GET"]),
        Route("/permissions/{permission_id}/respond", respond_permission, methods=["POST"]),
    ]
