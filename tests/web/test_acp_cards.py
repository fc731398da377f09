"""An ACP agent's permission request in a real Chromium: its answers are the agent's own
options under the agent's labels, and nothing offers to edit the input, which an ACP agent
could not take (it is answered with an option id only)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.web.conftest import WebRelay

pytestmark = [pytest.mark.browser, pytest.mark.slow]
expect.set_options(timeout=20000)

# As the runner lists them (runner.acp_normalize.permission_body).
OPTIONS = [
    {"type": "acp_option", "option_id": "yes", "name": "Yes, write it", "kind": "allow_once"},
    {
        "type": "acp_option",
        "option_id": "all",
        "name": "Always write files",
        "kind": "allow_always",
    },
    {"type": "acp_option", "option_id": "no", "name": "No, keep it", "kind": "reject_once"},
    {"type": "acp_option", "option_id": "never", "name": "Never write", "kind": "reject_always"},
]
WRITE = {"path": "/home/dev/project/notes.txt", "content": "hi"}


def open_session(page: Page, relay: WebRelay, agent: str, state: dict) -> dict:
    session = relay.agent.relay.create_session(
        title=f"{agent} cards", agent=agent, cwd="/home/dev/project", agent_state=state
    )
    page.goto(f"{relay.url}/#/session/{session['id']}")
    page.wait_for_selector(f"html[data-session-ready='{session['id']}']")
    return session


def test_an_acp_request_offers_the_agents_own_answers_and_no_edit(
    page: Page, relay: WebRelay
) -> None:
    state = {"edits_input": False, "agent_info": {"name": "codex-acp", "version": "0.16.0"}}
    session = open_session(page, relay, "codex", state)
    # Which agent runs it, with the version its runner learned: here and in the list.
    expect(page.locator("#s-sub")).to_contain_text("codex 0.16.0")
    page.goto(f"{relay.url}/#/")
    badge = page.locator(f".session-row[data-id='{session['id']}'] .badge.agent")
    expect(badge).to_have_text("codex")
    expect(badge).to_have_attribute("title", "codex 0.16.0")
    page.goto(f"{relay.url}/#/session/{session['id']}")
    first = relay.agent.ask(session["id"], "Write notes.txt", WRITE, suggestions=OPTIONS)
    card = page.locator(f".perm[data-perm-id='{first['id']}']")
    expect(card).to_be_visible()
    assert card.locator(".perm-actions .btn").all_text_contents() == [
        "Yes, write it",
        "No, keep it",
    ]
    assert card.locator(".btn.remember").all_text_contents() == [
        "Always write files",
        "Never write",
    ]
    assert card.locator(".perm-edit, .edit-input").count() == 0

    # The agent's reject_always, named by its index: the runner selects exactly it.
    card.locator(".btn.remember", has_text="Never write").click()
    decided = relay.agent.decision(first["id"])
    assert decided["status"] == "denied"
    assert decided["decision"]["remember"] == [3]

    second = relay.agent.ask(session["id"], "Write notes.txt", WRITE, suggestions=OPTIONS)
    card = page.locator(f".perm[data-perm-id='{second['id']}']")
    card.get_by_role("button", name="Yes, write it").click()
    decided = relay.agent.decision(second["id"])
    assert decided["status"] == "allowed"
    assert decided["decision"]["updated_input"] is None
    assert decided["decision"]["remember"] is False


def test_an_agent_that_takes_changed_input_still_offers_the_edit(
    page: Page, relay: WebRelay
) -> None:
    session = open_session(page, relay, "claude-code", {"edits_input": True})
    asked = relay.agent.ask(session["id"], "Bash", {"command": "ls"})
    card = page.locator(f".perm[data-perm-id='{asked['id']}']")
    expect(card.locator(".perm-edit")).to_be_attached()
    assert card.locator(".perm-actions .btn").all_text_contents() == ["Allow", "Deny"]
