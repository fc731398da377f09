"""Live connections (SSE streams and WebSockets) by token: how many each token and the
whole process may hold, and ending a token's connections when it is revoked.

One token opening thousands of streams would slow every delivery for everyone (each post
is written to each stream), so both counts are bounded; the one over the bound gets a 429
and may retry once some of its connections close.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tether.relay.auth import Principal
from tether.relay.bus import Bus, Subscription
from tether.relay.errors import ApiError


class TooManyConnections(ApiError):
    status, type = 429, "too_many_connections"


@dataclass(eq=False)
class LiveConnection:
    token_id: str
    sub: Subscription
    revoked: bool = False


@dataclass
class Connections:
    bus: Bus
    per_token: int
    total: int
    _by_token: dict[str, set[LiveConnection]] = field(default_factory=dict)
    _count: int = 0

    def check(self, who: Principal) -> None:
        """429 when `who` (or the process) already holds as many as allowed."""
        held = len(self._by_token.get(who.token_id, ()))
        if held >= self.per_token:
            raise TooManyConnections(
                f"this token already holds {held} live connections, the most allowed "
                f"(max_connections_per_token); close some and retry"
            )
        if self._count >= self.total:
            raise TooManyConnections(
                f"this server already holds {self._count} live connections, the most allowed "
                "(max_connections); retry later"
            )

    def add(self, who: Principal, sub: Subscription) -> LiveConnection:
        """Count a connection that is opening (after `check`)."""
        self.check(who)
        conn = LiveConnection(who.token_id, sub)
        self._by_token.setdefault(who.token_id, set()).add(conn)
        self._count += 1
        return conn

    def remove(self, conn: LiveConnection) -> None:
        held = self._by_token.get(conn.token_id)
        if held is not None and conn in held:
            held.discard(conn)
            self._count -= 1
            if not held:
                del self._by_token[conn.token_id]

    def revoke(self, token_id: str) -> int:
        """End every live connection of a revoked token; returns how many."""
        held = self._by_token.get(token_id, set())
        for conn in held:
            conn.revoked = True
            self.bus.end(conn.sub)
        return len(held)

    def __len__(self) -> int:
        return self._count
