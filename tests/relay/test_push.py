"""Web Push: devices subscribe through the API, and the relay's background sender delivers
encrypted notifications to a push service (a local one here) that the test decrypts with
the device's keys per RFC 8291, as the browser would."""

from __future__ import annotations

import asyncio
import stat
import time
from dataclasses import replace
from pathlib import Path

import orjson
import pytest
from py_vapid import Vapid02

from tests.relay.support import aclient, assert_error, make_token, message, new_session, permission
from tests.relay.test_session_keys import encrypted_session, pair
from tests.support.push_service import Device, PushService
from tether.e2e import crypto
from tether.e2e.keys import device_recipient
from tether.relay.event import WireEvent
from tether.relay.notify import Notice, SessionFacts, fit, notice_for, payload_for
from tether.relay.webpush import MAX_PAYLOAD

MARKER = "secret-marker-4471"


@pytest.fixture
def relay(server_factory, push: PushService, tmp_path: Path):
    return server_factory(data_dir=push.relay_dir(tmp_path))


async def subscribe(http, device: Device, **settings) -> dict:
    response = await http.post("/api/v1/push/subscribe", json=device.subscription(**settings))
    assert response.status_code == 201, response.text
    return response.json()


def token_and_device(relay, push: PushService, scope: str, name: str) -> tuple[str, Device]:
    """A new token of `scope` and a device (browser subscription) named like it."""
    return make_token(relay, scope, name), push.device(name)


async def wait_for(push: PushService, device: Device, count: int = 1):
    return await asyncio.to_thread(push.wait_for, device, count)


async def test_a_permission_request_reaches_the_device_encrypted_and_its_answer_closes_it(
    relay, push: PushService
) -> None:
    phone_token, phone = token_and_device(relay, push, "client", "phone")
    async with aclient(relay) as agent, aclient(relay, phone_token) as http:
        key = (await http.get("/api/v1/push/key")).json()["public_key"]
        sub = await subscribe(http, phone)
        assert sub["events"] == ["permission", "turn", "ended"] and sub["quiet"] is False
        assert "keys" not in sub and "p256dh" not in sub
        session = await new_session(agent, title="Fix the login test")
        opened = await agent.post(
            f"/api/v1/sessions/{session['id']}/permissions",
            json=permission(command=f"echo {MARKER}"),
        )
        request = opened.json()

        [delivery] = await wait_for(push, phone)
        assert MARKER.encode() not in delivery.body
        payload = phone.decrypt(delivery)
        assert payload == {
            "type": "permission",
            "tag": f"tether-perm-{request['id']}",
            "request_id": request["id"],
            "session_id": session["id"],
            "session_title": "Fix the login test",
            "tool_name": "Bash",
            "silent": False,
            "can_answer": True,
        }
        headers = delivery.headers
        assert headers["urgency"] == "high"
        assert 0 < int(headers["ttl"]) <= 600  # no later than the request expires
        assert len(headers["topic"]) <= 32
        # Signed with the relay's VAPID key, the one a browser subscribes with.
        assert headers["authorization"].endswith(f"k={key}")
        assert Vapid02.verify(headers["authorization"])

        answered = await http.post(
            f"/api/v1/permissions/{request['id']}/respond", json={"behavior": "allow"}
        )
        assert answered.status_code == 200
        [_, resolved] = await wait_for(push, phone, 2)
        assert phone.decrypt(resolved) == {
            "type": "resolved",
            "tag": payload["tag"],
            "request_id": request["id"],
            "session_id": session["id"],
            "status": "allowed",
        }
        # Same topic: a phone that was offline gets only the close, not the stale request.
        assert resolved.headers["topic"] == headers["topic"]


async def test_a_finished_turn_an_end_and_a_crash_notify(relay, push: PushService) -> None:
    phone = push.device("phone")
    async with aclient(relay) as agent:
        await subscribe(agent, phone)
        calm = await new_session(agent, title="calm")
        crashy = await new_session(agent, title="crashy")
        result = {"role": "agent", "kind": "result", "content": {"text": MARKER}}
        await agent.post(f"/api/v1/sessions/{calm['id']}/messages", json=result)
        await agent.post(f"/api/v1/sessions/{calm['id']}/end", json={})
        error = message("claude exited with code 1", kind="error")
        await agent.post(f"/api/v1/sessions/{crashy['id']}/messages", json=error)
        await agent.post(f"/api/v1/sessions/{crashy['id']}/end", json={"reason": "crashed"})
        turn, ended, crashed = [phone.decrypt(d) for d in await wait_for(push, phone, 3)]
    assert turn["type"] == "turn" and turn["session_title"] == "calm"
    assert MARKER not in str(turn)
    assert ended["type"] == "ended" and ended["crashed"] is False
    assert ended["session_id"] == calm["id"]
    assert crashed["type"] == "ended" and crashed["crashed"] is True
    assert crashed["session_title"] == "crashy"


async def test_each_device_chooses_its_events_and_quiet_mode(relay, push: PushService) -> None:
    token = make_token(relay, "client", "phone")
    phone, laptop = push.device("phone"), push.device("laptop")
    async with aclient(relay) as agent, aclient(relay, token) as http:
        phone_sub = await subscribe(http, phone, events=["ended", "ended"], quiet=True)
        assert phone_sub["events"] == ["ended"] and phone_sub["quiet"] is True
        await subscribe(http, laptop)
        session = await new_session(agent)
        await agent.post(f"/api/v1/sessions/{session['id']}/permissions", json=permission())
        await agent.post(f"/api/v1/sessions/{session['id']}/end", json={})
        # The laptop got all three (request, its cancellation, the end), in order; by then
        # the phone's sender had passed the request and the cancellation without a push.
        await wait_for(push, laptop, 3)
        [only] = await wait_for(push, phone)
        assert phone.decrypt(only)["type"] == "ended"
        assert phone.decrypt(only)["silent"] is True

        changed = await http.patch(
            f"/api/v1/push/subscriptions/{phone_sub['id']}",
            json={"events": ["permission"], "quiet": False},
        )
        assert changed.json()["events"] == ["permission"] and changed.json()["quiet"] is False
        listed = (await http.get("/api/v1/push/subscriptions")).json()["subscriptions"]
        assert {s["endpoint"] for s in listed} == {phone.endpoint, laptop.endpoint}
        other = await new_session(agent)
        await agent.post(f"/api/v1/sessions/{other['id']}/permissions", json=permission())
        [_, second] = await wait_for(push, phone, 2)
        assert phone.decrypt(second)["type"] == "permission"
        assert phone.decrypt(second)["silent"] is False


async def test_a_hanging_push_service_never_holds_up_the_relay(relay, push: PushService) -> None:
    phone = push.device("phone")
    push.held.clear()  # the push service takes requests and does not answer them
    try:
        async with aclient(relay) as agent:
            await subscribe(agent, phone)
            session = await new_session(agent)
            first = await agent.post(
                f"/api/v1/sessions/{session['id']}/permissions", json=permission()
            )
            await wait_for(push, phone)  # the sender is stuck on this one
            # Writes and reads go on while it is.
            second = await agent.post(
                f"/api/v1/sessions/{session['id']}/permissions", json=permission()
            )
            assert first.status_code == second.status_code == 201
            listed = await agent.get("/api/v1/permissions?status=pending")
            assert len(listed.json()["permissions"]) == 2
            push.held.set()
            # Once the service answers, the queued notice goes out too.
            [_, later] = await wait_for(push, phone, 2)
            assert phone.decrypt(later)["request_id"] == second.json()["id"]
    finally:
        push.held.set()


async def test_a_dead_subscription_is_removed(relay, push: PushService) -> None:
    phone = push.device("gone-phone")
    push.gone.add("/push/gone-phone")
    async with aclient(relay) as agent:
        await subscribe(agent, phone)
        session = await new_session(agent)
        await agent.post(f"/api/v1/sessions/{session['id']}/permissions", json=permission())
        await wait_for(push, phone)
        deadline = time.monotonic() + 10
        while (await agent.get("/api/v1/push/subscriptions")).json()["subscriptions"]:
            assert time.monotonic() < deadline, "the dead subscription was kept"
            await asyncio.sleep(0.05)


async def test_a_viewer_gets_no_actions_and_a_revoked_token_gets_nothing(
    relay, push: PushService
) -> None:
    viewer, revoked = make_token(relay, "viewer", "tv"), make_token(relay, "client", "lost")
    tv, lost = push.device("tv"), push.device("lost")
    async with aclient(relay) as admin:
        async with aclient(relay, viewer) as http:
            await subscribe(http, tv)
        async with aclient(relay, revoked) as http:
            await subscribe(http, lost)
        await admin.post(f"/api/v1/tokens/{revoked.split('_')[1]}/revoke")
        session = await new_session(admin)
        await admin.post(f"/api/v1/sessions/{session['id']}/permissions", json=permission())
        [delivery] = await wait_for(push, tv)
    assert tv.decrypt(delivery)["can_answer"] is False
    assert push.to(lost) == []  # sent in one go with the viewer's, had it been sent


async def test_a_changed_tether_token_stops_the_old_ones_subscriptions(
    relay, push: PushService
) -> None:
    before, after = push.device("before"), push.device("after")
    async with aclient(relay) as admin:
        await subscribe(admin, before)
        me = (await admin.get("/api/v1/me")).json()
    assert me["token_id"].startswith("env-") and relay.token not in me["token_id"]
    relay.stop()
    relay.token = "test-admin-changed-" + relay.token[-8:]
    relay.start()
    async with aclient(relay) as admin:
        await subscribe(admin, after)
        session = await new_session(admin)
        await admin.post(f"/api/v1/sessions/{session['id']}/permissions", json=permission())
        [delivery] = await wait_for(push, after)
    assert after.decrypt(delivery)["type"] == "permission"
    assert push.to(before) == []  # sent in one go with the new token's, had it been sent


async def test_an_agent_tokens_device_hears_of_its_own_sessions_only(
    relay, push: PushService
) -> None:
    runner, laptop = token_and_device(relay, push, "agent", "laptop")
    async with aclient(relay) as admin, aclient(relay, runner) as agent:
        await subscribe(agent, laptop)
        other = await new_session(admin, title="someone else's")
        await admin.post(f"/api/v1/sessions/{other['id']}/end", json={})
        mine = await new_session(agent, title="mine")
        await agent.post(f"/api/v1/sessions/{mine['id']}/end", json={})
        [only] = await wait_for(push, laptop)
    # One sender delivers in order: the other session's end came first and was skipped.
    assert laptop.decrypt(only)["session_title"] == "mine"


async def test_subscriptions_are_checked(relay, push: PushService) -> None:
    phone = push.device("phone")
    async with aclient(relay) as http:
        elsewhere = Device("https://evil.example/push/x").subscription()
        error = assert_error(
            await http.post("/api/v1/push/subscribe", json=elsewhere), 422, "validation_error"
        )
        assert error["message"].startswith("endpoint:")
        bad_keys = phone.subscription()
        bad_keys["keys"]["p256dh"] = "AAAA"
        assert_error(await http.post("/api/v1/push/subscribe", json=bad_keys), 422)
        bad_event = phone.subscription(events=["everything"])
        assert_error(await http.post("/api/v1/push/subscribe", json=bad_event), 422)
        assert_error(
            await http.patch("/api/v1/push/subscriptions/push_nope", json={"quiet": True}), 404
        )
        await subscribe(http, phone)
        gone = await http.post("/api/v1/push/unsubscribe", json={"endpoint": phone.endpoint})
        assert gone.json() == {"removed": True}
        assert (await http.get("/api/v1/push/subscriptions")).json()["subscriptions"] == []
    async with aclient(relay, "nope") as anonymous:
        assert_error(await anonymous.get("/api/v1/push/key"), 401)


def test_the_vapid_key_is_made_once_and_kept_private(relay) -> None:
    path = relay.data_dir / "vapid-private.pem"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with relay.client() as http:
        before = http.get("/api/v1/push/key").json()["public_key"]
    relay.restart()
    with relay.client() as http:
        assert http.get("/api/v1/push/key").json()["public_key"] == before


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_relays_sharing_a_database_send_each_notification_once(
    server_factory, push: PushService, tmp_path: Path
) -> None:
    # Servers are made outside the event loop (the factory creates a database with asyncio.run);
    # they share the data dir, and so the VAPID key, as documented.
    data_dir = push.relay_dir(tmp_path)
    first = server_factory(data_dir=data_dir)
    second = server_factory(data_dir=data_dir, token=first.token)
    phone = push.device("phone")

    async def write() -> None:
        async with aclient(first) as a, aclient(second) as b:
            await subscribe(a, phone)
            for writer in (a, b, a, b):
                session = await new_session(writer)
                await writer.post(f"/api/v1/sessions/{session['id']}/end", json={})
            await wait_for(push, phone, 4)

    asyncio.run(write())
    # Both relays saw all four ends; once both are stopped, nothing more can arrive.
    first.stop()
    second.stop()
    ended = [phone.decrypt(d)["session_id"] for d in push.to(phone)]
    assert len(ended) == len(set(ended)) == 4


def test_the_endpoint_allow_list_reads_the_url_as_strictly_as_its_sender() -> None:
    from tether.config import DEFAULT_PUSH_SERVICES
    from tether.relay.webpush import allowed_endpoint

    services = list(DEFAULT_PUSH_SERVICES)
    for good in (
        "https://fcm.googleapis.com/fcm/send/abc",
        "https://WEB.push.apple.com/QAbc",
        "https://updates.push.services.mozilla.com/wpush/v2/x",
        "https://wns2-by3p.notify.windows.com/w/?token=x",
    ):
        assert allowed_endpoint(good, services), good
    for bad in (
        "https://evil.example/x",
        "https://fcm.googleapis.com@evil.example/x",  # userinfo
        "https://:@evil.example/x",
        "https://web.push.apple.com:8443/x",  # another port
        "https://web.push.apple.com./x",
        "http://fcm.googleapis.com/x",  # another scheme
        # Whatever follows the host's last colon is not a port: the suffix test on the
        # whole netloc let these in, and only the sender's own parser refused them.
        "https://evil.example:1.notify.windows.com/x",
        "https://[::1]:1.notify.windows.com/x",
        "https://[::1].notify.windows.com/x",
        "https://evil.example%2f.notify.windows.com/x",
        "https://127.0.0.1 .notify.windows.com/x",
        "https://evil.example\t.notify.windows.com/x",
        "https://notify.windows.com/x",  # `*.` means a subdomain
        "https://evil.example\uff0f.notify.windows.com/x",  # NFKC makes it a `/`: no 500
    ):
        assert not allowed_endpoint(bad, services), bad


def test_a_payload_too_long_shortens_its_title_first_and_stays_json() -> None:
    notice = Notice(
        "permission",
        {"type": "permission", "tag": "tether-perm-p1", "request_id": "p1", "session_id": "s1"},
        ttl=60,
    )
    device = {"quiet": 0, "scope": "client"}
    # Within the limit, nothing changes; control characters take six bytes each as JSON.
    title = "\x01é" * 60
    whole = orjson.loads(
        payload_for(replace(notice, payload={**notice.payload}), device, SessionFacts(title), None)
    )
    assert whole["session_title"] == title
    long_tool = {**notice.payload, "tool_name": "mcp__" + "\x02" * 3000}
    data = payload_for(replace(notice, payload=long_tool), device, SessionFacts(title), None)
    assert len(data) <= MAX_PAYLOAD
    body = orjson.loads(data)  # whole JSON, not bytes cut off mid-string
    assert body["session_title"] == "" and body["tool_name"].startswith("mcp__\x02")
    assert body["tool_name"].endswith("…") and body["request_id"] == "p1"
    # A title alone too long for the limit is cut, the tool name kept.
    body = orjson.loads(
        fit({**notice.payload, "tool_name": "Bash", "session_title": "t" * 900}, 600)
    )
    assert body["tool_name"] == "Bash" and body["session_title"].endswith("…")
    assert len(orjson.dumps(body)) <= 600


async def test_an_encrypted_sessions_title_travels_sealed_to_its_paired_device(
    relay, push: PushService
) -> None:
    async with aclient(relay) as admin:
        phone, phone_token, phone_key = await pair(relay, admin, "phone")
        laptop_token, laptop = token_and_device(relay, push, "client", "laptop")  # not paired
        phone_push = push.device("phone")
        async with aclient(relay, phone_token) as http:
            await subscribe(http, phone_push)
        async with aclient(relay, laptop_token) as http:
            await subscribe(http, laptop)
        session, cipher = await encrypted_session(admin, phone, f"{MARKER} title")
        sid = session["id"]
        body = cipher.seal_permission(permission(command=f"echo {MARKER}"))
        assert (await admin.post(f"/api/v1/sessions/{sid}/permissions", json=body)).is_success

        [delivery] = await wait_for(push, phone_push)
        payload = phone_push.decrypt(delivery)
        assert MARKER not in orjson.dumps(payload).decode()
        assert payload["encrypted"] is True and payload["session_title"] == ""
        assert payload["tool_name"] == "Bash"
        # What the service worker does with it: the device's key opens the title.
        recipient = device_recipient(phone["id"])
        key = crypto.unwrap(payload["e2e"]["key"], phone_key, ["wrap", sid, recipient])
        assert key == cipher.key
        assert crypto.open_box(key, payload["e2e"]["meta"], ["meta", sid])["title"] == (
            f"{MARKER} title"
        )
        # A device without a key for the session gets no key material, and no title.
        [other] = await wait_for(push, laptop)
        unpaired = laptop.decrypt(other)
        assert "e2e" not in unpaired and unpaired["session_title"] == ""
        assert unpaired["encrypted"] is True and MARKER not in orjson.dumps(unpaired).decode()


def test_a_payload_too_big_for_its_sealed_title_leaves_it_out_whole() -> None:
    sid = "ses_0123456789abcdef"
    event = WireEvent(
        7,
        "permission_request",
        sid,
        {"id": "perm_1", "status": "pending", "tool_name": "Bash"},
    )
    notice = notice_for(event, set(), time.time())
    assert notice is not None
    subscription = {"quiet": False, "scope": "client"}
    key = crypto.new_session_key()
    device = crypto.generate_private_key()
    wrapped = crypto.wrap(key, crypto.public_key_b64(device), ["wrap", sid, "device:d1"])

    def facts(cwd: str) -> SessionFacts:
        meta = crypto.seal(key, {"title": "t", "cwd": cwd}, ["meta", sid])
        return SessionFacts(None, None, meta, {"device:d1": wrapped})

    small = orjson.loads(payload_for(notice, subscription, facts("/src"), "d1"))
    assert small["e2e"]["key"] == wrapped
    data = payload_for(notice, subscription, facts("/" + "d" * 4000), "d1")
    assert len(data) <= MAX_PAYLOAD
    big = orjson.loads(data)  # whole JSON, not cut mid-way
    assert "e2e" not in big and big["tool_name"] == "Bash" and big["encrypted"] is True
