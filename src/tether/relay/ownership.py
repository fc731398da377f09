"""Agent tokens act on their own sessions only.

A session remembers the token that created it. An `agent` token may read, write, steer
and answer for the sessions it created and no others; every other scope (admin, client,
viewer) is bounded by its scope alone. Ownership never changes after creation, so a check
made before a write stays true during it.
"""

from __future__ import annotations

from tether.relay.auth import Principal
from tether.relay.errors import Forbidden
from tether.relay.event import WireEvent
from tether.relay.store import Store


def owner_filter(who: Principal) -> str | None:
    """The owner to filter reads by: the token's own id for an agent, else None (all)."""
    return who.token_id if who.scope == "agent" else None


async def require_owner(store: Store, who: Principal, session_id: str) -> None:
    """For an agent token: 404 for an unknown session, 403 for one it did not create.
    Other scopes pass without a query (the store answers 404 for an unknown session)."""
    owner = owner_filter(who)
    if owner is not None and await store.session_owner(session_id) != owner:
        raise Forbidden(
            f"session {session_id} was created by another token; "
            "an agent token may act only on the sessions it created"
        )


class Visibility:
    """Which events one follower may receive: all of them, or for an agent token only its
    own sessions' (their owners looked up once each, as new sessions appear)."""

    def __init__(self, store: Store, who: Principal) -> None:
        self.store = store
        self.owner = owner_filter(who)
        self._sees: dict[str, bool] = {}

    async def sees(self, session_id: str | None) -> bool:
        if self.owner is None:
            return True
        if session_id is None:
            return False
        known = self._sees.get(session_id)
        if known is None:
            row = await self.store.db.fetchrow(
                "SELECT owner_token FROM sessions WHERE id = $1", session_id
            )
            known = self._sees[session_id] = row is not None and row["owner_token"] == self.owner
        return known

    async def filter(self, events: list[WireEvent]) -> list[WireEvent]:
        if self.owner is None:
            return events
        return [e for e in events if await self.sees(e.session_id)]
