"""Pairing over the API (`/api/v1/pairings`, `/api/v1/devices`) on both databases, with
tether.e2e.crypto playing the device: the link's secret proves itself once, for one key,
and nothing about the exchange can be replayed."""

from __future__ import annotations

import asyncio
import os
import secrets

import httpx

from tests.relay.support import TIMEOUT, aclient, assert_error, make_token
from tests.support.sql import old_device, run_sql
from tether.e2e import crypto


def anonymous(server) -> httpx.AsyncClient:
    """A device that has no token yet: the link is all it holds."""
    return httpx.AsyncClient(base_url=server.url, timeout=TIMEOUT)


def new_pairing(**fields) -> tuple[dict, bytes, bytes]:
    pairing_id = secrets.token_hex(8)
    secret = os.urandom(32)
    auth_key, host_key = crypto.pairing_keys(secret, pairing_id)
    body = {"id": pairing_id, "verifier": crypto.b64e(auth_key), "name": "phone", **fields}
    return body, auth_key, host_key


async def answer(http, pairing_id: str, auth_key: bytes, public_key: str, nonce=None):
    if nonce is None:
        challenge = await http.post(f"/api/v1/pairings/{pairing_id}/challenge")
        assert challenge.status_code == 200, challenge.text
        nonce = challenge.json()["nonce"]
    proof = crypto.pairing_proof(auth_key, pairing_id, nonce, public_key)
    body = {"nonce": nonce, "public_key": public_key, "proof": proof}
    return await http.post(f"/api/v1/pairings/{pairing_id}/complete", json=body), body


async def test_a_device_pairs_once_and_a_replay_gains_nothing(server) -> None:
    body, auth_key, _ = new_pairing(scope="viewer")
    key = crypto.public_key_b64(crypto.generate_private_key())
    async with aclient(server) as admin, anonymous(server) as anyone:
        created = await admin.post("/api/v1/pairings", json=body)
        assert created.status_code == 201, created.text
        assert "verifier" not in created.json()
        done, sent = await answer(anyone, body["id"], auth_key, key)
        assert done.status_code == 201, done.text
        paired = done.json()
        assert paired["device"]["scope"] == "viewer" and paired["device"]["public_key"] == key
        async with aclient(server, paired["token"]) as device:
            assert (await device.get("/api/v1/me")).json() == {
                "token_id": paired["device"]["token_id"],
                "name": "phone",
                "scope": "viewer",
            }
        # The same exchange again, and a fresh challenge with another key: the link is spent.
        assert_error(
            await anyone.post(f"/api/v1/pairings/{body['id']}/complete", json=sent), 410, "gone"
        )
        assert_error(await anyone.post(f"/api/v1/pairings/{body['id']}/challenge"), 410, "gone")
        state = (await admin.get(f"/api/v1/pairings/{body['id']}")).json()
        assert state["used_at"] and state["device"]["name"] == "phone"


async def test_wrong_answers_cost_the_link_nothing_and_only_the_relays_challenges_count(
    server,
) -> None:
    # Someone who read the pairing id in a proxy log, but has not the secret, can neither
    # burn the link nor spoil the device's challenge.
    body, auth_key, _ = new_pairing()
    key = crypto.public_key_b64(crypto.generate_private_key())
    url = f"/api/v1/pairings/{body['id']}"
    async with aclient(server) as admin, anonymous(server) as anyone:
        assert (await admin.post("/api/v1/pairings", json=body)).status_code == 201
        mine = (await anyone.post(f"{url}/challenge")).json()["nonce"]
        for _ in range(12):
            done, _ = await answer(anyone, body["id"], os.urandom(32), key)
            assert_error(done, 422, "validation_error")
        # A proof for another key than the one sent (a key swapped in transit).
        other = crypto.public_key_b64(crypto.generate_private_key())
        swapped = {
            "nonce": mine,
            "public_key": key,
            "proof": crypto.pairing_proof(auth_key, body["id"], mine, other),
        }
        assert_error(await anyone.post(f"{url}/complete", json=swapped), 422)
        # A challenge the relay did not make is refused, even with the secret's proof.
        made_up = f"{mine.split('.')[0]}.{'A' * 43}"
        done, _ = await answer(anyone, body["id"], auth_key, key, nonce=made_up)
        assert_error(done, 422, "validation_error")
        assert (await admin.get(url)).json()["used_at"] is None
        # The device's challenge, asked for before all of that, still pairs it.
        done, _ = await answer(anyone, body["id"], auth_key, key, nonce=mine)
        assert done.status_code == 201, done.text


async def test_a_failure_while_pairing_leaves_the_link_open_and_no_token(server) -> None:
    # A row in the device's way makes the last write fail, after the link was spent and
    # the token minted: all of it is undone together.
    body, auth_key, _ = new_pairing(name="kiosk")
    key = crypto.public_key_b64(crypto.generate_private_key())
    async with aclient(server) as admin, anonymous(server) as anyone:
        assert (await admin.post("/api/v1/pairings", json=body)).status_code == 201
        await old_device(server, body["id"], "in-the-way", "gone0001")
        done, _ = await answer(anyone, body["id"], auth_key, key)
        assert done.status_code == 500
        assert (await admin.get(f"/api/v1/pairings/{body['id']}")).json()["used_at"] is None
        tokens = (await admin.get("/api/v1/tokens")).json()["tokens"]
        assert [t for t in tokens if t["name"] == "kiosk"] == []
        await run_sql(server, "DELETE FROM devices WHERE id = $1", body["id"])
        done, _ = await answer(anyone, body["id"], auth_key, key)
        assert done.status_code == 201, done.text


async def test_pairings_are_for_admins_and_unknown_links_are_404(server) -> None:
    body, _, _ = new_pairing()
    client = make_token(server, "client", "someone")
    async with aclient(server, client) as http:
        assert_error(await http.post("/api/v1/pairings", json=body), 403, "forbidden")
        assert_error(await http.post("/api/v1/pairings/nope1234/challenge"), 404, "not_found")


async def test_revoking_a_device_revokes_its_token_and_drops_its_key(server) -> None:
    body, auth_key, _ = new_pairing()
    key = crypto.public_key_b64(crypto.generate_private_key())
    async with aclient(server) as admin, anonymous(server) as anyone:
        await admin.post("/api/v1/pairings", json=body)
        done, _ = await answer(anyone, body["id"], auth_key, key)
        token = done.json()["token"]
        # A second link may not take a name in use.
        again, _, _ = new_pairing()
        assert_error(await admin.post("/api/v1/pairings", json=again), 409, "conflict")
        listed = (await admin.get("/api/v1/devices")).json()["devices"]
        assert [d["name"] for d in listed] == ["phone"]
        revoked = await admin.post("/api/v1/devices/phone/revoke")
        assert revoked.status_code == 200 and revoked.json()["public_key"] is None
        async with aclient(server, token) as device:
            assert_error(await device.get("/api/v1/me"), 401, "unauthorized")
        assert (await admin.get("/api/v1/devices")).json()["devices"] == []
        assert_error(await admin.post("/api/v1/devices/phone/revoke"), 404, "not_found")


async def test_a_name_two_devices_share_is_refused_and_an_id_picks_one(server) -> None:
    body, auth_key, _ = new_pairing(name="twin")
    key = crypto.public_key_b64(crypto.generate_private_key())
    async with aclient(server) as admin, anonymous(server) as anyone:
        await admin.post("/api/v1/pairings", json=body)
        done, _ = await answer(anyone, body["id"], auth_key, key)
        token = done.json()["token"]
        await old_device(server, "old0000000000001", "twin", "gone0000")
        ambiguous = assert_error(await admin.post("/api/v1/devices/twin/revoke"), 409, "conflict")
        assert "2 paired devices are named 'twin'" in ambiguous["message"]
        assert body["id"] in ambiguous["message"] and "old0000000000001" in ambiguous["message"]
        names = [d["name"] for d in (await admin.get("/api/v1/devices")).json()["devices"]]
        assert names == ["twin", "twin"]  # nothing revoked
        revoked = await admin.post(f"/api/v1/devices/{body['id']}/revoke")
        assert revoked.status_code == 200 and revoked.json()["id"] == body["id"]
        async with aclient(server, token) as device:
            assert_error(await device.get("/api/v1/me"), 401, "unauthorized")
        # One left: its name names it again.
        assert (await admin.post("/api/v1/devices/twin/revoke")).json()["id"] == "old0000000000001"


async def test_two_open_links_may_not_share_a_name(server) -> None:
    # Else both pair, two devices answer to one name, and revoking it revokes only one.
    first, first_key, _ = new_pairing(name="tablet")
    second, _, _ = new_pairing(name="tablet")
    async with aclient(server) as admin, anonymous(server) as anyone:
        assert (await admin.post("/api/v1/pairings", json=first)).status_code == 201
        assert_error(await admin.post("/api/v1/pairings", json=second), 409, "conflict")
        key = crypto.public_key_b64(crypto.generate_private_key())
        done, _ = await answer(anyone, first["id"], first_key, key)
        assert done.status_code == 201, done.text
        assert (await admin.post("/api/v1/devices/tablet/revoke")).status_code == 200
        # Revoked, the name is free again.
        assert (await admin.post("/api/v1/pairings", json=second)).status_code == 201


async def test_an_expired_link_keeps_no_verifier(server) -> None:
    # The docs promise the verifier stays only until the link is spent; a link left to
    # expire is spent too.
    body, _, _ = new_pairing(name="late", expires_in=0.05)
    async with aclient(server) as admin, anonymous(server) as anyone:
        assert (await admin.post("/api/v1/pairings", json=body)).status_code == 201
        await asyncio.sleep(0.1)
        gone = assert_error(await anyone.post(f"/api/v1/pairings/{body['id']}/challenge"), 410)
        assert "expired" in gone["message"]
        other, _, _ = new_pairing(name="next")
        assert (await admin.post("/api/v1/pairings", json=other)).status_code == 201
    [row] = await run_sql(server, "SELECT verifier FROM pairings WHERE id = $1", body["id"])
    assert row["verifier"] is None
