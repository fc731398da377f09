"""Paired devices and the one-time pairing links that make them (`tether pair`).

A pairing link carries a secret in its URL fragment, which browsers never send. The relay
is given only `verifier`, an HMAC key derived from that secret on the host, and checks
that the device knows the secret by an HMAC over a fresh challenge and the device's
public key. A challenge is answered once: a replayed exchange finds no open challenge (or
a used link), and a few wrong answers burn the link. The link works once, for one device,
for a few minutes; what it yields is an ordinary token (client or viewer) and a device row
holding the public key that session keys are wrapped to. Revoking a device revokes its
token (relay/revocation.py ends its connections) and drops its key, so runners wrap no new
session keys to it.

The relay does no end-to-end cryptography here beyond checking that HMAC with the standard
library: it stores the device's public key and `host_proof` (an HMAC only the host can
check) and hands them out.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from typing import Any

from tether.relay.auth import create_token
from tether.relay.errors import ApiError, Conflict, NotFound, Unprocessable
from tether.relay.store import Store
from tether.relay.store.store import iso

MAX_ATTEMPTS = 5
LAST_SEEN_EVERY = 60.0  # seconds between writes of a device's last-seen time


class Gone(ApiError):
    type = "gone"


def _b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def proof_message(pairing_id: str, nonce: str, public_key: str) -> bytes:
    """What a device MACs to pair; the same bytes as tether.e2e.crypto's pairing_proof
    (compact JSON after a version tag) and the web UI's js/e2e.js."""
    parts = ["tether-e2e-v1", "pair", pairing_id, nonce, public_key]
    return json.dumps(parts, ensure_ascii=False, separators=(",", ":")).encode()


def expected_proof(verifier: str, pairing_id: str, nonce: str, public_key: str) -> str:
    digest = hmac.new(_b64d(verifier), proof_message(pairing_id, nonce, public_key), hashlib.sha256)
    return base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode()


def device_out(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    for key in ("created_at", "last_seen_at", "revoked_at"):
        out[key] = iso(out[key])
    return out


def pairing_out(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "scope": row["scope"],
        "created_at": iso(row["created_at"]),
        "expires_at": iso(row["expires_at"]),
        "used_at": iso(row["used_at"]),
    }


async def _insert(conn: Any, table: str, row: dict[str, Any]) -> None:
    columns = ", ".join(row)
    params = ", ".join(f"${i}" for i in range(1, len(row) + 1))
    await conn.execute(f"INSERT INTO {table} ({columns}) VALUES ({params})", *row.values())


class Devices:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.db = store.db
        self._seen: dict[str, float] = {}

    # ── pairing links ─────────────────────────────────────────────────────────────

    async def create_pairing(
        self, pairing_id: str, verifier: str, scope: str, name: str, expires_in: float
    ) -> dict[str, Any]:
        if await self._active_device_named(name):
            raise Conflict(f"a paired device is already named {name!r}; choose another --name")
        now = time.time()
        row = {
            "id": pairing_id,
            "verifier": verifier,
            "name": name,
            "scope": scope,
            "nonce": None,
            "attempts": 0,
            "created_at": now,
            "expires_at": now + expires_in,
            "used_at": None,
        }
        async with self.db.transaction() as conn:
            if await conn.fetchrow("SELECT id FROM pairings WHERE id = $1", pairing_id):
                raise Conflict(f"pairing {pairing_id} already exists")
            # An expired link is spent as surely as a used one: its verifier goes too.
            await conn.execute(
                "UPDATE pairings SET verifier = NULL, nonce = NULL "
                "WHERE expires_at <= $1 AND verifier IS NOT NULL",
                now,
            )
            # An open link holds its name too: two would make two devices of one name, and
            # revoking that name would revoke only one of them.
            if await conn.fetchrow(
                "SELECT id FROM pairings WHERE name = $1 AND used_at IS NULL "
                "AND verifier IS NOT NULL AND expires_at > $2",
                name,
                now,
            ):
                raise Conflict(
                    f"an open pairing link is already for {name!r}; choose another --name"
                )
            await _insert(conn, "pairings", row)
        return pairing_out(row)

    async def get_pairing(self, pairing_id: str) -> dict[str, Any]:
        row = await self.db.fetchrow("SELECT * FROM pairings WHERE id = $1", pairing_id)
        if row is None:
            raise NotFound(f"no pairing {pairing_id!r}")
        out = pairing_out(row)
        device = await self.db.fetchrow("SELECT * FROM devices WHERE id = $1", pairing_id)
        out["device"] = device_out(device) if device else None
        return out

    async def _open_pairing(self, conn: Any, pairing_id: str) -> dict[str, Any]:
        row = await conn.fetchrow("SELECT * FROM pairings WHERE id = $1", pairing_id)
        if row is None:
            raise NotFound("no such pairing link; run `tether pair` for a new one")
        if row["expires_at"] <= time.time():
            raise Gone("this pairing link has expired; run `tether pair` for a new one")
        if row["used_at"] is not None or row["verifier"] is None:
            raise Gone("this pairing link was already used; run `tether pair` for a new one")
        return row

    async def challenge(self, pairing_id: str) -> dict[str, Any]:
        """A fresh nonce for the device to answer; it replaces any earlier one."""
        nonce = secrets.token_urlsafe(24)
        async with self.db.transaction() as conn:
            row = await self._open_pairing(conn, pairing_id)
            await conn.execute("UPDATE pairings SET nonce = $1 WHERE id = $2", nonce, pairing_id)
        return {**pairing_out(row), "nonce": nonce}

    async def complete(
        self, pairing_id: str, nonce: str, public_key: str, proof: str, host_proof: str | None
    ) -> dict[str, Any]:
        """Check the device's proof and, once only, mint its token and record its key."""
        try:
            if len(_b64d(public_key)) != 32:
                raise ValueError
        except ValueError:
            raise Unprocessable("public_key: must be a raw X25519 public key, base64url") from None
        now = time.time()
        async with self.db.transaction() as conn:
            row = await self._open_pairing(conn, pairing_id)
            expected = expected_proof(row["verifier"], pairing_id, nonce, public_key)
            good = row["nonce"] is not None and hmac.compare_digest(
                row["nonce"].encode(), nonce.encode()
            )
            good = hmac.compare_digest(expected.encode(), proof.encode()) and good
            if not good:
                attempts = row["attempts"] + 1
                # A wrong answer uses up the challenge; enough of them burn the link.
                burned = attempts >= MAX_ATTEMPTS
                await conn.execute(
                    "UPDATE pairings SET nonce = NULL, attempts = $1, verifier = $2 WHERE id = $3",
                    attempts,
                    None if burned else row["verifier"],
                    pairing_id,
                )
                failed = True
            else:
                failed = False
                # The verifier is no use to anyone once the link is spent.
                count = await conn.execute(
                    "UPDATE pairings SET used_at = $1, nonce = NULL, verifier = NULL "
                    "WHERE id = $2 AND used_at IS NULL",
                    now,
                    pairing_id,
                )
                if count != 1:
                    raise Gone("this pairing link was already used")
        if failed:
            raise Unprocessable("the pairing proof is wrong: the link may be mistyped or stale")
        token_row, token = await create_token(self.store, row["scope"], row["name"])
        device = {
            "id": pairing_id,
            "name": row["name"],
            "scope": row["scope"],
            "token_id": token_row["id"],
            "public_key": public_key,
            "host_proof": host_proof,
            "created_at": now,
            "last_seen_at": now,
            "revoked_at": None,
        }
        columns = ", ".join(device)
        params = ", ".join(f"${i}" for i in range(1, len(device) + 1))
        async with self.db.transaction() as conn:
            await conn.execute(
                f"INSERT INTO devices ({columns}) VALUES ({params})", *device.values()
            )
        return {"token": token, "device": device_out(device)}

    # ── devices ───────────────────────────────────────────────────────────────────

    async def _active_device_named(self, name: str) -> dict[str, Any] | None:
        return await self.db.fetchrow(
            "SELECT * FROM devices WHERE name = $1 AND revoked_at IS NULL", name
        )

    async def list(self, include_revoked: bool = False) -> list[dict[str, Any]]:
        where = "" if include_revoked else " WHERE revoked_at IS NULL"
        rows = await self.db.fetch(f"SELECT * FROM devices{where} ORDER BY created_at")
        return [device_out(r) for r in rows]

    async def revoke(self, name_or_id: str) -> dict[str, Any]:
        row = await self._active_device_named(name_or_id) or await self.db.fetchrow(
            "SELECT * FROM devices WHERE id = $1 AND revoked_at IS NULL", name_or_id
        )
        if row is None:
            raise NotFound(f"no paired device named {name_or_id!r}; `tether devices` lists them")
        now = time.time()
        async with self.db.transaction() as conn:
            # Its key goes too: no runner wraps a new session key to it.
            await conn.execute(
                "UPDATE devices SET revoked_at = $1, public_key = NULL, host_proof = NULL "
                "WHERE id = $2",
                now,
                row["id"],
            )
        await self.store.revoke_token(row["token_id"])
        return device_out({**row, "revoked_at": now, "public_key": None, "host_proof": None})

    @staticmethod
    async def require_active(conn: Any, device_id: str) -> dict[str, Any]:
        """The device a session key is being granted to: paired, not revoked. Read on the
        writer's transaction, so a grant and a revocation do not cross unseen."""
        row = await conn.fetchrow("SELECT * FROM devices WHERE id = $1", device_id)
        field = [{"field": "recipient", "message": "no such active device"}]
        if row is None:
            raise Unprocessable(
                f"recipient: no paired device {device_id!r}", extra={"fields": field}
            )
        if row["revoked_at"] is not None or not row["public_key"]:
            raise Unprocessable(
                f"recipient: device {row['name']!r} is revoked; it gets no session keys",
                extra={"fields": field},
            )
        return device_out(row)

    async def seen(self, token_id: str) -> None:
        """Note that a device's token was used; written at most once a minute per token."""
        now = time.time()
        if now - self._seen.get(token_id, 0.0) < LAST_SEEN_EVERY:
            return
        self._seen[token_id] = now
        if len(self._seen) > 10_000:
            self._seen.clear()
        await self.db.execute(
            "UPDATE devices SET last_seen_at = $1 WHERE token_id = $2 AND revoked_at IS NULL",
            now,
            token_id,
        )
