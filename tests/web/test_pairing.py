"""Pairing a browser with `tether pair`, end to end: the real command prints a QR code
and a link, Chromium opens the link, and the device ends up with its own token and key,
sees sessions, and is cut off by `tether devices revoke`."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.cli.support import Live, cli_env, tether
from tests.web.conftest import WebRelay
from tether.e2e.keys import HostKeys

pytestmark = [pytest.mark.browser, pytest.mark.slow]
expect.set_options(timeout=20000)
LINK = re.compile(r"^(http://\S+/#pair=[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)$", re.M)


@pytest.fixture
def host_env(relay: WebRelay, tmp_path: Path) -> dict[str, str]:
    """The shell of the person at the host: the admin token, a data dir for host keys."""
    (tmp_path / "host").mkdir()
    (tmp_path / "host" / "config.yaml").write_text("{}\n")
    return cli_env(relay.url, relay.server.token, tmp_path / "host")


@pytest.fixture
def fresh_page(browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 390, "height": 800})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.set_default_timeout(20000)
    yield page
    context.close()
    assert not errors, errors


def start_pair(env: dict[str, str], *args: str) -> tuple[Live, str]:
    live = Live(env, "pair", *args)
    live.wait_for("#pair=")
    link = LINK.search(live.text)
    assert link, live.text
    # The QR code is above the link: block characters, several rows.
    assert sum(1 for line in live.lines if "█" in line or "▀" in line) > 10
    return live, link.group(1)


def test_a_paired_phone_sees_sessions_and_revoking_it_cuts_it_off(
    relay: WebRelay, host_env: dict[str, str], fresh_page: Page
) -> None:
    session = relay.agent.create_session("Ship the pairing")
    live, link = start_pair(host_env, "--name", "pixel")
    page = fresh_page
    try:
        page.goto(link)
        # Paired and signed in with its own client token; the secret left the address bar.
        expect(page.locator(f".session-row[data-id='{session['id']}']")).to_be_visible()
        assert "pair=" not in page.url
        expect(page.locator("#whoami")).to_contain_text("pixel (client)")
        assert live.wait() == 0
        assert "paired pixel (client)" in live.text
    finally:
        live.stop()
    token = page.evaluate("localStorage.getItem('tether.token')")
    assert token.startswith("tth_")
    device = page.evaluate("import('/js/e2e.js').then(m => m.loadDeviceKey())")
    assert device["id"] and len(device["publicKey"]) == 43
    # The service worker's copy of the token sits in the same IndexedDB database as the
    # key (the lock screen answers with it): pairing made the database, so both stores.
    page.wait_for_function("t => self.tetherTokenDB.get().then(v => v === t)", arg=token)

    listed = tether(host_env, "devices")
    assert listed.returncode == 0, listed.stderr
    assert "pixel" in listed.stdout and "client" in listed.stdout
    # The host can vouch for the key the relay lists: it came through its own link.
    devices = httpx.get(f"{relay.url}/api/v1/devices", headers=relay.server.headers).json()[
        "devices"
    ]
    keys = HostKeys(Path(host_env["TETHER_DATA_DIR"]))
    assert [d["public_key"] for d in keys.trusted_devices(devices)] == [device["publicKey"]]

    revoked = tether(host_env, "devices", "revoke", "pixel")
    assert revoked.returncode == 0, revoked.stderr
    expect(page.locator("#signin")).to_be_visible()  # its stream ended: signed out
    me = httpx.get(f"{relay.url}/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 401
    assert "pixel" not in tether(host_env, "devices").stdout


def test_a_used_link_is_refused(
    relay: WebRelay, host_env: dict[str, str], browser, fresh_page: Page
) -> None:
    live, link = start_pair(host_env, "--viewer", "--name", "tablet")
    try:
        fresh_page.goto(link)
        expect(fresh_page.locator("#whoami")).to_contain_text("tablet (viewer)")
        live.wait()
    finally:
        live.stop()
    other = browser.new_context().new_page()
    other.goto(link)
    expect(other.locator(".signin-error")).to_contain_text("already used")
    assert other.evaluate("localStorage.getItem('tether.token')") is None
    other.context.close()


def test_an_expired_link_is_refused(
    relay: WebRelay, host_env: dict[str, str], fresh_page: Page
) -> None:
    live, link = start_pair(host_env, "--expires", "1s", "--no-wait")
    live.wait()
    # Expired by the relay's clock; no sleeping on ours beyond the second itself.
    pairing_id = link.split("#pair=")[1].split(".")[0]
    url = f"{relay.url}/api/v1/pairings/{pairing_id}/challenge"
    with httpx.Client() as http:
        for _ in range(100):
            if http.post(url).status_code == 410:
                break
            import time

            time.sleep(0.05)
    fresh_page.goto(link)
    expect(fresh_page.locator(".signin-error")).to_contain_text("expired")
