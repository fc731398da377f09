"""A device paired after a session was encrypted cannot read it until the host grants it
(`tether devices grant NAME`); a revoked device gets no key for new sessions."""

from __future__ import annotations

import asyncio
import os
import secrets
from pathlib import Path

import httpx

from tests.cli.support import cli_env, one_line_error, tether
from tests.support.server import TetherServer
from tests.support.sql import run_sql
from tether.client import RelayClient
from tether.e2e import crypto
from tether.e2e.keys import HostKeys, device_recipient
from tether.e2e.sessions import SessionCipher
from tether.runner import encryption


def pair_device(server: TetherServer, keys: HostKeys, name: str):
    """What `tether pair` and the phone's page do, with this test as the phone."""
    pairing_id, secret = secrets.token_hex(8), os.urandom(32)
    auth_key, host_key = crypto.pairing_keys(secret, pairing_id)
    keys.remember_pairing(pairing_id, host_key)
    device_key = crypto.generate_private_key()
    public = crypto.public_key_b64(device_key)
    with httpx.Client(base_url=f"{server.url}/api/v1", timeout=20) as http:
        link = {"id": pairing_id, "verifier": crypto.b64e(auth_key), "name": name}
        assert http.post("/pairings", json=link, headers=server.headers).status_code == 201
        nonce = http.post(f"/pairings/{pairing_id}/challenge").json()["nonce"]
        done = http.post(
            f"/pairings/{pairing_id}/complete",
            json={
                "nonce": nonce,
                "public_key": public,
                "proof": crypto.pairing_proof(auth_key, pairing_id, nonce, public),
                "host_proof": crypto.host_proof(host_key, pairing_id, public),
            },
        )
        assert done.status_code == 201, done.text
    return device_recipient(pairing_id), device_key


def host(server: TetherServer, tmp_path: Path) -> tuple[dict[str, str], HostKeys]:
    """The host's shell environment and its keys (a data dir of its own)."""
    data_dir = tmp_path / "host"
    data_dir.mkdir()
    (data_dir / "config.yaml").write_text("{}\n")
    return cli_env(server.url, server.token, data_dir), HostKeys(data_dir)


async def new_session(server: TetherServer, keys: HostKeys, title: str) -> dict:
    async with RelayClient(server.url, server.token) as relay:
        session, _ = await encryption.create_session(relay, keys, title=title, cwd="/")
        return await relay.get_session(session["id"])


async def fetch(server: TetherServer, session_id: str) -> dict:
    async with RelayClient(server.url, server.token) as relay:
        return await relay.get_session(session_id)


def test_a_later_device_reads_older_sessions_once_granted(
    server: TetherServer, tmp_path: Path
) -> None:
    env, keys = host(server, tmp_path)
    before = asyncio.run(new_session(server, keys, "before the phone"))
    recipient, phone = pair_device(server, keys, "phone")
    after = asyncio.run(new_session(server, keys, "after the phone"))
    # Wrapped to the phone from the start: the runner vouches for it.
    assert SessionCipher.for_session(after, phone, recipient) is not None
    assert recipient not in before["metadata"]["e2e"]["keys"]

    done = tether(env, "devices", "grant", "phone")
    assert done.returncode == 0, done.stderr
    assert "1 more session" in done.stdout and "1 it could already" in done.stdout
    granted = asyncio.run(fetch(server, before["id"]))
    cipher = SessionCipher.for_session(granted, phone, recipient)
    assert cipher is not None
    assert cipher.open_session(granted)["title"] == "before the phone"

    assert "no paired device named" in one_line_error(tether(env, "devices", "grant", "tablet"))

    # Revoked: new sessions are no longer wrapped to it.
    assert tether(env, "devices", "revoke", "phone").returncode == 0
    later = asyncio.run(new_session(server, keys, "after revocation"))
    assert set(later["metadata"]["e2e"]["keys"]) == {keys.recipient}


def test_grant_refuses_a_name_two_devices_share_and_takes_an_id(
    server: TetherServer, tmp_path: Path
) -> None:
    env, keys = host(server, tmp_path)
    before = asyncio.run(new_session(server, keys, "before the phones"))
    first, _ = pair_device(server, keys, "phone")
    second, second_key = pair_device(server, keys, "tablet")
    # Two devices of one name: data from before names were unique.
    second_id = second.removeprefix("device:")
    asyncio.run(run_sql(server, "UPDATE devices SET name = 'phone' WHERE id = $1", second_id))
    error = one_line_error(tether(env, "devices", "grant", "phone"))
    assert "2 paired devices are named 'phone'" in error
    assert first.removeprefix("device:") in error and second_id in error
    assert set(asyncio.run(fetch(server, before["id"]))["metadata"]["e2e"]["keys"]) == {
        keys.recipient
    }
    assert tether(env, "devices", "grant", second_id).returncode == 0
    granted = asyncio.run(fetch(server, before["id"]))
    assert set(granted["metadata"]["e2e"]["keys"]) == {keys.recipient, second}
    assert SessionCipher.for_session(granted, second_key, second) is not None
