"""A device shares an older encrypted session with a device paired after it, in Chromium:
two browsers paired with the real `tether pair`, a session the host encrypted between the
two pairings, the person comparing the later device's code on both screens, and the later
device then reading the session (title and transcript)."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.web.conftest import WebRelay
from tests.web.test_encrypted import off_loop
from tests.web.test_pairing import host_env, start_pair  # noqa: F401 (a fixture)
from tether.client import RelayClient
from tether.e2e import crypto
from tether.e2e.keys import HostKeys
from tether.runner import encryption

pytestmark = [pytest.mark.browser, pytest.mark.slow]
expect.set_options(timeout=20000)
MARKER = "MARKER-9d1f"


@pytest.fixture
def paired(browser, host_env: dict[str, str]) -> Iterator:  # noqa: F811
    """Pair a new browser (its own context: its own IndexedDB) under a name."""
    contexts, errors = [], []

    def pair(name: str) -> Page:
        context = browser.new_context(viewport={"width": 390, "height": 800})
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(f"{name}: {exc}"))
        live, link = start_pair(host_env, "--name", name)
        try:
            page.goto(link)
            expect(page.locator("#whoami")).to_contain_text(f"{name} (client)")
            assert live.wait() == 0
        finally:
            live.stop()
        return page

    yield pair
    for context in contexts:
        context.close()
    assert not errors, errors


async def older_session(relay: WebRelay, keys: HostKeys) -> str:
    """What a runner on the host makes: an encrypted session with one reply in it."""
    async with RelayClient(relay.url, relay.server.token) as client:
        session, cipher = await encryption.create_session(
            client, keys, title=f"{MARKER} older", cwd="/"
        )
        reply = {"role": "agent", "kind": "assistant_text", "content": {"text": f"{MARKER} said"}}
        await client.post_messages(session["id"], [cipher.seal_message(reply)])
    return session["id"]


def listed_key(relay: WebRelay, device_id: str, public_key: str) -> None:
    """Edit the relay's database: the public key it lists for a device."""
    with sqlite3.connect(relay.server.data_dir / "tether.db", timeout=10) as db:
        db.execute("UPDATE devices SET public_key = ? WHERE id = ?", (public_key, device_id))


def spaced(fingerprint: str) -> str:
    return " ".join(fingerprint[i : i + 4] for i in range(0, 16, 4))


def device_id(page: Page) -> str:
    return page.evaluate("import('/js/e2e.js').then(m => m.loadDeviceKey()).then(d => d.id)")


def test_a_device_shares_an_older_session_with_a_later_one(
    relay: WebRelay,
    host_env: dict[str, str],  # noqa: F811
    paired,
) -> None:
    keys = HostKeys(Path(host_env["TETHER_DATA_DIR"]))
    phone = paired("phone")
    sid = off_loop(older_session(relay, keys))
    expect(phone.locator(f".session-row[data-id='{sid}']")).to_contain_text(f"{MARKER} older")

    tablet = paired("tablet")
    row = tablet.locator(f".session-row[data-id='{sid}']")
    expect(row).to_contain_text("This device holds no key for this session")
    tablet.click("#devices-button")
    code = tablet.locator("#my-code")
    expect(code).to_have_text(re.compile(r"^[0-9a-f]{4}( [0-9a-f]{4}){3}$"))

    # The same code as the key column of `tether devices` (crypto.key_fingerprint).
    public = tablet.evaluate(
        "import('/js/e2e.js').then(m => m.loadDeviceKey()).then(d => d.publicKey)"
    )
    assert code.inner_text().replace(" ", "") == crypto.key_fingerprint(public)

    # A relay that lists a key of its own under the tablet's name: the phone shows
    # another code than the tablet's own screen, and the person cancels.
    tablet_id = device_id(tablet)
    relays_key = crypto.public_key_b64(crypto.generate_private_key())
    listed_key(relay, tablet_id, relays_key)
    phone.click("#devices-button")
    phone.click(f"[data-share='{tablet_id}']")
    swapped = phone.locator(f"[data-code-for='{tablet_id}']")
    expect(swapped).to_have_text(spaced(crypto.key_fingerprint(relays_key)))
    assert swapped.inner_text() != code.inner_text()
    phone.click("[data-cancel]")
    phone.click("[data-devices=close]")
    listed_key(relay, tablet_id, public)

    # On the phone: Share, compare the code with the tablet's screen, confirm.
    phone.click("#devices-button")
    phone.click(f"[data-share='{tablet_id}']")
    expect(phone.locator(f"[data-code-for='{tablet_id}']")).to_have_text(code.inner_text())
    phone.click(f"[data-confirm='{tablet_id}']")
    expect(phone.locator(".devices-message")).to_have_text("Shared 1 session with tablet.")

    # The tablet hears of the new key set at once, and opens the session.
    expect(row).to_contain_text(f"{MARKER} older")
    tablet.click("[data-devices=close]")
    row.click()
    expect(tablet.locator("#msgs")).to_contain_text(f"{MARKER} said")

    # Again: nothing more to share, and the tablet's entry was not replaced.
    phone.click(f"[data-share='{tablet_id}']")
    phone.click(f"[data-confirm='{tablet_id}']")
    expect(phone.locator(".devices-message")).to_contain_text(
        "Shared 0 sessions with tablet; 1 it could already open"
    )
