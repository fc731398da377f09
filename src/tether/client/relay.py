"""`RelayClient`: every call of the relay protocol (docs/protocol.md) over one pooled
HTTP client, and `events()`, which follows the event stream across outages.

Calls do not retry: an error surfaces at once as a typed exception (`errors.py`) and the
caller decides, since only it knows whether a repeat is safe. Only `events()` retries,
because a stream that resumes from its cursor repeats nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any, Literal
from urllib.parse import quote

import httpx

from tether import __version__
from tether.backoff import Backoff
from tether.client.errors import RelayUnavailable, error_from
from tether.client.stream import (
    Connection,
    Event,
    StateCallback,
    describe_transport_error,
    follow,
    sse_connection,
    ws_connection,
)
from tether.tls import client_context

DEFAULT_TIMEOUT = 30.0
# Pings come every 15 s by default; three missed ones mean the connection is dead.
DEFAULT_IDLE_TIMEOUT = 45.0


def _seg(value: str) -> str:
    """A path segment: an id can never reach another route ("../tokens", "a/b")."""
    return quote(str(value), safe="")


def _given(fields: dict[str, Any]) -> dict[str, Any]:
    """The fields given a value: a None is left out, so the relay applies its default."""
    return {k: v for k, v in fields.items() if v is not None}


class RelayClient:
    """An async client of one relay. Use as `async with RelayClient(url, token) as relay:`
    (or call `aclose()`); one connection pool serves every call."""

    def __init__(
        self,
        url: str = "http://127.0.0.1:8787",
        token: str = "",
        *,
        timeout: float = DEFAULT_TIMEOUT,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
        backoff_base: float = 1.0,
        backoff_cap: float = 60.0,
        verify: bool | str = True,
    ) -> None:
        self.url = url.rstrip("/")
        self._token = token
        self.timeout = timeout
        self.idle_timeout = idle_timeout
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.last_event_id: int | None = None
        self._http = httpx.AsyncClient(
            base_url=self.url,
            timeout=timeout,
            verify=client_context() if verify is True else verify,
            headers={
                "Authorization": f"Bearer {token}",
                "User-Agent": f"tether-client/{__version__}",
            },
        )

    def __repr__(self) -> str:  # never the token
        return f"RelayClient(url={self.url!r})"

    async def __aenter__(self) -> RelayClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # ── plumbing ──────────────────────────────────────────────────────────────────────

    async def _send(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        timeout: float | None = None,
    ) -> httpx.Response:
        query = _given(params or {})
        try:
            response = await self._http.request(
                method,
                "/api/v1" + path,
                json=json,
                params=query or None,
                timeout=timeout if timeout is not None else self.timeout,
            )
        except httpx.TransportError as exc:
            raise RelayUnavailable(describe_transport_error(exc)) from None
        if response.status_code >= 400:
            try:
                payload = response.json()
            except ValueError:
                payload = None
            raise error_from(response.status_code, payload)
        return response

    async def request(self, method: str, path: str, **options: Any) -> Any:
        """One call of `/api/v1{path}` (options: json, params, timeout): the decoded JSON
        answer, or a typed `RelayError`."""
        response = await self._send(method, path, **options)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise RelayUnavailable(
                f"the relay answered HTTP {response.status_code} with a body that is not "
                "JSON; is this a tether relay?",
                status=response.status_code,
            ) from None

    # ── flows: the gateway's captured model calls ─────────────────────────────────────

    async def list_flows(self, **filters: Any) -> dict[str, Any]:
        """`{"flows": [...], "next": cursor}`; filters: session, model, provider, status,
        since (Unix seconds), before (a cursor), limit."""
        return await self.request("GET", "/flows", params=filters)

    async def get_flow(self, flow_id: str) -> dict[str, Any]:
        return await self.request("GET", f"/flows/{_seg(flow_id)}")

    async def flow_body(self, flow_id: str, part: str) -> bytes:
        """One body as it was on the wire: request, upstream-request, upstream-response,
        response."""
        response = await self._send("GET", f"/flows/{_seg(flow_id)}/body/{_seg(part)}")
        return response.content

    # ── who am I ──────────────────────────────────────────────────────────────────────

    async def me(self) -> dict[str, Any]:
        return await self.request("GET", "/me")

    # ── tokens (an admin token only) ──────────────────────────────────────────────────

    async def list_tokens(self) -> list[dict[str, Any]]:
        """Every token's id, name, scope and times; never a secret."""
        return list((await self.request("GET", "/tokens"))["tokens"])

    async def create_token(self, scope: str, name: str | None = None) -> dict[str, Any]:
        """A new token: its row, and the token itself as `token` (shown this once)."""
        body: dict[str, Any] = {"scope": scope}
        if name is not None:
            body["name"] = name
        return await self.request("POST", "/tokens", json=body)

    async def revoke_token(self, token_id: str) -> dict[str, Any]:
        return await self.request("POST", f"/tokens/{_seg(token_id)}/revoke")

    # ── pairing and devices ───────────────────────────────────────────────────────────

    async def create_pairing(self, body: dict[str, Any]) -> dict[str, Any]:
        """Open a pairing link: {id, verifier, scope, name, expires_in} (admin)."""
        return await self.request("POST", "/pairings", json=body)

    async def get_pairing(self, pairing_id: str) -> dict[str, Any]:
        return await self.request("GET", f"/pairings/{_seg(pairing_id)}")

    async def list_devices(self) -> list[dict[str, Any]]:
        return list((await self.request("GET", "/devices"))["devices"])

    async def revoke_device(self, name: str) -> dict[str, Any]:
        return await self.request("POST", f"/devices/{_seg(name)}/revoke")

    # ── sessions ──────────────────────────────────────────────────────────────────────

    async def create_session(
        self,
        title: str | None = None,
        agent: str | None = "claude-code",
        cwd: str | None = None,
        host: str | None = None,
        metadata: dict[str, Any] | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        body = {"title": title, "agent": agent, "cwd": cwd, "host": host, "metadata": metadata}
        return await self.request("POST", "/sessions", json=_given({**body, **fields}))

    async def list_sessions(self, status: str | None = None) -> list[dict[str, Any]]:
        answer = await self.request("GET", "/sessions", params={"status": status})
        return list(answer["sessions"])

    async def get_session(self, session_id: str) -> dict[str, Any]:
        return await self.request("GET", f"/sessions/{_seg(session_id)}")

    async def update_session(
        self, session_id: str, *, expected_version: int | None = None, **fields: Any
    ) -> dict[str, Any]:
        body = dict(fields)
        if expected_version is not None:
            body["expected_version"] = expected_version
        return await self.request("PATCH", f"/sessions/{_seg(session_id)}", json=body)

    async def add_session_key(
        self, session_id: str, recipient: str, wrapped: dict[str, Any], expected_version: int
    ) -> dict[str, Any]:
        """Share an encrypted session's key with one more device (add only; a recipient
        already in the key set is a Conflict, a stale version a VersionConflict)."""
        body = {"recipient": recipient, "wrapped": wrapped, "expected_version": expected_version}
        return await self.request("POST", f"/sessions/{_seg(session_id)}/keys", json=body)

    async def messages(
        self, session_id: str, after: int = 0, limit: int = 100, before: int | None = None
    ) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"limit": limit, "before": before}
        if before is None or after:
            params["after"] = after
        answer = await self.request("GET", f"/sessions/{_seg(session_id)}/messages", params=params)
        return list(answer["messages"])

    async def post_messages(
        self, session_id: str, messages: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """Post several messages at once; an `id` on each makes a retry store it once."""
        answer = await self.request(
            "POST", f"/sessions/{_seg(session_id)}/messages", json=list(messages)
        )
        return list(answer["messages"])

    async def send_text(self, session_id: str, text: str, id: str | None = None) -> dict[str, Any]:
        """A prompt for the session's agent (a `user_text` message)."""
        body: dict[str, Any] = {"role": "user", "kind": "user_text", "content": {"text": text}}
        if id is not None:
            body["id"] = id
        return await self.request("POST", f"/sessions/{_seg(session_id)}/messages", json=body)

    async def interrupt(self, session_id: str) -> None:
        await self.request("POST", f"/sessions/{_seg(session_id)}/interrupt")

    async def set_permission_mode(self, session_id: str, mode: str) -> dict[str, Any]:
        return await self.request(
            "POST", f"/sessions/{_seg(session_id)}/permission-mode", json={"mode": mode}
        )

    async def end_session(self, session_id: str, reason: str | None = None) -> dict[str, Any]:
        body = {"reason": reason} if reason is not None else {}
        return await self.request("POST", f"/sessions/{_seg(session_id)}/end", json=body)

    # ── permission requests ───────────────────────────────────────────────────────────

    async def open_permission(
        self,
        session_id: str,
        *,
        tool_name: str,
        input: dict[str, Any],
        tool_use_id: str | None = None,
        title: str | None = None,
        description: str | None = None,
        suggestions: list[Any] | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        body = {
            "tool_name": tool_name,
            "input": input,
            "tool_use_id": tool_use_id,
            "title": title,
            "description": description,
            "suggestions": suggestions,
            "timeout": timeout,
        }
        return await self.request(
            "POST",
            f"/sessions/{_seg(session_id)}/permissions",
            json=_given(body),
        )

    async def get_permission(self, permission_id: str, wait: float | None = None) -> dict[str, Any]:
        """The request; with `wait`, held by the relay until it is resolved or `wait`
        seconds pass (then still pending)."""
        timeout = None if wait is None else max(self.timeout, wait + 15)
        return await self.request(
            "GET", f"/permissions/{_seg(permission_id)}", params={"wait": wait}, timeout=timeout
        )

    async def list_permissions(
        self, status: str | None = "pending", session_id: str | None = None
    ) -> list[dict[str, Any]]:
        answer = await self.request(
            "GET", "/permissions", params={"status": status, "session": session_id}
        )
        return list(answer["permissions"])

    async def respond(
        self,
        permission_id: str,
        behavior: Literal["allow", "deny"],
        *,
        updated_input: dict[str, Any] | None = None,
        message: str | None = None,
        interrupt: bool = False,
        remember: bool | list[int] = False,
    ) -> dict[str, Any]:
        """Answer a permission request. `remember` applies the request's suggestions from
        now on: a list picks them by index, `True` takes them all. `AlreadyResolved` when
        someone (or something) answered it first; its `.permission` says how."""
        body: dict[str, Any] = {"behavior": behavior, "interrupt": interrupt, "remember": remember}
        if updated_input is not None:
            body["updated_input"] = updated_input
        if message is not None:
            body["message"] = message
        return await self.request("POST", f"/permissions/{_seg(permission_id)}/respond", json=body)

    async def cancel_permission(
        self, permission_id: str, reason: str | None = None
    ) -> dict[str, Any]:
        body = {"reason": reason} if reason is not None else {}
        return await self.request("POST", f"/permissions/{_seg(permission_id)}/cancel", json=body)

    # ── events ────────────────────────────────────────────────────────────────────────

    def events(
        self,
        session_id: str | None = None,
        since: int | None = None,
        transport: Literal["sse", "ws"] = "sse",
        reconnect: bool = True,
        on_state: StateCallback | None = None,
        runner: bool = False,
    ) -> AsyncIterator[Event]:
        """Every event of the relay (or of one session), live, across outages.

        With `since`, the relay first replays every logged event after that cursor
        (`since=0`: the whole log). Without it the stream starts live; a reconnect then
        resumes from the last logged event received. Permission requests still pending are
        sent first on every connect (without an id); a reconnect's repeat of one already
        handed out is dropped. A cursor beyond the relay's log (it was wiped, or the cursor
        came from another relay) yields a `reset` event whose id is the log's end: the
        stream goes on from there, hands out the pending requests afresh, and the caller
        should reload what it holds. A refused token (401/403) or an unknown session (404)
        raises at once; anything else is retried with backoff (1 s base, 60 s cap, with
        jitter) unless `reconnect=False`, where it raises `RelayUnavailable`.
        `on_state` hears "connected", "reconnecting" and, at the end, "disconnected".
        `runner=True` (SSE, one session): this stream holds the session's runner lease, so
        while it is connected the session's agent shows as online.
        """
        if transport not in ("sse", "ws"):
            raise ValueError(f"transport must be 'sse' or 'ws', not {transport!r}")

        def open_connection(cursor: int | None) -> Connection:
            if transport == "ws":
                return ws_connection(self.url, self._token, session_id, cursor, self.idle_timeout)
            return sse_connection(self._http, session_id, cursor, self.idle_timeout, runner)

        def remember(cursor: int | None) -> None:
            self.last_event_id = cursor

        return follow(
            open_connection,
            since=since,
            reconnect=reconnect,
            backoff=Backoff(self.backoff_base, self.backoff_cap),
            on_state=on_state,
            on_cursor=remember,
        )
