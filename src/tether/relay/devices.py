"""Paired devices and the one-time pairing links that make them (`tether pair`).

A pairing link carries a secret in its URL fragment, which browsers never send. The relay
is given only `verifier`, an HMAC key derived from that secret on the host, and checks
that the device knows the secret by an HMAC over a challenge and the device's public key.
The link works once, for one device, for a few minutes; what it yields is an ordinary
token (client or viewer) and a device row holding the public key that session keys are
wrapped to, written in one transaction with the link's spending. Revoking a device
revokes its token (relay/revocation.py ends its connections) and drops its key, so
runners wrap no new session keys to it.

Wrong answers cost the link nothing. The pairing id travels in request paths (so in
proxy logs), and a link that a few wrong answers burned could be burned by anyone who
read one. What stops guessing is the secret: 32 random bytes, so an online guess wins
with odds of 2^-256 however often it is tried in the link's minutes. A challenge is
therefore state-less: a random salt MACed with the verifier, so a fresh one replaces
nothing, asking for one writes nothing, and the relay can tell its own from a made-up one.
A replayed exchange finds the link used.

The relay does no end-to-end cryptography here beyond checking those HMACs with the
standard library: it stores the device's public key and `host_proof` (an HMAC only the
host can check) and hands them out.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from typing import Any

from tether.relay.auth import mint_token
from tether.relay.errors import ApiError, Conflict, NotFound, Unprocessable
from tether.relay.store import Store
from tether.relay.store.store import insert_token, iso

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


def _mac(verifier: str, message: bytes) -> str:
    digest = hmac.new(_b64d(verifier), message, hashlib.sha256)
    return base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode()


def expected_proof(verifier: str, pairing_id: str, nonce: str, public_key: str) -> str:
    return _mac(verifier, proof_message(pairing_id, nonce, public_key))


def _nonce_tag(verifier: str, pairing_id: str, salt: str) -> str:
    # Its own words, so no device proof (which starts "tether-e2e-v1") is ever this MAC.
    parts = ["tether-relay", "pairing-nonce", pairing_id, salt]
    return _mac(verifier, json.dumps(parts, separators=(",", ":")).encode())


def new_nonce(verifier: str, pairing_id: str) -> str:
    """`<salt>.<tag>`: the relay's own challenge, which it alone (holding the verifier)
    can make, checked without being stored."""
    salt = secrets.token_urlsafe(18)
    return f"{salt}.{_nonce_tag(verifier, pairing_id, salt)}"


def nonce_is_ours(verifier: str, pairing_id: str, nonce: str) -> bool:
    salt, dot, tag = nonce.partition(".")
    expected = _nonce_tag(verifier, pairing_id, salt)
    return bool(dot) and hmac.compare_digest(expected.encode(), tag.encode())


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
            "nonce": None,  # unused: challenges are not stored
            "attempts": 0,  # unused: wrong answers are not counted
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
        """A fresh nonce for the device to answer. Nothing is written: a challenge someone
        else asks for leaves the device's own good."""
        row = await self._open_pairing(self.db, pairing_id)
        return {**pairing_out(row), "nonce": new_nonce(row["verifier"], pairing_id)}

    async def complete(
        self, pairing_id: str, nonce: str, public_key: str, proof: str, host_proof: str | None
    ) -> dict[str, Any]:
        """Check the device's proof and, once only, mint its token and record its key:
        the link is spent, the token and the device written in one transaction, so a
        failure in between leaves the link open and no token behind."""
        try:
            if len(_b64d(public_key)) != 32:
                raise ValueError
        except ValueError:
            raise Unprocessable("public_key: must be a raw X25519 public key, base64url") from None
        # Checked on a plain read: a wrong answer takes no write lock and, counted nowhere
        # (see the module's docstring), writes nothing.
        row = await self._open_pairing(self.db, pairing_id)
        verifier = row["verifier"]
        good = nonce_is_ours(verifier, pairing_id, nonce)
        expected = expected_proof(verifier, pairing_id, nonce, public_key)
        if not (hmac.compare_digest(expected.encode(), proof.encode()) and good):
            raise Unprocessable("the pairing proof is wrong: the link may be mistyped or stale")
        token_id, token, secret_hash = mint_token()
        async with self.db.transaction() as conn:
            row = await self._open_pairing(conn, pairing_id)  # still open, and its own
            now = time.time()
            # The verifier is no use to anyone once the link is spent.
            count = await conn.execute(
                "UPDATE pairings SET used_at = $1, nonce = NULL, verifier = NULL "
                "WHERE id = $2 AND used_at IS NULL",
                now,
                pairing_id,
            )
            if count != 1:
                raise Gone("this pairing link was already used")
            token_row = await insert_token(conn, token_id, row["name"], row["scope"], secret_hash)
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
            await _insert(conn, "devices", device)
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

    async def _one_device(self, name_or_id: str) -> dict[str, Any]:
        """The active device with this id, else the one with this name. Names are unique
        among active devices now, but data from before that rule may hold two: revoking
        one of them by name would be a guess, so that is refused, listing their ids."""
        row = await self.db.fetchrow(
            "SELECT * FROM devices WHERE id = $1 AND revoked_at IS NULL", name_or_id
        )
        if row is not None:
            return row
        named = await self.db.fetch(
            "SELECT * FROM devices WHERE name = $1 AND revoked_at IS NULL ORDER BY created_at",
            name_or_id,
        )
        if not named:
            raise NotFound(f"no paired device named {name_or_id!r}; `tether devices` lists them")
        if len(named) > 1:
            ids = ", ".join(f"{d['id']} (paired {iso(d['created_at'])})" for d in named)
            raise Conflict(
                f"{len(named)} paired devices are named {name_or_id!r}: {ids}; revoke one by its id"
            )
        return named[0]

    async def revoke(self, name_or_id: str) -> dict[str, Any]:
        row = await self._one_device(name_or_id)
        now = time.time()

        async def mark_revoked(tx: Any) -> None:
            # Its key goes too: no runner wraps a new session key to it. Through the
            # writer, as a grant is, so a grant sees the device either active or revoked,
            # never one revoked under it while its transaction runs.
            await tx.execute(
                "UPDATE devices SET revoked_at = $1, public_key = NULL, host_proof = NULL "
                "WHERE id = $2",
                now,
                row["id"],
            )

        await self.store.write(mark_revoked)
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
