"""How a turn's end reads in the transcript: its duration without the time it waited for
a person, an interrupt as a note naming who sent it (not as the person's chat bubble), and
a tool stopped by the interrupt as interrupted, not "The user doesn't want to proceed"."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.web.conftest import WebRelay
from tests.web.test_accessibility import AXE, SERIOUS, violations

pytestmark = [pytest.mark.browser, pytest.mark.slow]
expect.set_options(timeout=20000)

CLAUDES_WORDS = (
    "The user doesn't want to proceed with this tool use. The tool use was rejected (eg. if "
    "it was a file edit, the new_string was NOT written to the file). STOP what you are doing "
    "and wait for the user to tell you how to proceed."
)


def test_a_turn_says_how_long_it_worked_and_how_long_it_waited(page: Page, relay: WebRelay) -> None:
    agent = relay.agent
    session = agent.create_session("Timed")
    agent.post(
        session["id"],
        {
            "kind": "result",
            "content": {"subtype": "success", "duration_ms": 52_400, "waiting_ms": 40_100},
        },
    )
    page.goto(f"{relay.url}/#/session/{session['id']}")
    expect(page.locator(".msg.note")).to_contain_text(
        "Turn finished · took 12 s (+40 s waiting for you)"
    )


def test_an_interrupt_is_a_note_and_the_stopped_tool_reads_interrupted(
    page: Page, relay: WebRelay
) -> None:
    agent = relay.agent
    session = agent.create_session("Stopped")
    call = agent.tool(session["id"], "Bash", {"command": "make test"})
    agent.post(
        session["id"],
        {
            "kind": "tool_result",
            "content": {
                "call_id": call,
                "output": CLAUDES_WORDS,
                "is_error": True,
                "interrupted": True,
            },
        },
        {
            "kind": "user_text",
            "content": {
                "text": "[Request interrupted by user for tool use]",
                "interrupt": True,
                "interrupted_by": "phone",
            },
        },
        {"kind": "result", "content": {"subtype": "success", "interrupted_by": "phone"}},
    )
    page.goto(f"{relay.url}/#/session/{session['id']}")
    card = page.locator(f".tool[data-call-id='{call}']")
    expect(card.locator(".tool-note")).to_have_text("interrupted")
    expect(page.locator(".msg.note", has_text="Interrupted by you.")).to_be_visible()
    expect(page.locator(".msg.note", has_text="Turn interrupted by you")).to_be_visible()
    expect(page.locator(".msg.user")).to_have_count(0)  # no chat bubble of the person's
    card.locator(".tool-head").click()
    expect(card.locator(".tool-body")).to_contain_text("Interrupted")
    expect(page.locator("#msgs")).not_to_contain_text("doesn't want to proceed")
    if AXE.exists():  # the interrupted card and the notes, in both themes
        for scheme in ("light", "dark"):
            page.emulate_media(color_scheme=scheme)
            assert not [v for v in violations(page) if v["impact"] in SERIOUS], scheme
