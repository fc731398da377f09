"""`POST /sessions/{id}/keys` on both databases: a device that holds an encrypted session's
key shares it with a device paired later. The relay only adds an entry to the key set, for
a paired device that is not revoked, against the metadata version the granter read; it
never replaces one, and viewers and agents may not add any."""

from __future__ import annotations

import httpx
import pytest

from tests.relay.support import aclient, assert_error, make_token
from tests.relay.test_pairing import anonymous, answer, new_pairing
from tether.e2e import crypto
from tether.e2e.keys import device_recipient
from tether.e2e.sessions import SessionCipher


async def pair(server, admin: httpx.AsyncClient, name: str):
    """A paired device: its relay record, its token and its private key."""
    body, auth_key, _ = new_pairing(name=name)
    assert (await admin.post("/api/v1/pairings", json=body)).status_code == 201
    private = crypto.generate_private_key()
    async with anonymous(server) as anyone:
        done, _ = await answer(anyone, body["id"], auth_key, crypto.public_key_b64(private))
    assert done.status_code == 201, done.text
    paired = done.json()
    return paired["device"], paired["token"], private


async def encrypted_session(admin: httpx.AsyncClient, device: dict, title: str):
    """A session whose key is wrapped to `device` only, as a runner makes it."""
    import secrets

    sid = f"ses_{secrets.token_hex(8)}"
    recipients = {device_recipient(device["id"]): device["public_key"]}
    cipher, e2e = SessionCipher.create(sid, recipients, {"title": title, "cwd": "/"})
    created = await admin.post(
        "/api/v1/sessions", json={"id": sid, "title": "(encrypted)", "metadata": {"e2e": e2e}}
    )
    assert created.status_code == 201, created.text
    return created.json(), cipher


def grant_body(session: dict, cipher: SessionCipher, device: dict, **over) -> dict:
    recipient = device_recipient(device["id"])
    wrapped = cipher.wrap_for({recipient: device["public_key"]})[recipient]
    return {
        "recipient": recipient,
        "wrapped": wrapped,
        "expected_version": session["metadata_version"],
        **over,
    }


async def later_device(server, admin: httpx.AsyncClient):
    """A phone with an encrypted session, a tablet paired after it, and the body the phone
    sends to share the session with the tablet."""
    phone, phone_token, _ = await pair(server, admin, "phone")
    session, cipher = await encrypted_session(admin, phone, "t")
    tablet, _, _ = await pair(server, admin, "tablet")
    return phone_token, session, grant_body(session, cipher, tablet)


async def test_a_device_shares_a_session_key_with_a_later_device(server) -> None:
    async with aclient(server) as admin:
        phone, phone_token, _ = await pair(server, admin, "phone")
        session, cipher = await encrypted_session(admin, phone, "before the tablet")
        tablet, _, tablet_key = await pair(server, admin, "tablet")
        async with aclient(server, phone_token) as http:
            url = f"/api/v1/sessions/{session['id']}/keys"
            granted = await http.post(url, json=grant_body(session, cipher, tablet))
        assert granted.status_code == 201, granted.text
        after = granted.json()
        assert after["metadata_version"] == session["metadata_version"] + 1
        keys = after["metadata"]["e2e"]["keys"]
        # The phone's entry is untouched; the tablet's opens with the tablet's key.
        assert (
            keys[device_recipient(phone["id"])]
            == (session["metadata"]["e2e"]["keys"][device_recipient(phone["id"])])
        )
        opened = SessionCipher.for_session(after, tablet_key, device_recipient(tablet["id"]))
        assert opened is not None and opened.open_session(after)["title"] == "before the tablet"
        # What anyone reads now is the same.
        assert (await admin.get(f"/api/v1/sessions/{session['id']}")).json() == after


async def test_viewers_and_agents_may_not_add_keys(server) -> None:
    async with aclient(server) as admin:
        _, session, body = await later_device(server, admin)
        for scope in ("viewer", "agent"):
            async with aclient(server, make_token(server, scope, scope)) as http:
                refused = await http.post(f"/api/v1/sessions/{session['id']}/keys", json=body)
                assert_error(refused, 403, "forbidden")
        stored = (await admin.get(f"/api/v1/sessions/{session['id']}")).json()
        assert stored["metadata_version"] == session["metadata_version"]


async def test_only_an_active_paired_device_can_be_a_recipient(server) -> None:
    async with aclient(server) as admin:
        phone_token, session, body = await later_device(server, admin)
        url = f"/api/v1/sessions/{session['id']}/keys"
        async with aclient(server, phone_token) as http:
            unknown = {**body, "recipient": "device:nosuchdevice"}
            error = assert_error(await http.post(url, json=unknown), 422, "validation_error")
            assert "no paired device" in error["message"]
            assert (await admin.post("/api/v1/devices/tablet/revoke")).status_code == 200
            error = assert_error(await http.post(url, json=body), 422, "validation_error")
            assert "revoked" in error["message"]
            # Not a device at all (the host's entry is the runner's to write).
            host = {**body, "recipient": "host:0123456789abcdef"}
            assert_error(await http.post(url, json=host), 422, "validation_error")
            # Not a wrapped key's shape.
            bad = {**body, "wrapped": {"e2e": 1, "n": "x", "c": "y"}}
            assert_error(await http.post(url, json=bad), 422, "validation_error")
        stored = (await admin.get(f"/api/v1/sessions/{session['id']}")).json()
        assert stored["metadata_version"] == session["metadata_version"]


async def test_an_existing_recipient_is_never_replaced(server) -> None:
    async with aclient(server) as admin:
        phone, phone_token, phone_key = await pair(server, admin, "phone")
        session, cipher = await encrypted_session(admin, phone, "mine")
        # Someone holding a client token and another key tries to put it in the phone's
        # place (a relay-side swap would need the same).
        other = {**phone, "public_key": crypto.public_key_b64(crypto.generate_private_key())}
        async with aclient(server, phone_token) as http:
            url = f"/api/v1/sessions/{session['id']}/keys"
            error = assert_error(
                await http.post(url, json=grant_body(session, cipher, other)), 409, "conflict"
            )
        assert "never replaced" in error["message"]
        stored = (await admin.get(f"/api/v1/sessions/{session['id']}")).json()
        assert stored["metadata"] == session["metadata"]
        mine = SessionCipher.for_session(stored, phone_key, device_recipient(phone["id"]))
        assert mine is not None and mine.key == cipher.key


async def test_a_stale_version_is_a_conflict(server) -> None:
    async with aclient(server) as admin:
        phone_token, session, body = await later_device(server, admin)
        # The runner changed the metadata since the phone read it.
        patched = await admin.patch(
            f"/api/v1/sessions/{session['id']}", json={"metadata": session["metadata"]}
        )
        assert patched.status_code == 200
        async with aclient(server, phone_token) as http:
            stale = await http.post(f"/api/v1/sessions/{session['id']}/keys", json=body)
            error = assert_error(stale, 409, "version_conflict")
            assert error["current"]["version"] == session["metadata_version"] + 1
            missing = {k: v for k, v in body.items() if k != "expected_version"}
            url = f"/api/v1/sessions/{session['id']}/keys"
            assert_error(await http.post(url, json=missing), 422, "validation_error")


async def test_a_wrong_or_plaintext_session(server) -> None:
    async with aclient(server) as admin:
        phone_token, _, body = await later_device(server, admin)
        plain = (await admin.post("/api/v1/sessions", json={"title": "clear"})).json()
        async with aclient(server, phone_token) as http:
            missing = await http.post("/api/v1/sessions/ses_nosuchsession/keys", json=body)
            assert_error(missing, 404, "not_found")
            clear = {**body, "expected_version": plain["metadata_version"]}
            error = assert_error(
                await http.post(f"/api/v1/sessions/{plain['id']}/keys", json=clear), 409
            )
            assert "not end-to-end encrypted" in error["message"]


async def test_the_openapi_document_lists_the_grant(server) -> None:
    async with aclient(server) as admin:
        doc = (await admin.get("/api/v1/openapi.json")).json()
    operation = doc["paths"]["/sessions/{session_id}/keys"]["post"]
    assert "requestBody" in operation


async def test_a_key_another_client_plants_for_a_device_does_not_open(server) -> None:
    """Any client may add an entry for a device that has none, so one can wrap a key of
    its own to the tablet before the phone shares the real one. The tablet must not take
    it for the session's key: the session's sealed metadata does not open with it."""
    async with aclient(server) as admin:
        phone, _, _ = await pair(server, admin, "phone")
        session, _ = await encrypted_session(admin, phone, "planted")
        tablet, _, tablet_key = await pair(server, admin, "tablet")
        mallory = make_token(server, "client", "mallory")
        fake, _ = SessionCipher.create(session["id"], {}, {"title": "fake"})
        async with aclient(server, mallory) as http:
            planted = await http.post(
                f"/api/v1/sessions/{session['id']}/keys", json=grant_body(session, fake, tablet)
            )
        assert planted.status_code == 201, planted.text
        with pytest.raises(crypto.Tampered):
            SessionCipher.for_session(planted.json(), tablet_key, device_recipient(tablet["id"]))
