"""Web Push on the wire: the relay's VAPID key (RFC 8292), the message encryption
(RFC 8291, `aes128gcm`), and one POST to a browser's push service.

The primitives are reviewed libraries, not ours: `py_vapid` signs the VAPID JWT and
`http_ece` does the ECDH + HKDF + AES-GCM of RFC 8188/8291 (both are what `pywebpush` is
built on; the requests are sent with the relay's own httpx, asynchronously). The push
service sees only the ciphertext; the browser decrypts it with the keys it made when it
subscribed.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import http_ece
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid02

from tether.private_files import tighten_if_present
from tether.relay.auth import write_private_file

# A push service takes at most 4096 bytes of payload; ours are a few hundred.
MAX_PAYLOAD = 3000


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def vapid_key_path(data_dir: Path) -> Path:
    return data_dir / "vapid-private.pem"


def load_vapid(data_dir: Path) -> Vapid02:
    """The relay's VAPID key pair, made on first start into the data dir (0600). Every
    subscription is bound to its public key: a new key silently orphans every device."""
    path = vapid_key_path(data_dir)
    tighten_if_present(path)
    if path.exists():
        return Vapid02.from_pem(path.read_bytes())
    vapid = Vapid02()
    vapid.generate_keys()
    write_private_file(path, vapid.private_pem().decode())
    return vapid


def public_key(vapid: Vapid02) -> str:
    """The key a browser passes to `pushManager.subscribe` (applicationServerKey)."""
    raw = vapid.public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return b64url(raw)


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


# A host name as DNS spells it (IDNA names in their xn-- form): nothing else can be a host.
_HOST = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*$")


def _origin(url: str) -> tuple[str, str, int | None] | None:
    """(scheme, host, port) of a URL whose authority is a plain host and optional port, or
    None. Anything else (userinfo, a `port` that is not one, escapes, non-ASCII) is refused
    here rather than left to whatever parser sends the request."""
    if not url.isascii() or any(c <= " " or c == "\x7f" for c in url):
        return None  # urlsplit drops tabs and newlines silently; the sender would not
    try:
        parts = urlsplit(url.lower())
        port = parts.port
    except ValueError:
        return None
    host = parts.hostname or ""
    if parts.netloc != (host if port is None else f"{host}:{port}"):
        return None
    return parts.scheme, host, port


def allowed_endpoint(endpoint: str, services: list[str]) -> bool:
    """True when the endpoint is under one of the configured push service origins
    (`https://*.example.com` matches any subdomain)."""
    origin = _origin(endpoint)
    if origin is None or origin[0] not in ("https", "http") or not _HOST.match(origin[1]):
        return False
    scheme, host, port = origin
    for service in services:
        wildcard = "://*." in service
        allowed = _origin(service.replace("://*.", "://", 1) if wildcard else service)
        if allowed is None or (allowed[0], allowed[2]) != (scheme, port):
            continue
        if host == allowed[1] if not wildcard else host.endswith("." + allowed[1]):
            return True
    return False


def topic_of(tag: str) -> str:
    """A Topic header (at most 32 base64url characters) for a notification tag: the push
    service keeps only the newest undelivered message of a topic, so a `resolved` replaces
    the request it closes on a phone that was offline."""
    return b64url(hashlib.sha256(tag.encode()).digest())[:32]


@dataclass(frozen=True)
class Target:
    """Where one push goes: the browser's endpoint and the keys it subscribed with."""

    endpoint: str
    p256dh: str  # the browser's P-256 public key, base64url
    auth: str  # its 16-byte auth secret, base64url


def valid_keys(p256dh: str, auth: str) -> str | None:
    """Why these subscription keys cannot be used, or None when they can."""
    try:
        key = b64url_decode(p256dh)
        secret = b64url_decode(auth)
    except (ValueError, TypeError):
        return "keys must be base64url"
    if len(key) != 65 or key[0] != 4:
        return "keys.p256dh must be an uncompressed P-256 point (65 bytes)"
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), key)
    except ValueError:
        return "keys.p256dh is not a point on P-256"
    if len(secret) != 16:
        return "keys.auth must be 16 bytes"
    return None


def encrypt(target: Target, payload: bytes) -> bytes:
    """The RFC 8291 `aes128gcm` body for one browser: a fresh ECDH key and salt each time."""
    ephemeral = ec.generate_private_key(ec.SECP256R1())
    return http_ece.encrypt(
        payload,
        salt=os.urandom(16),
        private_key=ephemeral,
        dh=b64url_decode(target.p256dh),
        auth_secret=b64url_decode(target.auth),
        version="aes128gcm",
    )


def request_headers(
    vapid: Vapid02, subject: str, target: Target, *, ttl: int, urgency: str, topic: str
) -> dict[str, str]:
    claims = {
        "aud": origin_of(target.endpoint),
        "sub": subject,
        "exp": int(time.time()) + 12 * 3600,
    }
    headers = dict(vapid.sign(claims))
    headers.update(
        {
            "Content-Encoding": "aes128gcm",
            "Content-Type": "application/octet-stream",
            "TTL": str(max(0, ttl)),
            "Urgency": urgency,
            "Topic": topic,
        }
    )
    return headers
