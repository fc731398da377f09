"""Bearer tokens and what each scope may do.

A token reads `tth_<id>_<secret>`. Only a SHA-256 of the secret is stored: the secret is
32 random bytes, so a slow hash buys nothing, and the id lets us fetch the one row to
compare in constant time.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from tether.protocol import SCOPE_CAPABILITIES, SCOPES, Capability
from tether.relay.errors import Forbidden, Unauthorized
from tether.relay.store import Store

TOKEN_PREFIX = "tth_"


@dataclass(frozen=True, slots=True)
class Principal:
    token_id: str
    name: str
    scope: str

    def require(self, capability: Capability) -> None:
        if capability not in SCOPE_CAPABILITIES.get(self.scope, frozenset()):
            raise Forbidden(f"a {self.scope} token may not {capability.value.replace('_', ' ')}")


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def mint_token() -> tuple[str, str, str]:
    """A fresh token: (token_id, full token string, secret hash to store)."""
    token_id = secrets.token_hex(4)
    secret = secrets.token_urlsafe(32)
    return token_id, f"{TOKEN_PREFIX}{token_id}_{secret}", hash_secret(secret)


@functools.lru_cache(maxsize=8)  # the same token on every start is hashed once
def env_token_id(token: str | None) -> str | None:
    """The id TETHER_TOKEN acts under: `env-` and 16 hex of a hash of it. What is bound to
    a token's id (push subscriptions) then belongs to this TETHER_TOKEN, and a changed one
    is another token. scrypt, because the id is stored and TETHER_TOKEN is chosen by a
    person: a weak one must not fall to a fast offline guess from a database copy."""
    if not token:
        return None
    digest = hashlib.scrypt(token.encode(), salt=b"tether-env-token", n=2**14, r=8, p=1)
    return "env-" + digest.hex()[:16]


def split_token(token: str) -> tuple[str, str] | None:
    if not token.startswith(TOKEN_PREFIX):
        return None
    token_id, sep, secret = token[len(TOKEN_PREFIX) :].partition("_")
    if not sep or not token_id or not secret:
        return None
    return token_id, secret


async def create_token(store: Store, scope: str, name: str | None = None) -> tuple[dict, str]:
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}; choose one of {', '.join(SCOPES)}")
    token_id, token, secret_hash = mint_token()
    row = await store.create_token(token_id, name or f"{scope}-{token_id}", scope, secret_hash)
    return row, token


class Authenticator:
    """Checks bearer tokens. Good answers are cached briefly so a busy client does not cost
    a database read per request; a revocation evicts them (relay/revocation.py)."""

    def __init__(self, store: Store, env_token: str | None, cache_seconds: float = 2.0) -> None:
        self.store = store
        self.env_token = env_token
        self.env_token_id = env_token_id(env_token)
        self.cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, Principal]] = {}
        self._revoked: set[str] = set()

    def forget(self) -> None:
        self._cache.clear()

    def revoke(self, token_id: str) -> None:
        """Refuse this token from now on, even if a lookup still in flight caches it."""
        self._revoked.add(token_id)
        for token, (_, principal) in tuple(self._cache.items()):
            if principal.token_id == token_id:
                self._cache.pop(token, None)

    def is_revoked(self, who: Principal) -> bool:
        return who.token_id in self._revoked

    async def authenticate(self, authorization: str | None) -> Principal:
        if not authorization:
            raise Unauthorized("missing bearer token: send Authorization: Bearer <token>")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("the Authorization header must be 'Bearer <token>'")
        return await self.check(token.strip())

    async def check(self, token: str) -> Principal:
        now = time.monotonic()
        cached = self._cache.get(token)
        if cached and cached[0] > now and cached[1].token_id not in self._revoked:
            return cached[1]
        principal = await self._lookup(token)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[token] = (now + self.cache_seconds, principal)
        return principal

    async def _lookup(self, token: str) -> Principal:
        if self.env_token and hmac.compare_digest(token.encode(), self.env_token.encode()):
            assert self.env_token_id is not None
            return Principal(self.env_token_id, "TETHER_TOKEN", "admin")
        parts = split_token(token)
        if parts is not None:
            row = await self.store.get_token(parts[0])
            if (
                row is not None
                and row["revoked_at"] is None
                and hmac.compare_digest(row["secret_hash"], hash_secret(parts[1]))
            ):
                return Principal(row["id"], row["name"], row["scope"])
        raise Unauthorized("the token was not accepted (unknown, revoked or mistyped)")


def write_private_file(path: Path, text: str) -> None:
    """Write a secret readable by its owner only, never briefly readable by others."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)


async def ensure_admin_token(store: Store, token_file: Path) -> str | None:
    """On first start, mint an admin token and keep it in the data dir (mode 0600).

    Returns the new token when one was minted (to print once), None when one exists."""
    try:
        # A few bytes read once at start-up; not worth a thread.
        existing = token_file.read_text().strip()  # noqa: ASYNC240
    except FileNotFoundError:
        existing = ""
    if existing:
        parts = split_token(existing)
        row = await store.get_token(parts[0]) if parts else None
        if row is not None and row["revoked_at"] is None:
            return None
    _, token = await create_token(store, "admin", "local-admin")
    write_private_file(token_file, token + "\n")
    return token
