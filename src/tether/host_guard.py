"""Which `Host` headers a loopback-bound server answers, against DNS rebinding.

A page on another site can make a browser resolve its own name to 127.0.0.1 and then talk
to this server; the `Host` header still carries that name. So a server bound to loopback
answers only hosts that really are loopback (an IP literal, `localhost`) or the configured
public host. Names are parsed, never prefix-matched: `127.attacker.example` is a name.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from tether.relay.errors import error_response

LOOPBACK_NAMES = frozenset({"localhost", "localhost."})


def host_name(host: str) -> str | None:
    """The name or address in a Host header, without port or IPv6 brackets, lowercased;
    None when it is malformed."""
    host = host.strip().lower()
    if host.startswith("["):
        end = host.find("]")
        if end < 0 or (host[end + 1 :] and not _is_port(host[end + 1 :])):
            return None
        return host[1:end]
    name, sep, port = host.rpartition(":")
    if not sep:
        return host or None
    if ":" in name or not _is_port(":" + port):
        return None  # a bare IPv6 address or a bad port
    return name or None


def _is_port(tail: str) -> bool:
    return tail.startswith(":") and tail[1:].isdigit() and int(tail[1:]) <= 65535


def is_loopback_name(name: str) -> bool:
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class LoopbackHostGuard:
    """Refuses (421, or WebSocket close 4421) requests whose Host is neither loopback nor
    the public host."""

    def __init__(self, app: ASGIApp, public_url: str | None = None) -> None:
        self.app = app
        public = urlsplit(public_url).hostname if public_url else None
        self.public_host = public.lower() if public else None
        self._seen: dict[str, bool] = {}

    def allows(self, host: str) -> bool:
        # Cached: every request asks, and clients send the same few Host values.
        allowed = self._seen.get(host)
        if allowed is None:
            name = host_name(host)
            allowed = name is not None and (is_loopback_name(name) or name == self.public_host)
            if len(self._seen) < 256:
                self._seen[host] = allowed
        return allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            raw = b""
            for name, value in scope["headers"]:
                if name == b"host":
                    raw = value  # the last one, as a dict of the headers would keep
            host = raw.decode("latin-1")
            if not self.allows(host):
                if scope["type"] == "http":
                    response = error_response(
                        421,
                        "misdirected_request",
                        f"this server listens on loopback and does not serve host {host!r}",
                    )
                    await response(scope, receive, send)
                else:
                    await send({"type": "websocket.close", "code": 4421})
                return
        await self.app(scope, receive, send)
