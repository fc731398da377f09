"""A push service for tests: an HTTP server on 127.0.0.1 that takes Web Push messages as
FCM or Mozilla's autopush would, and a browser's side of a subscription (its P-256 key and
auth secret) that decrypts what arrived, per RFC 8291, with `http_ece`.

`PushService.gone` names endpoints to answer 410 (a subscription the browser dropped);
while `PushService.held` is clear, deliveries are recorded but not answered (a push
service that hangs).
"""

from __future__ import annotations

import base64
import os
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import http_ece
import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class Delivery:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Device:
    """A browser's push subscription: what `PushSubscription.toJSON()` gives a page."""

    endpoint: str
    key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    auth: bytes = field(default_factory=lambda: os.urandom(16))

    def subscription(self, **settings: Any) -> dict[str, Any]:
        public = self.key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return {
            "endpoint": self.endpoint,
            "keys": {"p256dh": b64url(public), "auth": b64url(self.auth)},
            **settings,
        }

    def decrypt(self, delivery: Delivery) -> dict[str, Any]:
        """The payload, decrypted as the browser would (RFC 8291, aes128gcm)."""
        assert delivery.headers["content-encoding"] == "aes128gcm"
        plain = http_ece.decrypt(
            delivery.body, private_key=self.key, auth_secret=self.auth, version="aes128gcm"
        )
        return orjson.loads(plain)


class PushService:
    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        self.gone: set[str] = set()
        self.held = threading.Event()
        self.held.set()
        self._cond = threading.Condition()
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                status = 410 if self.path in service.gone else 201
                with service._cond:
                    service.deliveries.append(
                        Delivery(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                    )
                    service._cond.notify_all()
                service.held.wait(30)
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def device(self, name: str) -> Device:
        return Device(f"{self.origin}/push/{name}")

    def start(self) -> PushService:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def wait_for(self, device: Device, count: int = 1, timeout: float = 15.0) -> list[Delivery]:
        """The first `count` deliveries to this device (waiting until there are that many)."""
        path = device.endpoint.removeprefix(self.origin)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                mine = [d for d in self.deliveries if d.path == path]
                if len(mine) >= count:
                    return mine[:count]
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"{count} push(es) to {path} did not arrive: {mine}")
                self._cond.wait(remaining)

    def relay_dir(self, parent: Path) -> Path:
        """A tether data dir whose config lets the relay push to this service."""
        data_dir = parent / "relay"
        data_dir.mkdir()
        (data_dir / "config.yaml").write_text(f"push:\n  services: ['{self.origin}']\n")
        return data_dir

    def to(self, device: Device) -> list[Delivery]:
        path = device.endpoint.removeprefix(self.origin)
        with self._cond:
            return [d for d in self.deliveries if d.path == path]
