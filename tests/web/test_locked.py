"""A browser signed in with a plain token link holds no device key: an encrypted session
(what every `tether run` on a new install makes) shows in the list and in its view as
clearly locked, with what opens it, and never as garbage, ciphertext or an error. A
plaintext session next to it reads as before."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.web.agent import ThreadedClient
from tests.web.conftest import WebRelay
from tests.web.test_encrypted import off_loop
from tether.client import RelayClient
from tether.e2e.keys import HostKeys
from tether.e2e.sessions import SessionCipher
from tether.runner import encryption

pytestmark = [pytest.mark.browser, pytest.mark.slow]
expect.set_options(timeout=20000)
MARKER = "MARKER-10c4"
NO_KEY = "This browser holds no key for this session — pair it with tether pair."


async def encrypted_session(relay: WebRelay, host: Path) -> tuple[dict[str, Any], SessionCipher]:
    """A session as an encrypting runner leaves it: sealed title, reply, tool call and an
    open permission request."""
    async with RelayClient(relay.url, relay.server.token) as client:
        session, cipher = await encryption.create_session(
            client, HostKeys(host), title=f"{MARKER} title", cwd=f"/srv/{MARKER}", status="idle"
        )
        sealed = [
            cipher.seal_message(m)
            for m in (
                {
                    "id": "m1",
                    "role": "agent",
                    "kind": "assistant_text",
                    "content": {"text": f"found {MARKER}"},
                },
                {
                    "id": "m2",
                    "role": "agent",
                    "kind": "tool_call",
                    "content": {"call_id": "c1", "name": "Bash", "input": {"command": MARKER}},
                },
            )
        ]
        await client.post_messages(session["id"], sealed)
        body = {"tool_name": "Bash", "tool_use_id": "tu1", "input": {"command": f"rm {MARKER}"}}
        request = await client.open_permission(session["id"], **cipher.seal_permission(body))
        return {**session, "request": request}, cipher


async def say(relay: WebRelay, cipher: SessionCipher, message_id: str, text: str) -> None:
    async with RelayClient(relay.url, relay.server.token) as client:
        body = {"id": message_id, "role": "agent", "kind": "assistant_text"}
        sealed = cipher.seal_message({**body, "content": {"text": text}})
        await client.post_messages(cipher.session_id, [sealed])


def test_a_token_link_browser_sees_encrypted_sessions_as_locked(
    page: Page, relay: WebRelay, tmp_path: Path
) -> None:
    plain = relay.agent.create_session("A plain session")
    relay.agent.say(plain["id"], "readable as ever")
    session, cipher = off_loop(encrypted_session(relay, tmp_path / "host"))
    sid = session["id"]

    # The list: the row says it is locked and what opens it; the plain one is as before.
    row = page.locator(f'.session-row[data-id="{sid}"]')
    expect(row).to_contain_text("Encrypted session")
    expect(row.locator(".badge.locked")).to_contain_text("locked")
    expect(row.locator(".row-locked")).to_have_text(NO_KEY)
    expect(row.locator(".row-locked code")).to_have_text("tether pair")
    expect(page.locator(f'.session-row[data-id="{plain["id"]}"]')).to_contain_text(
        "A plain session"
    )
    expect(page.locator(f'.session-row[data-id="{plain["id"]}"] .badge.locked')).to_have_count(0)
    assert MARKER not in page.locator("body").inner_text()

    # The session: one banner, one line for the run of sealed messages, no prompt box,
    # and a request that can only be denied.
    row.click()
    page.wait_for_selector(f"html[data-session-ready='{sid}']")
    expect(page.locator("#s-locked")).to_have_text(NO_KEY)
    expect(page.locator("#s-title")).to_have_text("Encrypted session")
    notes = page.locator("#msgs .msg.locked")
    expect(notes).to_have_count(2)
    expect(page.locator("#msgs .msg.locked:visible")).to_have_count(1)
    expect(page.locator("#msgs .msg.locked").first).to_contain_text("no key in this browser")
    expect(page.locator("#msgs .tampered, #msgs .raw-msg, #msgs .tool")).to_have_count(0)
    expect(page.locator("#prompt")).to_have_count(0)
    expect(page.locator("#composer")).to_contain_text("cannot read or write its messages")
    expect(page.locator("#interrupt")).to_be_visible()
    card = page.locator(".perm")
    expect(card).to_contain_text("Encrypted request")
    expect(card.locator(".perm-desc.locked")).to_have_text(NO_KEY)
    expect(card.get_by_role("button", name="Allow", exact=True)).to_have_count(0)

    # What arrives live is locked too, not an error.
    off_loop(say(relay, cipher, "m3", f"later {MARKER}"))
    expect(notes).to_have_count(3)
    expect(page.locator("#msgs .msg.locked:visible")).to_have_count(1)
    assert MARKER not in page.locator("body").inner_text()

    # Deny needs no key (nothing is allowed that nobody here could read).
    card.get_by_role("button", name="Deny").click()
    expect(card).to_have_count(0)
    with ThreadedClient(relay.url, relay.server.token) as admin:
        assert admin.get_permission(session["request"]["id"])["status"] == "denied"

    # The plain session reads in the clear, with its prompt box.
    page.goto(f"{relay.url}/#/session/{plain['id']}")
    page.wait_for_selector(f"html[data-session-ready='{plain['id']}']")
    expect(page.locator("#msgs")).to_contain_text("readable as ever")
    expect(page.locator("#s-locked")).to_be_hidden()
    expect(page.locator("#prompt")).to_be_visible()
