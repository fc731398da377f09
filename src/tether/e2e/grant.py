"""Granting a device paired later the sessions that were encrypted before it.

The relay cannot do this: it holds no session key. The host can, for every session
wrapped to it: it wraps the session key to the device's public key (one it vouches for:
paired through a link made here) and adds it to the session's key set through
`POST /sessions/{id}/keys`, the add-only endpoint a device granting from the web UI uses
too, guarded by the metadata version.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tether.client import Conflict, RelayClient, VersionConflict
from tether.e2e.crypto import Tampered
from tether.e2e.keys import HostKeys, device_recipient
from tether.e2e.sessions import NoKey, SessionCipher, is_encrypted


class UnknownDevice(LookupError):
    """No active device by that name or id that this host can vouch for, or two by that
    name."""


@dataclass
class Granted:
    granted: list[str] = field(default_factory=list)
    had: list[str] = field(default_factory=list)  # already wrapped to the device
    skipped: list[str] = field(default_factory=list)  # not this host's to share


async def grant(
    relay: RelayClient, keys: HostKeys, name: str, session_ids: list[str] | None = None
) -> Granted:
    trusted = keys.trusted_devices(await relay.list_devices())
    # An id names one device; a name may name two in data from before names were unique,
    # and a key wrapped to the wrong one is not taken back: refuse to guess.
    found = [d for d in trusted if d["id"] == name] or [d for d in trusted if d["name"] == name]
    if not found:
        raise UnknownDevice(
            f"no paired device named {name!r} that this host can vouch for "
            "(it must be paired with `tether pair` on this machine)"
        )
    if len(found) > 1:
        raise UnknownDevice(
            f"{len(found)} paired devices are named {name!r}: "
            + ", ".join(d["id"] for d in found)
            + "; name one by its id"
        )
    [device] = found
    recipient = device_recipient(device["id"])
    sessions: list[dict[str, Any]] = (
        [await relay.get_session(sid) for sid in session_ids]
        if session_ids
        else await relay.list_sessions()
    )
    out = Granted()
    for session in sessions:
        if not is_encrypted(session):
            continue
        e2e = session["metadata"]["e2e"]
        if recipient in e2e["keys"]:
            out.had.append(session["id"])
            continue
        try:
            cipher = SessionCipher.for_session(session, keys.private_key, keys.recipient)
        except (NoKey, Tampered):
            out.skipped.append(session["id"])
            continue
        assert cipher is not None
        wrapped = cipher.wrap_for({recipient: device["public_key"]})[recipient]
        try:
            await relay.add_session_key(
                session["id"], recipient, wrapped, session["metadata_version"]
            )
        except VersionConflict:
            out.skipped.append(session["id"])
            continue
        except Conflict:  # granted meanwhile, from another device
            out.had.append(session["id"])
            continue
        out.granted.append(session["id"])
    return out
