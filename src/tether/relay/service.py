"""The relay's operations, shared by the HTTP API and the WebSocket.

Each operation checks the caller's scope and writes through the store's one writer, which
commits in batches and hands each batch's events on in commit order: to the bus directly
(SQLite), or to the log feed (PostgreSQL), which merges them with what other processes
commit. Live subscribers therefore see events in cursor order without a lock here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from tether.config import Settings
from tether.protocol import SCOPES_POSTING_ANY_ROLE, Capability, kind_error
from tether.relay.auth import Authenticator, Principal, create_token
from tether.relay.bus import Bus
from tether.relay.devices import Devices
from tether.relay.errors import Conflict, Forbidden, NotFound, Unprocessable
from tether.relay.event import WireEvent
from tether.relay.feed import LogFeed
from tether.relay.lease import Leases
from tether.relay.limits import Connections
from tether.relay.models import (
    MessageIn,
    PermissionAnswer,
    PermissionCancel,
    PermissionModeIn,
    PermissionOpen,
    SessionCreate,
    SessionKeyGrant,
    SessionPatch,
    TokenCreate,
)
from tether.relay.ownership import owner_filter, require_owner
from tether.relay.periodic import cancel
from tether.relay.retention import RetentionTask
from tether.relay.revocation import RevocationWatch
from tether.relay.sealed import check_contents, check_input, check_session
from tether.relay.store import Store
from tether.relay.store.writer import Tx

log = logging.getLogger("tether.relay")

TIMEOUT_MESSAGE = (
    "The permission request timed out after {seconds:g} seconds with no answer, so it was denied."
)


class Relay:
    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self.bus = Bus(settings.max_stream_buffer_bytes)
        self.auth = Authenticator(store, settings.token)
        self.connections = Connections(
            self.bus, settings.max_connections_per_token, settings.max_connections
        )
        self.revocations = RevocationWatch(store, self.auth, self.connections)
        self.devices = Devices(store)
        self.sealed = settings.encryption == "required"
        self.retention = RetentionTask(store, settings.retention)
        self.leases = Leases(store, settings.ping_interval)
        self._expiry_task: asyncio.Task[None] | None = None
        self._expiry_wake = asyncio.Event()
        # On PostgreSQL other processes may write too: the bus is fed from the log.
        self.feed = (
            LogFeed(store, self.bus, settings.database_url)
            if store.db.dialect == "postgres" and settings.database_url
            else None
        )
        store.writer.on_commit = self.bus.publish if self.feed is None else self.feed.committed

    # ── lifecycle ─────────────────────────────────────────────────────────────────

    async def start(self) -> None:
        if self.feed is not None:
            await self.feed.start()
        await self.revocations.start()
        self.retention.start()
        self._expiry_task = asyncio.create_task(self._expire_loop(), name="permission-expiry")
        self.leases.start()

    async def stop(self) -> None:
        await self.retention.stop()
        await self.revocations.stop()
        await self.leases.stop()
        await cancel(self._expiry_task)
        if self.feed is not None:
            await self.feed.stop()

    def end_streams(self) -> None:
        """End every follower's stream (the server is stopping); each reconnects with its
        cursor."""
        self.bus.close_all()

    # ── reads ─────────────────────────────────────────────────────────────────────

    async def list_sessions(
        self, who: Principal, status: str | None, limit: int
    ) -> list[dict[str, Any]]:
        who.require(Capability.read)
        return await self.store.list_sessions(status, limit, owner_filter(who))

    async def get_session(self, who: Principal, session_id: str) -> dict[str, Any]:
        who.require(Capability.read)
        await require_owner(self.store, who, session_id)
        return await self.store.get_session(session_id)

    async def list_messages(
        self, who: Principal, session_id: str, *, after: int, before: int | None, limit: int
    ) -> list[dict[str, Any]]:
        who.require(Capability.read)
        await require_owner(self.store, who, session_id)
        return await self.store.list_messages(session_id, after=after, before=before, limit=limit)

    async def list_permissions(
        self, who: Principal, status: str | None, session_id: str | None
    ) -> list[dict[str, Any]]:
        who.require(Capability.read)
        return await self.store.list_permissions(
            status=status, session_id=session_id, owner=owner_filter(who)
        )

    async def get_permission(self, who: Principal, permission_id: str) -> dict[str, Any]:
        who.require(Capability.read)
        return await self.readable_permission(who, permission_id)

    # What a follower of the event log reads (relay/stream.py); the caller was checked when
    # the stream opened.

    async def log_end(self) -> int:
        """The cursor of the newest logged event."""
        return await self.store.last_event_id()

    async def log_bounds(self) -> tuple[int, int]:
        """(pruned_through, end): cursors below the first may have missed deleted events."""
        return await self.store.log_bounds()

    async def pending_snapshot(self, session_id: str | None) -> list[tuple[int, dict[str, Any]]]:
        """The pending permission requests, each with the cursor of the event that opened it."""
        return await self.store.pending_with_cursor(session_id)

    async def events_after(
        self, cursor: int, session_id: str | None, limit: int
    ) -> list[WireEvent]:
        return await self.store.events_after(cursor, session_id, limit)

    # ── tokens ────────────────────────────────────────────────────────────────────

    async def list_tokens(self, who: Principal) -> list[dict[str, Any]]:
        who.require(Capability.manage_tokens)
        return await self.store.list_tokens()

    async def create_token(self, who: Principal, body: TokenCreate) -> dict[str, Any]:
        """The new token's row and, once only, the token itself (`token`)."""
        who.require(Capability.manage_tokens)
        row, token = await create_token(self.store, body.scope, body.name)
        return {**row, "token": token}

    async def revoke_token(self, who: Principal, token_id: str) -> dict[str, Any]:
        who.require(Capability.manage_tokens)
        if not await self.store.revoke_token(token_id):
            raise NotFound(f"no active token with id {token_id!r}")
        self.auth.forget()
        return next(t for t in await self.store.list_tokens() if t["id"] == token_id)

    # ── sessions ──────────────────────────────────────────────────────────────────

    async def create_session(self, who: Principal, body: SessionCreate) -> dict[str, Any]:
        who.require(Capability.create_session)
        check_session(self.sealed, body.metadata)
        fields = body.model_dump(exclude_none=True)
        return await self.store.write(
            lambda tx: self.store.create_session(tx, fields, who.name, who.token_id)
        )

    async def update_session(
        self, who: Principal, session_id: str, body: SessionPatch
    ) -> dict[str, Any]:
        who.require(Capability.update_session)
        await require_owner(self.store, who, session_id)
        if body.metadata is not None:
            check_session(self.sealed, body.metadata)
        changes = body.model_dump(exclude_none=True, exclude={"expected_version"})
        return await self.store.write(
            lambda tx: self.store.update_session(tx, session_id, changes, body.expected_version)
        )

    async def add_session_key(
        self, who: Principal, session_id: str, body: SessionKeyGrant
    ) -> dict[str, Any]:
        """A device (or the host) that holds a session's key shares it with another paired
        device: one entry added to the key set, never one replaced (docs/encryption.md)."""
        who.require(Capability.grant_key)  # agent tokens have no key to share
        await self.store.session_owner(session_id)  # an unknown session is a 404 first
        device_id = body.recipient.removeprefix("device:")

        async def op(tx: Tx) -> dict[str, Any]:
            await Devices.require_active(tx, device_id)
            wrapped = body.wrapped.model_dump()
            return await self.store.add_session_key(
                tx, session_id, body.recipient, wrapped, body.expected_version
            )

        return await self.store.write(op)

    async def end_session(
        self, who: Principal, session_id: str, reason: str | None = None
    ) -> dict[str, Any]:
        who.require(Capability.end_session)
        await require_owner(self.store, who, session_id)

        async def op(tx: Tx) -> dict[str, Any]:
            await self.store.log_control(
                tx,
                session_id,
                {"action": "end", "by": who.name, "reason": reason},
                session_changes={"status": "ended"},
            )
            for permission_id in await self.store.pending_ids(tx, session_id):
                await self.store.resolve_permission(
                    tx,
                    permission_id,
                    "cancelled",
                    {"behavior": "deny", "message": "The session ended.", "decided_by": who.name},
                )
            return await self.store.get_session(session_id, tx)

        return await self.store.write(op)

    async def interrupt(self, who: Principal, session_id: str) -> dict[str, Any]:
        who.require(Capability.steer)
        await require_owner(self.store, who, session_id)
        data = {"action": "interrupt", "by": who.name}
        await self.store.write(lambda tx: self._control(tx, session_id, data))
        return {"ok": True}

    async def set_permission_mode(
        self, who: Principal, session_id: str, body: PermissionModeIn
    ) -> dict[str, Any]:
        who.require(Capability.steer)
        await require_owner(self.store, who, session_id)
        data = {"action": "permission_mode", "mode": body.mode, "by": who.name}

        async def op(tx: Tx) -> dict[str, Any]:
            await self.store.log_control(
                tx, session_id, data, session_changes={"permission_mode": body.mode}
            )
            return await self.store.get_session(session_id, tx)

        return await self.store.write(op)

    async def _control(self, tx: Tx, session_id: str, data: dict[str, Any]) -> None:
        session = await self.store.get_session(session_id, tx)
        if session["status"] == "ended":
            raise Conflict(f"session {session_id} has ended", type="session_ended")
        await self.store.log_control(tx, session_id, data)

    # ── messages ──────────────────────────────────────────────────────────────────

    async def post_messages(
        self, who: Principal, session_id: str, items: list[MessageIn]
    ) -> list[dict[str, Any]]:
        who.require(Capability.post_message)
        await require_owner(self.store, who, session_id)
        check_contents(self.sealed, [item.content for item in items])
        prepared = []
        for index, item in enumerate(items):
            fields = item.model_dump()
            if who.scope not in SCOPES_POSTING_ANY_ROLE:
                # People speak as the user; only agents publish agent/system output.
                fields["role"] = "user"
            problem = kind_error(fields["role"], fields["kind"])
            if problem is not None:
                where = "kind" if len(items) == 1 else f"{index}.kind"
                raise Unprocessable(
                    f"{where}: {problem}", extra={"fields": [{"field": where, "message": problem}]}
                )
            prepared.append(fields)
        return await self.store.write(self.store.append(session_id, prepared, who.name))

    # ── the runner's lease ────────────────────────────────────────────────────────

    async def hold_lease(self, who: Principal, session_id: str) -> str:
        """A runner's event stream takes its session's lease (see lease.py): only a token
        that may speak for the agent (admin, or the agent token that made the session)."""
        if who.scope not in SCOPES_POSTING_ANY_ROLE:
            raise Forbidden(f"a {who.scope} token cannot hold a session as its runner")
        await require_owner(self.store, who, session_id)
        return await self.leases.hold(session_id)

    # ── permission requests ───────────────────────────────────────────────────────

    async def open_permission(
        self, who: Principal, session_id: str, body: PermissionOpen
    ) -> dict[str, Any]:
        who.require(Capability.open_permission)
        await require_owner(self.store, who, session_id)
        check_input(self.sealed, "input", body.input)
        fields = body.model_dump()
        timeout = body.timeout or self.settings.permission_timeout
        permission = await self.store.write(
            lambda tx: self.store.open_permission(tx, session_id, fields, timeout)
        )
        self._expiry_wake.set()
        return permission

    async def answer_permission(
        self, who: Principal, permission_id: str, body: PermissionAnswer
    ) -> dict[str, Any]:
        who.require(Capability.answer_permission)
        await self._may_act_on(who, permission_id)
        check_input(self.sealed, "updated_input", body.updated_input)
        decision: dict[str, Any] = {
            "behavior": body.behavior,
            "updated_input": body.updated_input,
            "message": body.message,
            "interrupt": body.interrupt,
            "remember": body.remember,
            "decided_by": who.name,
        }
        status = "allowed" if body.behavior == "allow" else "denied"
        return await self.store.write(
            lambda tx: self.store.resolve_permission(tx, permission_id, status, decision)
        )

    async def cancel_permission(
        self, who: Principal, permission_id: str, body: PermissionCancel
    ) -> dict[str, Any]:
        who.require(Capability.open_permission)
        await self._may_act_on(who, permission_id)
        decision = {
            "behavior": "deny",
            "message": body.reason or "Withdrawn by the agent.",
            "decided_by": who.name,
        }
        return await self.store.write(
            lambda tx: self.store.resolve_permission(tx, permission_id, "cancelled", decision)
        )

    async def _may_act_on(self, who: Principal, permission_id: str) -> None:
        """An agent token acts only on its own sessions' requests. Other scopes read
        nothing first: the write itself answers 404 for an unknown id."""
        if owner_filter(who) is not None:
            await self.readable_permission(who, permission_id)

    async def readable_permission(self, who: Principal, permission_id: str) -> dict[str, Any]:
        """The request, when `who` may see it (an agent token: its own sessions' only)."""
        permission = await self.store.get_permission(permission_id)
        await require_owner(self.store, who, permission["session_id"])
        return permission

    async def wait_permission(self, permission_id: str, timeout: float) -> dict[str, Any]:
        """The request once it is resolved, or as it stands after `timeout` seconds."""
        sub = self.bus.subscribe()
        try:
            permission = await self.store.get_permission(permission_id)
            deadline = time.monotonic() + timeout
            while permission["status"] == "pending":
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                for event in await sub.wait(remaining):
                    if event is None:  # fell behind, or stopping: read the truth instead
                        sub = self._resubscribe(sub)
                        permission = await self.store.get_permission(permission_id)
                        if self.bus.closing:
                            return permission
                        break
                    if event.type == "permission_resolved" and event.data["id"] == permission_id:
                        permission = event.data
                        break
            return permission
        finally:
            self.bus.unsubscribe(sub)

    def _resubscribe(self, sub: Any) -> Any:
        self.bus.unsubscribe(sub)
        return self.bus.subscribe()

    async def _expire_loop(self) -> None:
        """Deny requests nobody answered in time, waking at the next deadline."""
        while True:
            # Cleared before looking, not after: a request opened while we look wakes the
            # next wait instead of being missed until a later deadline.
            self._expiry_wake.clear()
            try:
                for permission_id, timeout in await self.store.due_permissions(time.time()):
                    await self._expire(permission_id, timeout)
                next_at = await self.store.next_expiry()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("permission expiry check failed; retrying in 5 s")
                next_at = time.time() + 5
            delay = 60.0 if next_at is None else max(0.05, min(60.0, next_at - time.time()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._expiry_wake.wait(), delay)

    async def _expire(self, permission_id: str, timeout: float) -> None:
        # Tenths, so a sub-second timeout does not read "timed out after 0 seconds".
        seconds = round(timeout, 1)
        decision = {
            "behavior": "deny",
            "message": TIMEOUT_MESSAGE.format(seconds=seconds),
            "decided_by": "tether (timeout)",
        }
        with contextlib.suppress(Conflict):  # answered meanwhile: the answer stands
            await self.store.write(
                lambda tx: self.store.resolve_permission(tx, permission_id, "expired", decision)
            )
