"""Push notifications to subscribed devices, sent in the background.

The notifier follows the relay's bus like any stream follower, so the write path only
puts an event in one more bounded queue. From the events it picks the few that notify
(`notice_for`, pure): a permission request opened (and resolved: that push closes the
notification on every device), a finished turn (a `result` message), a session ended or
crashed (`control` end; crashed when the agent posted an `error` first). Notices wait in a
bounded queue (the oldest are dropped, with a warning, when push services are slower than
the relay) and one sender task delivers each to every live subscription whose settings
want it. A subscription the push service calls gone (404/410) is removed.

Payloads carry routing and labels only: the request id, the session's id and title, the
tool's name. Nothing of a prompt, a tool's input or a transcript is sent. An end-to-end
encrypted session's title travels sealed, with the session key wrapped to the receiving
device, for its service worker to open (`payload_for`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

from tether.config import Settings
from tether.protocol import PUSH_EVENTS, SCOPE_CAPABILITIES, Capability
from tether.relay.auth import Principal
from tether.relay.bus import Bus, Subscription
from tether.relay.errors import Conflict, NotFound, Unprocessable
from tether.relay.event import WireEvent
from tether.relay.models import PushSettingsIn, PushSubscribe, PushUnsubscribe
from tether.relay.store import Store
from tether.relay.store.db import Row
from tether.relay.store.push import MAX_PER_TOKEN, PushSubscriptions, subscription_out
from tether.relay.webpush import (
    MAX_PAYLOAD,
    Target,
    allowed_endpoint,
    encrypt,
    load_vapid,
    public_key,
    request_headers,
    topic_of,
    valid_keys,
)
from tether.tls import client_context

log = logging.getLogger("tether.relay.push")

QUEUE_LIMIT = 256
SEND_TIMEOUT = 10.0
# Pushes to one notice's devices in flight at once.
PARALLEL = 16
DAY = 24 * 3600


@dataclass
class Notice:
    """One notification to send: its setting (`event`, one of PUSH_EVENTS), the payload
    every device gets, and how the push service should treat it."""

    event: str
    payload: dict[str, Any]
    ttl: int
    urgency: str = "normal"
    event_id: int | None = None
    session_id: str | None = None


def _expires_in(permission: dict[str, Any], now: float) -> int:
    try:
        expires = datetime.fromisoformat(permission["expires_at"].replace("Z", "+00:00"))
    except (KeyError, AttributeError, ValueError):
        return DAY
    return max(1, min(DAY, int(expires.timestamp() - now)))


def notice_for(event: WireEvent, crashed: set[str], now: float) -> Notice | None:
    """The notice an event makes, or None. `crashed` collects sessions whose agent
    reported an error, so the end that follows reads as a crash."""
    data = event.data
    sid = event.session_id
    if event.type in ("permission_request", "permission_resolved"):
        opened = event.type == "permission_request"
        if opened and data.get("status") != "pending":
            return None
        payload = {
            "type": "permission" if opened else "resolved",
            "tag": f"tether-perm-{data['id']}",
            "request_id": data["id"],
            "session_id": sid,
        }
        # The close shares the request's tag (and so its Topic): it replaces the request
        # on a device that was offline, and closes its notification on one that was not.
        payload.update(
            {"tool_name": data.get("tool_name")} if opened else {"status": data.get("status")}
        )
        return Notice(
            "permission",
            payload,
            ttl=_expires_in(data, now) if opened else DAY,
            urgency="high",
            event_id=event.id,
            session_id=sid,
        )
    if event.type == "message" and sid is not None:
        if data.get("kind") == "error" and data.get("role") == "agent":
            crashed.add(sid)
        if data.get("kind") == "result" and data.get("role") == "agent":
            return Notice(
                "turn",
                {"type": "turn", "tag": f"tether-turn-{sid}", "session_id": sid},
                ttl=6 * 3600,
                event_id=event.id,
                session_id=sid,
            )
    if event.type == "control" and data.get("action") == "end" and sid is not None:
        return Notice(
            "ended",
            {
                "type": "ended",
                "tag": f"tether-session-{sid}",
                "session_id": sid,
                "crashed": sid in crashed,
            },
            ttl=DAY,
            event_id=event.id,
            session_id=sid,
        )
    return None


@dataclass(frozen=True)
class SessionFacts:
    """What a notice's payloads need of its session: the clear title (None when the
    session is end-to-end encrypted, whose clear title is a placeholder), the owner, and
    for an encrypted one its sealed metadata box and key set."""

    title: str | None = None
    owner: str | None = None
    sealed_meta: Any = None
    keys: dict[str, Any] | None = None


def session_facts(row: Row | None) -> SessionFacts:
    if row is None:
        return SessionFacts()
    e2e = (orjson.loads(row["metadata"]) if row["metadata"] else {}).get("e2e")
    if isinstance(e2e, dict) and isinstance(e2e.get("keys"), dict):
        return SessionFacts(None, row["owner_token"], e2e.get("meta"), e2e["keys"])
    return SessionFacts(row["title"], row["owner_token"])


def payload_for(
    notice: Notice, subscription: Row, facts: SessionFacts, device: str | None
) -> bytes:
    """What one device receives: the notice, the session's title, whether its token may
    answer (only then are Allow/Deny offered), and whether it asked for quiet.

    For an end-to-end encrypted session the relay has no title to send. When the device
    (`device`, the paired device this subscription's token belongs to) has the session
    key wrapped to it, the payload carries that wrapped key and the sealed metadata box,
    and the service worker opens the title with the device's key; otherwise it shows the
    tool name only. Nothing sent is readable without the device's key. The worker seals an
    Allow from the notification with the same key (an unsealed allow is a deny in an
    encrypted session), and offers none when it has no key."""
    body = dict(notice.payload)
    if body["type"] != "resolved":
        body["session_title"] = (facts.title or "")[:120]
        body["silent"] = bool(subscription["quiet"])
        if facts.keys is not None:
            body["encrypted"] = True
            wrapped = facts.keys.get(f"device:{device}") if device else None
            if wrapped is not None and facts.sealed_meta is not None:
                body["e2e"] = {"key": wrapped, "meta": facts.sealed_meta}
    if body["type"] == "permission":
        scope = subscription["scope"]
        body["can_answer"] = Capability.answer_permission in SCOPE_CAPABILITIES.get(
            scope, frozenset()
        )
    return fit(body)


# What gives way when a payload would pass MAX_PAYLOAD, the least needed first: the sealed
# title box cannot be shortened and goes whole (the worker then shows the tool name); the
# clear title only decorates the notification, the tool name helps it. Ids and the type
# are what the service worker acts on and are never cut (validation keeps them far below
# the limit).
DROPPABLE = ("e2e",)
SHRINKABLE = ("session_title", "tool_name")


def fit(body: dict[str, Any], limit: int = MAX_PAYLOAD) -> bytes:
    """The payload's JSON within `limit` bytes, always whole: a box is left out and a field
    shortened (by characters, so the JSON stays valid) rather than the bytes cut off. A
    session's key set and sealed metadata grow with its cwd and title."""
    data = orjson.dumps(body)
    for field in DROPPABLE:
        if len(data) > limit and field in body:
            body.pop(field)
            data = orjson.dumps(body)
    for field in SHRINKABLE:
        text = body.get(field)
        if len(data) <= limit or not isinstance(text, str):
            continue
        # The longest prefix that fits (escapes make bytes per character vary).
        low, high = 0, len(text)
        while low < high:
            mid = (low + high + 1) // 2
            if len(orjson.dumps({**body, field: text[:mid] + "…"})) <= limit:
                low = mid
            else:
                high = mid - 1
        body[field] = text[:low] + "…" if low else ""
        data = orjson.dumps(body)
    if len(data) > limit:
        raise ValueError(f"a push payload of {len(data)} bytes has nothing left to shorten")
    return data


def _events(chosen: list[str] | None) -> list[str] | None:
    """The chosen events in their canonical order, each once."""
    return None if chosen is None else [e for e in PUSH_EVENTS if e in chosen]


def wants(subscription: Row, notice: Notice) -> bool:
    return notice.event in orjson.loads(subscription["events"])


class Notifier:
    def __init__(
        self,
        store: Store,
        bus: Bus,
        settings: Settings,
        *,
        claim: bool,
        env_token_id: str | None = None,
    ) -> None:
        self.store = store
        self.bus = bus
        self.settings = settings
        self.subscriptions = PushSubscriptions(store.db)
        self.vapid = load_vapid(settings.data_dir)
        self.public_key = public_key(self.vapid)
        # With several relays on one database, every one sees every event: claim each.
        self.claim = claim
        # TETHER_TOKEN's id now (auth.env_token_id): only its subscriptions are live.
        self.env_token_id = env_token_id
        self.queue: asyncio.Queue[Notice] = asyncio.Queue(QUEUE_LIMIT)
        self.dropped = 0
        self._crashed: set[str] = set()
        self._sub: Subscription | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._http: httpx.AsyncClient | None = None

    async def start(self) -> None:
        self._http = httpx.AsyncClient(
            timeout=SEND_TIMEOUT, follow_redirects=False, verify=client_context()
        )
        self._sub = self.bus.subscribe()
        self._tasks = [
            asyncio.create_task(self._listen(), name="push-listen"),
            asyncio.create_task(self._send_loop(), name="push-send"),
        ]

    async def stop(self) -> None:
        if self._sub is not None:
            self.bus.unsubscribe(self._sub)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._http is not None:
            await self._http.aclose()

    # ── the API's operations (relay/api.py) ───────────────────────────────────────

    async def subscribe(self, who: Principal, body: PushSubscribe) -> dict[str, Any]:
        if not allowed_endpoint(body.endpoint, self.settings.push.services):
            raise Unprocessable(
                "endpoint: not under a push service this relay sends to (push.services: "
                + ", ".join(self.settings.push.services)
                + ")"
            )
        problem = valid_keys(body.keys.p256dh, body.keys.auth)
        if problem is not None:
            raise Unprocessable(problem)
        row = await self.subscriptions.subscribe(
            who.token_id,
            who.scope,
            body.endpoint,
            (body.keys.p256dh, body.keys.auth),
            _events(body.events),
            body.quiet,
        )
        if row is None:
            raise Conflict(f"this token already has {MAX_PER_TOKEN} devices subscribed")
        return subscription_out(row)

    async def unsubscribe(self, who: Principal, body: PushUnsubscribe) -> dict[str, Any]:
        owner = None if who.scope == "admin" else who.token_id
        return {"removed": await self.subscriptions.remove(body.endpoint, owner)}

    async def of_token(self, who: Principal) -> list[dict[str, Any]]:
        return [subscription_out(r) for r in await self.subscriptions.for_token(who.token_id)]

    async def configure(
        self, who: Principal, subscription_id: str, body: PushSettingsIn
    ) -> dict[str, Any]:
        row = await self.subscriptions.get(subscription_id)
        if row is None or (who.scope != "admin" and row["token_id"] != who.token_id):
            raise NotFound(f"no push subscription with id {subscription_id!r} for this token")
        row = await self.subscriptions.update(subscription_id, _events(body.events), body.quiet)
        if row is None:
            raise NotFound(f"no push subscription with id {subscription_id!r}")
        return subscription_out(row)

    # ── events → notices ──────────────────────────────────────────────────────────

    async def _listen(self) -> None:
        assert self._sub is not None
        while True:
            for event in await self._sub.wait(None):
                if event is None:
                    if self.bus.closing:
                        return
                    # Fell behind: what was missed is old news for a lock screen.
                    log.warning("push notifications fell behind; some were skipped")
                    self.bus.unsubscribe(self._sub)
                    self._sub = self.bus.subscribe()
                    break
                self._observe(event)

    def _observe(self, event: WireEvent) -> None:
        if len(self._crashed) > 10_000:
            self._crashed.clear()
        notice = notice_for(event, self._crashed, time.time())
        if notice is None:
            return
        try:
            self.queue.put_nowait(notice)
        except asyncio.QueueFull:
            # The oldest notice is the least useful one: drop it for the new one.
            self.queue.get_nowait()
            self.queue.put_nowait(notice)
            self.dropped += 1
            log.warning("push queue full: dropped a notification (%d so far)", self.dropped)

    # ── sending ───────────────────────────────────────────────────────────────────

    async def _send_loop(self) -> None:
        while True:
            notice = await self.queue.get()
            try:
                await self.deliver(notice)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("sending a push notification failed")

    async def deliver(self, notice: Notice) -> None:
        subscriptions = [
            s for s in await self.subscriptions.live(self.env_token_id) if wants(s, notice)
        ]
        if not subscriptions:
            return
        if (
            self.claim
            and notice.event_id is not None
            and not await self.subscriptions.claim(notice.event_id)
        ):
            return  # another relay process sends this one
        facts = await self._session_facts(notice.session_id)
        devices = await self._devices_by_token() if facts.keys else {}
        gate = asyncio.Semaphore(PARALLEL)

        async def one(subscription: Row) -> None:
            # An agent token's device hears of its own sessions only (ownership.py).
            if subscription["scope"] == "agent" and facts.owner != subscription["token_id"]:
                return
            device = devices.get(subscription["token_id"])
            async with gate:
                payload = payload_for(notice, subscription, facts, device)
                await self._push(subscription, notice, payload)

        await asyncio.gather(*(one(s) for s in subscriptions))

    async def _session_facts(self, session_id: str | None) -> SessionFacts:
        if session_id is None:
            return SessionFacts()
        return session_facts(
            await self.store.db.fetchrow(
                "SELECT title, owner_token, metadata FROM sessions WHERE id = $1", session_id
            )
        )

    async def _devices_by_token(self) -> dict[str, str]:
        """Token id → the id of the paired device it belongs to (not revoked)."""
        rows = await self.store.db.fetch(
            "SELECT id, token_id FROM devices WHERE revoked_at IS NULL"
        )
        return {r["token_id"]: r["id"] for r in rows}

    async def _push(self, subscription: Row, notice: Notice, payload: bytes) -> None:
        assert self._http is not None
        target = Target(subscription["endpoint"], subscription["p256dh"], subscription["auth"])
        host = urlsplit(target.endpoint).hostname  # the endpoint's path is a secret
        try:
            headers = request_headers(
                self.vapid,
                self.settings.push.subject,
                target,
                ttl=notice.ttl,
                urgency=notice.urgency,
                topic=topic_of(notice.payload["tag"]),
            )
            response = await self._http.post(
                target.endpoint, content=encrypt(target, payload), headers=headers
            )
        except httpx.HTTPError as exc:
            log.warning("push to %s failed: %s", host, type(exc).__name__)
            return
        except Exception as exc:
            log.warning("push to %s could not be prepared: %s", host, exc)
            return
        if response.status_code in (404, 410):
            await self.subscriptions.remove(target.endpoint)
            log.info("push subscription at %s is gone (%d): removed", host, response.status_code)
        elif response.status_code >= 400:
            log.warning("push service %s answered %d", host, response.status_code)
