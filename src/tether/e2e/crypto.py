"""The primitives of tether's end-to-end encryption, all from `cryptography` (OpenSSL):
X25519 key agreement, HKDF-SHA256, AES-256-GCM and HMAC-SHA256. Nothing here is
hand-rolled; this module only fixes how they are put together, and the web UI's
`js/e2e.js` does the same with WebCrypto (docs/encryption.md is the spec both follow).

Pure: no I/O, no logging. Every byte string on the wire is base64url without padding.

Additional authenticated data binds each ciphertext to its place: a context list such as
`["msg", session_id, message_id, role, kind]`, serialized as compact JSON after a version
tag, so a box moved to another session, message, role or kind does not open.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tether.protocol import is_sealed

VERSION = 1
AAD_TAG = "tether-e2e-v1"
KEY_BYTES = 32
NONCE_BYTES = 12


class Tampered(Exception):
    """A box did not open: the wrong key, or it was altered or moved from its place."""


def b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64d(text: str) -> bytes:
    if not isinstance(text, str):
        raise ValueError("expected base64url text")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _hkdf(ikm: bytes, salt: bytes, info: str) -> bytes:
    return HKDF(hashes.SHA256(), KEY_BYTES, salt, info.encode()).derive(ikm)


def aad(context: list[str]) -> bytes:
    """The authenticated data for a context; JSON so no two contexts serialize alike (the
    web UI's JSON.stringify of the same array gives the same bytes)."""
    return json.dumps([AAD_TAG, *context], ensure_ascii=False, separators=(",", ":")).encode()


# ── keys ──────────────────────────────────────────────────────────────────────────


def generate_private_key() -> X25519PrivateKey:
    return X25519PrivateKey.generate()


def public_key_b64(private_key: X25519PrivateKey) -> str:
    return b64e(private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))


def key_fingerprint(public_key: str) -> str:
    """A short, stable name for a public key (what `tether devices` shows)."""
    return hashlib.sha256(b64d(public_key)).hexdigest()[:16]


def new_session_key() -> bytes:
    return os.urandom(KEY_BYTES)


# ── boxes: AES-256-GCM with the context as AAD ────────────────────────────────────


# Whether a value has a box's shape: the same test the relay applies under `required`.
is_box = is_sealed


def seal(key: bytes, value: Any, context: list[str]) -> dict[str, Any]:
    """`value` (anything JSON) encrypted under `key`, bound to `context`."""
    nonce = os.urandom(NONCE_BYTES)
    plain = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
    sealed = AESGCM(key).encrypt(nonce, plain, aad(context))
    return {"e2e": VERSION, "n": b64e(nonce), "c": b64e(sealed)}


def open_box(key: bytes, box: Any, context: list[str]) -> Any:
    """The value inside, or Tampered when the key or the context is not the one it was
    sealed with (or a byte of it changed)."""
    if not is_box(box):
        raise Tampered("not an encrypted box")
    try:
        plain = AESGCM(key).decrypt(b64d(box["n"]), b64d(box["c"]), aad(context))
    except (InvalidTag, ValueError) as exc:
        raise Tampered("the box does not open with this key in this place") from exc
    return json.loads(plain)


# ── wrapping a session key to a public key (ECDH-ES) ──────────────────────────────


def _wrap_key_for(shared: bytes, ephemeral: bytes, recipient: bytes) -> bytes:
    return _hkdf(shared, ephemeral + recipient, "tether-wrap-v1")


def wrap(session_key: bytes, recipient_public: str, context: list[str]) -> dict[str, Any]:
    """`session_key` sealed to a recipient's X25519 public key with a fresh ephemeral key:
    only the holder of the matching private key can open it."""
    recipient = b64d(recipient_public)
    ephemeral = X25519PrivateKey.generate()
    shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(recipient))
    epk = ephemeral.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    box = seal(_wrap_key_for(shared, epk, recipient), b64e(session_key), context)
    return {**box, "epk": b64e(epk)}


def unwrap(wrapped: dict[str, Any], private_key: X25519PrivateKey, context: list[str]) -> bytes:
    try:
        epk = b64d(wrapped["epk"])
        shared = private_key.exchange(X25519PublicKey.from_public_bytes(epk))
    except (KeyError, TypeError, ValueError) as exc:
        raise Tampered("a malformed wrapped key") from exc
    mine = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    key = b64d(open_box(_wrap_key_for(shared, epk, mine), wrapped, context))
    if len(key) != KEY_BYTES:
        raise Tampered("a wrapped key of the wrong size")
    return key


# ── pairing ───────────────────────────────────────────────────────────────────────


def pairing_keys(secret: bytes, pairing_id: str) -> tuple[bytes, bytes]:
    """(auth_key, host_key) from a pairing link's secret. The relay is given only the
    auth key, to check that a device knows the secret; the host key stays on the host and
    proves to it that a device's public key came through this link (so a relay cannot
    slip in a key of its own)."""
    salt = b"tether-pair-v1"
    return _hkdf(secret, salt, f"auth:{pairing_id}"), _hkdf(secret, salt, f"host:{pairing_id}")


def _mac(key: bytes, parts: list[str]) -> str:
    return b64e(hmac.new(key, aad(parts), hashlib.sha256).digest())


def pairing_proof(auth_key: bytes, pairing_id: str, nonce: str, public_key: str) -> str:
    """What the device sends the relay: it knows the secret, for this challenge and key."""
    return _mac(auth_key, ["pair", pairing_id, nonce, public_key])


def host_proof(host_key: bytes, pairing_id: str, public_key: str) -> str:
    """What the device leaves for the host: this key is the one paired through the link."""
    return _mac(host_key, ["device", pairing_id, public_key])


def proof_matches(expected: str, given: Any) -> bool:
    return isinstance(given, str) and hmac.compare_digest(expected.encode(), given.encode())
