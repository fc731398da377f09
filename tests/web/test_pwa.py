"""The web UI as an installable app: manifest, icons and service worker as served; in
Chromium, the worker registers, the cached shell says it is offline and reconnects, and a
push the relay sent (decrypted from a local push service with the device's keys) shows a
notification whose Allow answers the request through the worker.

What headless Chromium cannot do here, and so is not exercised: a real
`pushManager.subscribe()` (it registers with Google's push service, which is out of reach
offline) and a tap on the system notification's button. The push reaches the worker as a
real push event through DevTools' `ServiceWorker.deliverPushMessage` (the payload is the
one the relay encrypted, decrypted by the test per RFC 8291), and the tap is a
`notificationclick` event dispatched in the worker for the notification it showed.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import struct
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.support.push_service import Device, PushService
from tests.support.server import TetherServer
from tests.web.agent import TestAgent
from tests.web.conftest import make_token
from tether.e2e import crypto
from tether.e2e.keys import device_recipient
from tether.e2e.sessions import SessionCipher
from tether.relay.webpush import b64url_decode

STATIC = Path(__file__).resolve().parents[2] / "src/tether/web/static"
expect.set_options(timeout=20000)


# ── as served (no browser) ───────────────────────────────────────────────────────────


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TetherServer]:
    server = TetherServer(data_dir=tmp_path_factory.mktemp("pwa")).start()
    yield server
    server.stop()


def test_the_manifest_and_its_icons(served: TetherServer) -> None:
    page = httpx.get(served.url + "/").text
    assert '<link rel="manifest" href="manifest.webmanifest">' in page
    response = httpx.get(served.url + "/manifest.webmanifest")
    assert response.headers["content-type"].startswith("application/manifest+json")
    manifest = response.json()
    assert manifest["display"] == "standalone" and manifest["start_url"] == "./"
    sizes = set()
    for icon in manifest["icons"]:
        got = httpx.get(f"{served.url}/{icon['src']}")
        assert got.status_code == 200, icon
        if icon["type"] == "image/png":
            width, height = struct.unpack(">II", got.content[16:24])  # the PNG's IHDR
            assert f"{width}x{height}" == icon["sizes"]
            sizes.add((width, icon["purpose"]))
    assert {(192, "any"), (512, "any"), (512, "maskable")} <= sizes


def test_the_worker_is_served_at_the_root_and_caches_every_shell_file(
    served: TetherServer,
) -> None:
    response = httpx.get(served.url + "/sw.js")
    assert "javascript" in response.headers["content-type"]
    assert "script-src 'self'" in response.headers["content-security-policy"]
    listed = re.search(r"const SHELL = \[(.*?)\];", response.text, re.S)
    assert listed is not None
    shell = set(json.loads("[" + listed.group(1).rstrip().rstrip(",") + "]"))
    files = {p.relative_to(STATIC).as_posix() for p in STATIC.rglob("*") if p.is_file()}
    assert shell == (files - {"sw.js"}) | {"./"}


# ── in Chromium ──────────────────────────────────────────────────────────────────────


@pytest.fixture
def app(tmp_path: Path, push: PushService) -> Iterator[tuple[TetherServer, str, TestAgent]]:
    server = TetherServer(data_dir=push.relay_dir(tmp_path)).start()
    agent = TestAgent(server.url, make_token(server, "agent", "test-agent"))
    try:
        yield server, make_token(server, "client", "phone"), agent
    finally:
        agent.close()
        server.stop()


@pytest.fixture
def context(browser, app) -> Iterator:
    server, _, _ = app
    context = browser.new_context(viewport={"width": 420, "height": 800})
    context.grant_permissions(["notifications"], origin=server.url)
    yield context
    context.close()


def signed_in(context, server: TetherServer, token: str) -> Page:
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.set_default_timeout(20000)
    page.goto(f"{server.url}/?token={token}")
    page.wait_for_selector(".list-view")
    # The worker controls the page once it has claimed it.
    # (polled in one evaluate: wait_for_function evaluates strings, which the CSP refuses)
    assert page.evaluate(
        """async () => {
            await navigator.serviceWorker.ready;
            for (let i = 0; i < 200 && !navigator.serviceWorker.controller; i++) {
                await new Promise((r) => setTimeout(r, 50));
            }
            return navigator.serviceWorker.controller !== null;
        }"""
    )
    assert not errors, errors
    return page


@pytest.mark.browser
@pytest.mark.slow
def test_the_worker_registers_and_the_offline_shell_reconnects(context, app) -> None:
    server, token, _ = app
    page = signed_in(context, server, token)
    assert page.evaluate("tetherTokenDB.get()") == token  # for the worker's Allow/Deny
    context.set_offline(True)
    page.reload()
    expect(page.locator(".offline")).to_contain_text("You are offline")
    context.set_offline(False)
    expect(page.locator(".list-view")).to_be_visible()
    page.click("#signout")
    expect(page.locator("#signin")).to_be_visible()
    assert page.evaluate("tetherTokenDB.get()") is None


SHOWN = """tag => self.registration.getNotifications({tag}).then(ns => ns.map(n => ({
    title: n.title, body: n.body, actions: n.actions.map(a => a.action)})))"""
WORKER_WAIT = """async ([tag, count]) => {
    for (let i = 0; i < 200; i++) {
        if ((await self.registration.getNotifications({tag})).length === count) return true;
        await new Promise(r => setTimeout(r, 50));
    }
    return false;
}"""


def shown_once(worker, tag: str) -> list[dict]:
    """The notifications the worker shows under `tag`, once there is one."""
    assert worker.evaluate(WORKER_WAIT, [tag, 1])
    return worker.evaluate(SHOWN, tag)


def allowed_from_notification(worker, deliver, payload: dict, title: str, agent) -> dict:
    """Push a permission request to the worker, check the notification it shows, tap its
    Allow (a `notificationclick` dispatched in the worker: headless Chromium has no system
    UI to tap) and return the request as answered."""
    deliver(payload)
    assert shown_once(worker, payload["tag"]) == [
        {
            "title": f"{title} needs you",
            "body": "Bash wants your permission",
            "actions": ["allow", "deny"],
        }
    ]
    worker.evaluate(
        """tag => self.registration.getNotifications({tag}).then(([n]) =>
            self.dispatchEvent(new NotificationEvent("notificationclick",
                {notification: n, action: "allow"})))""",
        payload["tag"],
    )
    return agent.decision(payload["request_id"])


def worker_push(context, page: Page, server: TetherServer):
    """The page's service worker, and a function that hands it a push as the push
    service would (DevTools' ServiceWorker.deliverPushMessage)."""
    cdp = context.new_cdp_session(page)
    registrations: list[str] = []
    cdp.on(
        "ServiceWorker.workerRegistrationUpdated",
        # Only this page's: the domain also reports other contexts' (earlier tests').
        lambda e: registrations.extend(
            r["registrationId"]
            for r in e["registrations"]
            if not r["isDeleted"] and r["scopeURL"] == f"{server.url}/"
        ),
    )
    cdp.send("ServiceWorker.enable")
    for _ in range(200):  # the registration is reported as an event
        if registrations:
            break
        page.wait_for_timeout(50)
    assert registrations, "no service worker registration was reported"

    def deliver(payload: dict) -> None:
        cdp.send(
            "ServiceWorker.deliverPushMessage",
            {"origin": server.url, "registrationId": registrations[0], "data": json.dumps(payload)},
        )

    [worker] = context.service_workers
    return worker, deliver


@pytest.mark.browser
@pytest.mark.slow
def test_a_pushed_request_shows_a_notification_whose_allow_answers_it(
    context, app, push: PushService
) -> None:
    server, token, agent = app
    page = signed_in(context, server, token)
    # This browser's subscription, as pushManager.subscribe() would have made it.
    device = push.device("chromium")
    with server.client(token) as http:
        assert http.post("/api/v1/push/subscribe", json=device.subscription()).status_code == 201

    worker, deliver = worker_push(context, page, server)
    session = agent.create_session("Fix the login test")
    request = agent.ask(session["id"], "Bash", {"command": "ls"})
    [delivery] = push.wait_for(device)
    payload = device.decrypt(delivery)
    assert payload["request_id"] == request["id"]
    # Shown with Allow; a tap on it: the worker answers with the token it keeps in IndexedDB.
    answered = allowed_from_notification(worker, deliver, payload, "Fix the login test", agent)
    assert answered["status"] == "allowed"
    assert answered["decision"]["decided_by"] == "phone"

    # The relay's `resolved` push closes it (here and on every other device).
    [_, resolved] = push.wait_for(device, 2)
    deliver(device.decrypt(resolved))
    assert worker.evaluate(WORKER_WAIT, [payload["tag"], 0])

    # Quiet mode: the next one (a finished turn) is shown without sound or vibration.
    with server.client(token) as http:
        [mine] = http.get("/api/v1/push/subscriptions").json()["subscriptions"]
        http.patch(f"/api/v1/push/subscriptions/{mine['id']}", json={"quiet": True})
    agent.post(session["id"], {"kind": "result", "content": {"text": "done"}})
    [*_, turn] = push.wait_for(device, 3)
    quiet = device.decrypt(turn)
    deliver(quiet)
    assert worker.evaluate(WORKER_WAIT, [quiet["tag"], 1])
    [shown_quietly] = worker.evaluate(
        "tag => self.registration.getNotifications({tag}).then(ns => ns.map(n => "
        "({body: n.body, silent: n.silent})))",
        quiet["tag"],
    )
    assert shown_quietly == {"body": "Finished its turn", "silent": True}


def stubbed_device(context, push: PushService, old_key: bytes | None = None) -> Device:
    """A device whose subscription the browser's PushManager hands out (a real subscribe()
    registers with Google's push service, out of reach here); with `old_key`, the browser
    starts subscribed for that VAPID key."""
    device = push.device("chromium")
    stub = """(() => {
        const json = JSON_HERE;
        const oldKey = OLD_KEY;
        let subscribed = oldKey !== null;
        const subscription = {
            endpoint: json.endpoint, toJSON: () => json,
            options: { applicationServerKey: oldKey && new Uint8Array(oldKey).buffer },
            unsubscribe: () => { subscribed = false; return Promise.resolve(true); },
        };
        PushManager.prototype.getSubscription = () =>
            Promise.resolve(subscribed ? subscription : null);
        PushManager.prototype.subscribe = (options) => {
            const key = new Uint8Array(options.applicationServerKey);
            window.__applicationServerKey = Array.from(key);
            subscription.options = { applicationServerKey: options.applicationServerKey };
            subscribed = true;
            return Promise.resolve(subscription);
        };
        })();"""
    stub = stub.replace("JSON_HERE", json.dumps(device.subscription()))
    context.add_init_script(stub.replace("OLD_KEY", json.dumps(old_key and list(old_key))))
    return device


@pytest.mark.browser
@pytest.mark.slow
def test_a_subscription_for_another_relay_key_is_renewed_at_sign_in(
    context, app, push: PushService
) -> None:
    device = stubbed_device(context, push, old_key=bytes([4] + [1] * 64))
    # A first visit on a slow machine: the worker's registration settles after the page
    # has signed in, and the subscription must still be found (through that registration).
    context.add_init_script("""(() => {
        const register = ServiceWorkerContainer.prototype.register;
        ServiceWorkerContainer.prototype.register = function (...args) {
            return new Promise((r) => setTimeout(r, 1500)).then(() => register.apply(this, args));
        };
        })();""")
    page = signed_in(context, *app[:2])
    expect(page.locator("#notify")).to_have_text("Notifications: on")
    server, token, _ = app
    with server.client(token) as http:
        key = http.get("/api/v1/push/key").json()["public_key"]
        [mine] = http.get("/api/v1/push/subscriptions").json()["subscriptions"]
    # subscribe() ran again, with the relay's key.
    assert bytes(page.evaluate("window.__applicationServerKey")) == b64url_decode(key)
    assert mine["endpoint"] == device.endpoint


@pytest.mark.browser
@pytest.mark.slow
def test_the_notifications_panel_turns_push_on_and_keeps_this_devices_settings(
    context, app, push: PushService
) -> None:
    device = stubbed_device(context, push)
    server, token, _ = app
    page = signed_in(context, server, token)

    def devices() -> list[dict]:
        with server.client(token) as http:
            return http.get("/api/v1/push/subscriptions").json()["subscriptions"]

    expect(page.locator("#notify")).to_have_text("Notifications")
    page.click("#notify")
    page.click("[data-push=on]")
    expect(page.locator("#notify")).to_have_text("Notifications: on")
    [subscribed] = devices()
    assert subscribed["endpoint"] == device.endpoint
    with server.client(token) as http:
        key = http.get("/api/v1/push/key").json()["public_key"]
    assert bytes(page.evaluate("window.__applicationServerKey")) == b64url_decode(key)

    page.uncheck("#notifications input[value=turn]")
    expect(page.locator(".push-message")).to_have_text("Saved.")
    page.check("#notifications input[name=quiet]")
    expect(page.locator("#notifications input[name=quiet]")).to_be_checked()
    expect(page.locator(".push-message")).to_have_text("Saved.")
    [saved] = devices()
    assert saved["events"] == ["permission", "ended"] and saved["quiet"] is True

    # Signed out, the device is unsubscribed (and its worker has no token).
    page.click("#signout")
    expect(page.locator("#signin")).to_be_visible()
    assert devices() == []


@pytest.mark.browser
@pytest.mark.slow
def test_an_encrypted_sessions_notification_shows_its_title_and_seals_its_allow(
    context, app, push: PushService
) -> None:
    server, token, agent = app
    page = signed_in(context, server, token)
    # This browser pairs, as a `tether pair` link makes it: its device key in IndexedDB.
    pairing_id, secret = secrets.token_hex(8), os.urandom(32)
    auth_key, _ = crypto.pairing_keys(secret, pairing_id)
    with server.client() as admin:
        link = {"id": pairing_id, "verifier": crypto.b64e(auth_key), "name": "pixel"}
        assert admin.post("/api/v1/pairings", json=link).status_code == 201
    paired = page.evaluate(
        "([id, secret]) => import('/js/e2e.js').then(m => m.pair(id, secret))",
        [pairing_id, crypto.b64e(secret)],
    )
    device = push.device("chromium")
    with server.client(paired["token"]) as http:
        assert http.post("/api/v1/push/subscribe", json=device.subscription()).status_code == 201
    worker, deliver = worker_push(context, page, server)

    # A session encrypted to this device, as a runner makes it, and a request in it.
    sid = f"ses_{secrets.token_hex(8)}"
    recipients = {device_recipient(pairing_id): paired["device"]["public_key"]}
    cipher, e2e = SessionCipher.create(sid, recipients, {"title": "Refactor the vault", "cwd": "/"})
    agent.create_session("(encrypted)", id=sid, metadata={"e2e": e2e})
    body = {"tool_name": "Bash", "tool_use_id": "toolu_e2e", "input": {"command": "ls"}}
    request = agent.relay.open_permission(sid, **cipher.seal_permission(body))

    [delivery] = push.wait_for(device)
    payload = device.decrypt(delivery)
    assert payload["request_id"] == request["id"] and "e2e" in payload
    assert "Refactor the vault" not in json.dumps(payload)
    # Shown with its real title; Allow is sealed to this request, so the runner takes it.
    answered = allowed_from_notification(worker, deliver, payload, "Refactor the vault", agent)
    assert answered["status"] == "allowed"
    assert crypto.is_box(answered["decision"]["updated_input"])
    opened = cipher.open_answer(request["id"], answered["decision"])
    assert opened["behavior"] == "allow" and not opened.get("tampered")

    # Without the key to open it (another device's wrapped key), the tool name only, and
    # no Allow: an unsealed allow would be a deny.
    other = crypto.wrap(cipher.key, crypto.public_key_b64(crypto.generate_private_key()), ["x"])
    locked = {**payload, "tag": "tether-perm-locked", "e2e": {**payload["e2e"], "key": other}}
    deliver(locked)
    assert shown_once(worker, locked["tag"]) == [
        {"title": "A session needs you", "body": "Bash wants your permission", "actions": []}
    ]
