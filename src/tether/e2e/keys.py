"""The host's end-to-end keys on disk, in `<data dir>/e2e/` (0700, files 0600).

- `host.key`: the host's X25519 private key. Every session key is wrapped to it too, so
  the terminal commands on this machine (attach, permissions, sessions) can read every
  session the runner here encrypted.
- `pairings.json`: for each pairing link made here, the host key derived from its secret,
  with which this host checks that a device's public key came through that link (the
  relay could otherwise list a key of its own as a device).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from tether.e2e import crypto


def device_recipient(device_id: str) -> str:
    """A device's name among a session's key recipients (the web UI's vault.js agrees)."""
    return f"device:{device_id}"


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)


class HostKeys:
    def __init__(self, data_dir: Path) -> None:
        self.dir = data_dir / "e2e"
        self._private: X25519PrivateKey | None = None

    @property
    def private_key(self) -> X25519PrivateKey:
        """The host key, made on first use."""
        if self._private is None:
            path = self.dir / "host.key"
            try:
                raw = crypto.b64d(path.read_text().strip())
                self._private = X25519PrivateKey.from_private_bytes(raw)
            except FileNotFoundError:
                self._private = crypto.generate_private_key()
                raw = self._private.private_bytes_raw()
                _write_private(path, crypto.b64e(raw) + "\n")
        return self._private

    @property
    def public_key(self) -> str:
        return crypto.public_key_b64(self.private_key)

    @property
    def recipient(self) -> str:
        """The host's name among a session's key recipients."""
        return "host:" + crypto.key_fingerprint(self.public_key)

    # ── pairings made on this host ────────────────────────────────────────────────

    def _pairings(self) -> dict[str, str]:
        try:
            return dict(json.loads((self.dir / "pairings.json").read_text()))
        except FileNotFoundError:
            return {}

    def remember_pairing(self, pairing_id: str, host_key: bytes) -> None:
        known = self._pairings()
        known[pairing_id] = crypto.b64e(host_key)
        _write_private(self.dir / "pairings.json", json.dumps(known, indent=1) + "\n")

    def trusted_devices(self, devices: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The devices (as the relay lists them) whose public key this host can vouch for:
        paired through a link made here, with a host proof that matches."""
        known = self._pairings()
        out = []
        for device in devices:
            key, proof = device.get("public_key"), device.get("host_proof")
            host_key = known.get(str(device.get("id")))
            if not key or not proof or host_key is None or device.get("revoked_at"):
                continue
            expected = crypto.host_proof(crypto.b64d(host_key), device["id"], key)
            if crypto.proof_matches(expected, proof):
                out.append(device)
        return out
