"""axe-core (pinned, from npm into .cache/npm by scripts/test) run in Chromium on the
session list, a transcript and every permission card type, in the light and the dark
theme: no serious or critical violation. The figures are printed for the record."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import IN_CI
from tests.web.conftest import ARTIFACTS, WebRelay

pytestmark = [pytest.mark.browser, pytest.mark.slow]
expect.set_options(timeout=20000)

AXE = Path(__file__).resolve().parents[2] / ".cache/npm/node_modules/axe-core/axe.min.js"
SERIOUS = ("serious", "critical")

CARDS = [
    ("Bash", {"command": "rm -rf build && make -j4", "description": "Clean build"}),
    ("Edit", {"file_path": "/p/app.py", "old_string": "a = 1\n", "new_string": "a = 2\n"}),
    ("Write", {"file_path": "/p/notes.md", "content": "# Notes\n\nhello\n"}),
    ("WebFetch", {"url": "https://example.com/docs", "prompt": "Summarise"}),
    ("ExitPlanMode", {"plan": "## Plan\n1. fix `test_login`\n2. run the tests"}),
    ("TodoWrite", {"todos": [{"content": "write test", "status": "completed"}]}),
    (
        "AskUserQuestion",
        {"questions": [{"question": "Which db?", "options": [{"label": "sqlite"}, "pg"]}]},
    ),
]
BASH_RULE = {
    "type": "addRules",
    "rules": [{"toolName": "Bash", "ruleContent": "make:*"}],
    "behavior": "allow",
    "destination": "localSettings",
}


@pytest.fixture(autouse=True)
def _needs_axe() -> None:
    if not AXE.exists():
        if IN_CI:
            pytest.fail(f"{AXE} is missing; scripts/test installs axe-core")
        pytest.skip(f"{AXE} is missing; run scripts/test once to install axe-core from npm")


def violations(page: Page) -> list[dict[str, Any]]:
    """axe's violations on the page as it is now (evaluated, so the page's CSP allows it)."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(AXE.read_text())
    found = page.evaluate("async () => (await axe.run(document)).violations")
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:3]}
        for v in found
    ]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_no_serious_violations_anywhere(browser, relay: WebRelay, scheme: str) -> None:
    # Reduced motion: axe measures colours as they are, not halfway through a fade-in.
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, color_scheme=scheme, reduced_motion="reduce"
    )
    page = context.new_page()
    page.goto(relay.client_link)
    page.wait_for_selector(".list-view")
    agent = relay.agent
    session = agent.create_session("Accessible", cwd="/p")
    agent.say(session["id"], "I will **fix** the `login` test.\n\n| a | b |\n|---|---|\n| 1 | 2 |")
    agent.create_session("Another")
    report: dict[str, list[dict[str, Any]]] = {}
    expect(page.locator(f".session-row[data-id='{session['id']}']")).to_be_visible()
    report["session list"] = violations(page)

    page.goto(f"{relay.url}/#/session/{session['id']}")
    page.wait_for_selector(f"html[data-session-ready='{session['id']}']")
    expect(page.locator("#msgs")).to_contain_text("fix")
    report["transcript"] = violations(page)
    for tool, args in CARDS:
        request = agent.ask(
            session["id"], tool, args, suggestions=[BASH_RULE] if tool == "Bash" else []
        )
        card = page.locator(f".perm[data-perm-id='{request['id']}']")
        expect(card).to_be_visible()
        report[f"{tool} card"] = violations(page)
        agent.cancel(request["id"], "next card")
        expect(card).to_have_count(0)
    context.close()

    figures = {
        where: {
            "serious": sum(v["impact"] in SERIOUS for v in found),
            "other": sum(v["impact"] not in SERIOUS for v in found),
        }
        for where, found in report.items()
    }
    print(f"axe-core {scheme}: " + json.dumps(figures))
    print("other rules: " + ", ".join(sorted({v["id"] for f in report.values() for v in f})))
    serious = {w: [v for v in f if v["impact"] in SERIOUS] for w, f in report.items()}
    assert not any(serious.values()), json.dumps(serious, indent=1)


def test_screenshots_of_every_card(browser, relay: WebRelay) -> None:
    """test-artifacts/cards/<tool>-<width>-<scheme>.png, for the record (and the eye)."""
    out = ARTIFACTS / "cards"
    out.mkdir(parents=True, exist_ok=True)
    agent = relay.agent
    session = agent.create_session("Cards", cwd="/p")
    asked = [
        (
            tool,
            agent.ask(session["id"], tool, args, suggestions=[BASH_RULE] if tool == "Bash" else []),
        )
        for tool, args in CARDS
    ]
    for scheme in ("light", "dark"):
        for width, height in ((320, 640), (390, 844), (1440, 900)):
            context = browser.new_context(
                viewport={"width": width, "height": height},
                color_scheme=scheme,
                reduced_motion="reduce",
            )
            page = context.new_page()
            page.goto(relay.client_link)
            page.wait_for_selector(".list-view")
            page.goto(f"{relay.url}/#/session/{session['id']}")
            page.wait_for_selector(f"html[data-session-ready='{session['id']}']")
            for tool, request in asked:
                card = page.locator(f".perm[data-perm-id='{request['id']}']")
                card.scroll_into_view_if_needed()
                card.screenshot(path=str(out / f"{tool}-{width}-{scheme}.png"))
            context.close()
    assert len(list(out.glob("*.png"))) >= len(CARDS) * 6
