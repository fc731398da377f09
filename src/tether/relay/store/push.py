"""Web Push subscriptions: one row per device (browser push endpoint), tied to the token
that subscribed it, with that device's settings (which events notify, quiet mode).

An endpoint is unique: a browser that subscribes again (a new token after signing in
again, fresh keys) takes its row over rather than getting a second one. Subscriptions of a
revoked token, or of a TETHER_TOKEN since changed, are never returned for sending; they stay
until removed or overwritten.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from tether.protocol import PUSH_EVENTS
from tether.relay.store.db import Database, Row
from tether.relay.store.store import iso, new_id

# A token may keep this many devices subscribed; one more replaces nothing and is refused.
MAX_PER_TOKEN = 20


def subscription_out(row: Row) -> dict[str, Any]:
    """A subscription as the API shows it (its keys stay in the relay)."""
    return {
        "id": row["id"],
        "endpoint": row["endpoint"],
        "events": orjson.loads(row["events"]),
        "quiet": bool(row["quiet"]),
        "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]),
    }


class PushSubscriptions:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def subscribe(
        self,
        token_id: str,
        scope: str,
        endpoint: str,
        keys: tuple[str, str],
        events: list[str] | None,
        quiet: bool | None,
    ) -> Row | None:
        """Store (or take over) the endpoint's row for this token. Settings not given keep
        what the row had, or the defaults: every event, not quiet. None when the token
        already has MAX_PER_TOKEN other devices."""
        now = time.time()
        async with self.db.transaction() as conn:
            row = await conn.fetchrow(
                "SELECT * FROM push_subscriptions WHERE endpoint = $1", endpoint
            )
            if row is None:
                count = await conn.fetchrow(
                    "SELECT COUNT(*) AS n FROM push_subscriptions WHERE token_id = $1", token_id
                )
                if count is not None and int(count["n"]) >= MAX_PER_TOKEN:
                    return None
                row = {
                    "id": new_id("push"),
                    "token_id": token_id,
                    "scope": scope,
                    "endpoint": endpoint,
                    "p256dh": keys[0],
                    "auth": keys[1],
                    "events": orjson.dumps(events if events is not None else PUSH_EVENTS).decode(),
                    "quiet": int(bool(quiet)),
                    "created_at": now,
                    "updated_at": now,
                }
                await conn.execute(
                    "INSERT INTO push_subscriptions (id, token_id, scope, endpoint, p256dh, auth, "
                    "events, quiet, created_at, updated_at) "
                    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                    *row.values(),
                )
                return row
            row.update(token_id=token_id, scope=scope, p256dh=keys[0], auth=keys[1], updated_at=now)
            if events is not None:
                row["events"] = orjson.dumps(events).decode()
            if quiet is not None:
                row["quiet"] = int(quiet)
            await conn.execute(
                "UPDATE push_subscriptions SET token_id = $2, scope = $3, p256dh = $4, auth = $5, "
                "events = $6, quiet = $7, updated_at = $8 WHERE id = $1",
                row["id"],
                token_id,
                scope,
                keys[0],
                keys[1],
                row["events"],
                row["quiet"],
                now,
            )
            return row

    async def for_token(self, token_id: str) -> list[Row]:
        return await self.db.fetch(
            "SELECT * FROM push_subscriptions WHERE token_id = $1 ORDER BY created_at", token_id
        )

    async def get(self, subscription_id: str) -> Row | None:
        return await self.db.fetchrow(
            "SELECT * FROM push_subscriptions WHERE id = $1", subscription_id
        )

    async def update(
        self, subscription_id: str, events: list[str] | None, quiet: bool | None
    ) -> Row | None:
        async with self.db.transaction() as conn:
            row = await conn.fetchrow(
                "SELECT * FROM push_subscriptions WHERE id = $1", subscription_id
            )
            if row is None:
                return None
            if events is not None:
                row["events"] = orjson.dumps(events).decode()
            if quiet is not None:
                row["quiet"] = int(quiet)
            row["updated_at"] = time.time()
            await conn.execute(
                "UPDATE push_subscriptions SET events = $2, quiet = $3, updated_at = $4 "
                "WHERE id = $1",
                subscription_id,
                row["events"],
                row["quiet"],
                row["updated_at"],
            )
            return row

    async def remove(self, endpoint: str, token_id: str | None = None) -> bool:
        """Remove the endpoint's subscription (only the given token's, when one is given)."""
        async with self.db.transaction() as conn:
            if token_id is None:
                count = await conn.execute(
                    "DELETE FROM push_subscriptions WHERE endpoint = $1", endpoint
                )
            else:
                count = await conn.execute(
                    "DELETE FROM push_subscriptions WHERE endpoint = $1 AND token_id = $2",
                    endpoint,
                    token_id,
                )
        return count > 0

    async def live(self, env_token_id: str | None) -> list[Row]:
        """Every subscription whose token is still good: a token of the tokens table not
        revoked, or the TETHER_TOKEN of now (it has no row; its id is a hash of it, so a
        subscription made under an earlier TETHER_TOKEN, or under the plain `env` of
        older releases, is not live)."""
        return await self.db.fetch(
            "SELECT s.* FROM push_subscriptions s LEFT JOIN tokens t ON t.id = s.token_id "
            "WHERE (t.id IS NOT NULL AND t.revoked_at IS NULL) OR s.token_id = $1 "
            "ORDER BY s.created_at",
            env_token_id,
        )

    async def claim(self, event_id: int) -> bool:
        """True for the one process that claims this event first (relays sharing a
        PostgreSQL database all see every event, and a device should buzz once)."""
        async with self.db.transaction() as conn:
            count = await conn.execute(
                "INSERT INTO push_claims (event_id, claimed_at) VALUES ($1, $2) "
                "ON CONFLICT DO NOTHING",
                event_id,
                time.time(),
            )
            # Claims matter only for moments; keep the table small.
            if event_id % 100 == 0:
                await conn.execute(
                    "DELETE FROM push_claims WHERE claimed_at < $1", time.time() - 3600
                )
        return count > 0
