"""The runner's side of end-to-end encryption: a new session's key wrapped to this host
and to every device it can vouch for, and the cipher of a session it resumes.

The recipients are the host key (so this machine's terminal commands read the session)
and the paired devices whose host proof checks against a pairing made here
(`HostKeys.trusted_devices`): a key the relay lists but cannot prove is left out.
"""

from __future__ import annotations

import secrets
from typing import Any

from tether.client import RelayClient
from tether.e2e.keys import HostKeys, device_recipient
from tether.e2e.sessions import ENCRYPTED_TITLE, SessionCipher


async def recipients(relay: RelayClient, keys: HostKeys) -> dict[str, str]:
    """Recipient name → public key: the host, and the devices it trusts."""
    found = {keys.recipient: keys.public_key}
    for device in keys.trusted_devices(await relay.list_devices()):
        found[device_recipient(device["id"])] = device["public_key"]
    return found


async def create_session(
    relay: RelayClient,
    keys: HostKeys,
    *,
    title: str | None,
    cwd: str,
    metadata: dict[str, Any] | None = None,
    **fields: Any,
) -> tuple[dict[str, Any], SessionCipher]:
    """A new encrypted session: the id chosen here so everything binds to it from the
    start; title and cwd only inside the sealed metadata."""
    session_id = f"ses_{secrets.token_hex(8)}"
    cipher, e2e = SessionCipher.create(
        session_id, await recipients(relay, keys), {"title": title, "cwd": cwd}
    )
    session = await relay.create_session(
        title=ENCRYPTED_TITLE,
        cwd="",
        metadata={**(metadata or {}), "e2e": e2e},
        id=session_id,
        **fields,
    )
    return cipher.open_session(session), cipher


def cipher_for(session: dict[str, Any], keys: HostKeys) -> SessionCipher | None:
    """The cipher of an encrypted session wrapped to this host; None for a plaintext
    one. NoKey / Tampered when it is encrypted but not for us."""
    return SessionCipher.for_session(session, keys.private_key, keys.recipient)
