"""Revocation reaches connections that are already open.

`tether token revoke` writes `revoked_at` in the shared database, from its own process
and possibly for a relay scaled out over several. Each relay process watches the tokens
table (a tiny read, twice a second) and, for a token newly revoked, forgets it in the
authentication cache and ends its open streams at once: a WebSocket is closed with code
4401, an SSE stream ends, and whatever the token tries next is answered 401.
"""

from __future__ import annotations

import logging

from tether.relay.auth import Authenticator
from tether.relay.limits import Connections
from tether.relay.periodic import Periodic
from tether.relay.store import Store

log = logging.getLogger("tether.relay.revocation")

POLL_SECONDS = 0.5


class RevocationWatch:
    def __init__(self, store: Store, auth: Authenticator, connections: Connections) -> None:
        self.store = store
        self.auth = auth
        self.connections = connections
        self._known: set[str] = set()
        self._poll = Periodic(
            "token-revocations",
            POLL_SECONDS,
            self.check,
            log,
            "checking for revoked tokens failed; retrying",
        )

    async def start(self) -> None:
        self._known = await self.store.revoked_token_ids()
        self._poll.start()

    async def stop(self) -> None:
        await self._poll.stop()

    async def check(self) -> None:
        revoked = await self.store.revoked_token_ids()
        for token_id in revoked - self._known:
            self.auth.revoke(token_id)
            ended = self.connections.revoke(token_id)
            log.info("token %s revoked: ended %d open connection(s)", token_id, ended)
        self._known = revoked
