"""Permission cards in a real Chromium at phone and desktop widths: whatever the agent asks
(long unbroken commands, paths, diffs, file contents), the card fits the screen, shows all of
what is being approved, and its answers stay on screen."""

from __future__ import annotations

import re
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


def open_with_requests(
    page: Page, relay: WebRelay, cards: list[tuple[str, dict]], **fields: Any
) -> list[Any]:
    """A session opened in the page, with one request per (tool, input) in it."""
    session = relay.agent.create_session("Cards", cwd="/home/dev/project")
    page.goto(f"{relay.url}/#/session/{session['id']}")
    page.wait_for_selector(f"html[data-session-ready='{session['id']}']")
    asked = [relay.agent.ask(session["id"], name, args, **fields) for name, args in cards]
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


# `r`: a range over the last (non-blank) character of the text of `el`.
LAST_CHARACTER = """
  let node = el;
  while (node.lastChild) node = node.lastChild;
  const r = document.createRange();
  const end = node.textContent.trimEnd().length;
  r.setStart(node, Math.max(0, end - 1));
  r.setEnd(node, end);
"""

# Whether the last character of an element's text is on screen and not covered.
TAIL_ON_SCREEN = (
    "el => {"
    + LAST_CHARACTER
    + """
  const b = r.getBoundingClientRect();
  if (b.right > innerWidth || b.bottom > innerHeight || b.left < 0 || b.top < 0) return false;
  const hit = document.elementFromPoint((b.left + b.right) / 2, (b.top + b.bottom) / 2);
  return !!hit && el.contains(hit);
}"""
)

# Scrolls the requests' box so that the end of an element's text sits just above the card's
# answers (the sticky footer), as a person scrolling to read it would.
BRING_TAIL_ABOVE_ANSWERS = (
    "el => {"
    + LAST_CHARACTER
    + """
  const box = el.closest('.pending');
  const footer = el.closest('.perm').querySelector('.perm-footer');
  // The footer sticks only once its card is in view, so this takes a few steps.
  for (let k = 0; k < 10; k++) {
    const by = r.getBoundingClientRect().bottom - footer.getBoundingClientRect().top + 4;
    if (Math.abs(by) < 2) break;
    box.scrollTop += by;
  }
}"""
)


def test_every_card_fits_and_its_buttons_stay_on_screen(
    sized: tuple[Page, int], relay: WebRelay
) -> None:
    page, width = sized
    long_rule = {"type": "addRules", "rules": [{"toolName": "Bash", "ruleContent": "b" * 150}]}
    accept_edits = {"type": "setMode", "mode": "acceptEdits"}
    suggestions = [{**long_rule, "behavior": "allow"}, accept_edits]
    asked = open_with_requests(page, relay, CARDS, suggestions=suggestions)
    # Nothing pushes the page wider than the window.
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    for request in asked:
        card = page.locator(f".perm[data-perm-id='{request['id']}']")
        card.scroll_into_view_if_needed()
        box = card.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= width, request["tool_name"]
        answers = f".perm[data-perm-id='{request['id']}'] .perm-actions .btn"
        remember = f".perm[data-perm-id='{request['id']}'] .btn.remember"
        buttons = on_screen(page, answers)
        for k in range(page.locator(remember).count()):  # above the answers: scroll to each
            page.locator(remember).nth(k).evaluate(BRING_TAIL_ABOVE_ANSWERS)
            buttons.append(on_screen(page, remember)[k])
        assert len(buttons) == 4  # Allow, Deny, and one per suggestion
        for b in buttons:
            where = f"{request['tool_name']} {b['text']!r} at {width}px: {b}"
            assert b["left"] >= 0 and b["right"] <= b["vw"], where
            assert b["top"] >= 0 and b["bottom"] <= b["vh"], where
            assert b["hit"], where
            assert b["text"], where  # the label is there
        # Scrolled to the card's end, the buttons are still there.
        card.evaluate("el => el.scrollIntoView({block: 'end'})")
        for b in on_screen(page, answers):
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
        # The tail can be brought into view to read, just above the answers.
        el.evaluate(BRING_TAIL_ABOVE_ANSWERS)
        tail = el.evaluate(TAIL_ON_SCREEN)
        assert tail, f"the end of {text[-30:]!r} is not on screen at {width}px"


def test_a_write_says_what_it_does_and_shows_all_its_lines(
    sized: tuple[Page, int], relay: WebRelay
) -> None:
    page, _ = sized
    session = relay.agent.create_session("Writes")
    page.goto(f"{relay.url}/#/session/{session['id']}")
    page.wait_for_selector(f"html[data-session-ready='{session['id']}']")
    unknown = relay.agent.ask(session["id"], "Write", WRITE)
    card = page.locator(f".perm[data-perm-id='{unknown['id']}']")
    expect(card.locator(".perm-stats")).to_have_text("Writes 120 lines to")
    pre = card.locator(".perm-what pre")
    assert pre.text_content() == WRITE["content"]
    # No box of its own to scroll down in: the end is reached by scrolling the requests.
    assert pre.evaluate("el => el.scrollHeight - el.clientHeight") <= 1
    # Wide lines scroll sideways inside the content's own box, not the card.
    assert pre.evaluate("el => el.scrollWidth > el.clientWidth")
    pre.evaluate(BRING_TAIL_ABOVE_ANSWERS)
    last = pre.evaluate(TAIL_ON_SCREEN)
    assert last, "the last lines of the file cannot be brought into view"

    one_line = {"file_path": "/p/a.txt", "content": "one\n"}
    replace = relay.agent.ask(session["id"], "Write", one_line, title="Overwrite a.txt")
    expect(page.locator(f".perm[data-perm-id='{replace['id']}'] .perm-stats")).to_have_text(
        "Overwrites 1 line to"
    )
    create = relay.agent.ask(
        session["id"], "Write", {"file_path": "/p/b.txt", "content": ""}, title="Create b.txt"
    )
    expect(page.locator(f".perm[data-perm-id='{create['id']}'] .perm-stats")).to_have_text(
        "Creates 0 lines to"
    )


def test_an_edit_is_a_numbered_wrapped_diff_with_its_context(
    sized: tuple[Page, int], relay: WebRelay
) -> None:
    page, width = sized
    [edit] = open_with_requests(page, relay, [("Edit", EDIT)])
    diff = page.locator(f".perm[data-perm-id='{edit['id']}'] .diff")
    rows = diff.evaluate(
        """el => { const cells = [...el.children]; const rows = [];
          for (let k = 0; k < cells.length; k += 4)
            rows.push(cells.slice(k, k + 4).map(c => c.textContent));
          return rows; }"""
    )
    old_url, new_url = EDIT["old_string"].split("\n")[1], EDIT["new_string"].split("\n")[1]
    assert rows == [
        ["1", "1", "", "A = 1"],
        ["2", "", "−", old_url],
        ["", "2", "+", new_url],
        ["3", "3", "", "B = 2"],
    ]
    assert diff.evaluate("el => el.scrollWidth - el.clientWidth") <= 1  # wrapped, not cut
    assert diff.bounding_box()["width"] <= width


def test_an_opened_edit_card_shows_its_diff_once(page: Page, relay: WebRelay) -> None:
    session = relay.agent.create_session("Transcript edit")
    relay.agent.tool(session["id"], "Edit", EDIT, "The file was updated.")
    page.goto(f"{relay.url}/#/session/{session['id']}")
    page.wait_for_selector(f"html[data-session-ready='{session['id']}']")
    card = page.locator(".tool").first
    expect(card.locator(".tool-preview .diff")).to_be_visible()
    card.locator(".tool-head").click()
    expect(card.locator(".tool-body .diff")).to_be_visible()
    expect(card.locator(".diff:visible")).to_have_count(1)


def test_each_suggested_rule_is_its_own_answer_saying_what_it_adds(
    page: Page, relay: WebRelay
) -> None:
    npm = {
        "type": "addRules",
        "rules": [{"toolName": "Bash", "ruleContent": "npm test:*"}],
        "behavior": "allow",
        "destination": "localSettings",
    }
    dirs = {"type": "addDirectories", "directories": ["/srv/data"], "destination": "session"}
    whole_tool = {"type": "addRules", "rules": [{"toolName": "WebFetch"}], "behavior": "allow"}
    [with_rules] = open_with_requests(
        page,
        relay,
        [("Bash", {"command": "npm test -- --watch=false"})],
        suggestions=[npm, dirs, whole_tool],
    )
    without = relay.agent.ask(with_rules["session_id"], "Bash", {"command": "ls"})
    card = page.locator(f".perm[data-perm-id='{with_rules['id']}']")
    labels = card.locator(".btn.remember").all_text_contents()
    assert labels == [
        "Yes, and don't ask again this session for npm test:* commands in /home/dev/project",
        "Yes, and allow access to /srv/data this session",
        "Yes, and don't ask again this session for every WebFetch call",
    ]
    # No suggestion, no "always": nothing is allowed beyond this one call.
    plain = page.locator(f".perm[data-perm-id='{without['id']}']")
    expect(plain.get_by_role("button", name="Allow", exact=True)).to_be_visible()
    assert plain.locator("[data-action='always']").count() == 0

    card.locator(".btn.remember").nth(1).click()
    decided = relay.agent.decision(with_rules["id"])
    assert (decided["status"], decided["decision"]["remember"]) == ("allowed", [1])


# ── shapes the schema lets through but nobody expects ────────────────────────────────


def test_odd_messages_degrade_only_their_own_row(page: Page, relay: WebRelay) -> None:
    agent = relay.agent
    session = agent.create_session("Odd shapes")
    odd = [
        {
            "kind": "tool_call",
            "content": {
                "call_id": "t1",
                "name": "TodoWrite",
                "input": {"todos": [None, {"content": "ship it", "status": "pending"}]},
            },
        },
        {
            "kind": "tool_call",
            "content": {
                "call_id": "e1",
                "name": "MultiEdit",
                "input": {"file_path": "/p/a.py", "edits": [None]},
            },
        },
        {"kind": "tool_result", "content": None},
        {
            "kind": "tool_call",
            "content": {"call_id": "n1", "name": "Bash", "input": {"command": "ls"}},
        },
        {"kind": "tool_result", "content": {"call_id": "n1", "output": None, "is_error": None}},
        {"kind": "assistant_text", "content": None},
        {"kind": "assistant_text", "content": {"text": ["not", "text"]}},
        {"kind": "thinking", "content": "a string"},
        {"kind": "result", "content": [1, 2]},
        {"kind": "tool_call", "content": {"call_id": "w1", "name": "Write", "input": None}},
    ]
    agent.post(session["id"], *odd)
    agent.say(session["id"], "Still here after the odd ones.")
    page.goto(f"{relay.url}/#/session/{session['id']}")
    page.wait_for_selector(f"html[data-session-ready='{session['id']}']")
    expect(page.locator(".msg.assistant").last).to_contain_text("Still here after the odd ones.")
    todos = page.locator(".tool", has_text="Todos")
    expect(todos.locator(".todos")).to_contain_text("ship it")
    expect(todos.locator(".todo-odd")).to_have_text("null")
    expect(page.locator(".tool", has_text="MultiEdit").locator(".diff")).to_contain_text("null")
    # Every one of them has a row of its own; the page keeps working.
    assert page.locator("#msgs [data-seq]").count() >= 9
    page.locator(".tool", has_text="MultiEdit").locator(".tool-head").click()
    expect(page.locator(".tool", has_text="MultiEdit").locator(".tool-body")).to_be_visible()
    agent.say(session["id"], "And live messages still arrive.")
    expect(page.locator(".msg.assistant").last).to_contain_text("And live messages still arrive.")


def test_odd_requests_stay_answerable(page: Page, relay: WebRelay) -> None:
    agent = relay.agent
    session = agent.create_session("Odd requests")
    page.goto(f"{relay.url}/#/session/{session['id']}")
    page.wait_for_selector(f"html[data-session-ready='{session['id']}']")

    # No question can be read at all: an ordinary request, with plain Allow and Deny.
    broken = agent.ask(session["id"], "AskUserQuestion", {"questions": [None]})
    card = page.locator(f".perm[data-perm-id='{broken['id']}']")
    expect(card).to_contain_text("null")
    card.get_by_role("button", name="Deny").click()
    assert agent.decision(broken["id"])["status"] == "denied"

    # One bad question and odd options: the readable rest is a form that can be sent.
    questions = [None, {"question": "Which one?", "options": ["Plain", None, {"label": "Rich"}]}]
    mixed = agent.ask(session["id"], "AskUserQuestion", {"questions": questions})
    card = page.locator(f".perm[data-perm-id='{mixed['id']}']")
    expect(card.locator(".question.odd")).to_contain_text("null")
    expect(card.locator(".opt.odd")).to_contain_text("null")
    card.get_by_label("Plain").check()
    card.get_by_role("button", name="Send answers").click()
    decided = agent.decision(mixed["id"])
    assert decided["decision"]["updated_input"]["answers"] == {"Which one?": "Plain"}

    for tool, tool_input in [
        ("MultiEdit", {"file_path": "/p/a.py", "edits": [None]}),
        ("Write", {"file_path": "/p/a.py", "content": None}),
        ("TodoWrite", {"todos": [None]}),
        ("Edit", {"file_path": None, "old_string": 1, "new_string": {"x": 1}}),
    ]:
        request = agent.ask(session["id"], tool, tool_input)
        card = page.locator(f".perm[data-perm-id='{request['id']}']")
        card.get_by_role("button", name="Allow", exact=True).click()
        assert agent.decision(request["id"])["status"] == "allowed", tool


def test_huge_or_hostile_markdown_renders_and_can_be_shown_whole(
    page: Page, relay: WebRelay
) -> None:
    agent = relay.agent
    session = agent.create_session("Huge")
    hostile = "**a " * 60000  # quadratic for a lazy-span regex: seconds of frozen page
    agent.say(session["id"], hostile)
    agent.say(session["id"], "after")
    page.goto(f"{relay.url}/#/session/{session['id']}")
    page.wait_for_selector(f"html[data-session-ready='{session['id']}']")
    first = page.locator(".msg.assistant").first
    more = first.locator(".show-all")
    expect(more).to_contain_text("Show all (")
    shown = first.evaluate("el => el.textContent.length")
    assert shown < len(hostile)
    more.click()
    expect(page.locator(".msg.assistant").first.locator(".show-all")).to_have_count(0)
    assert (
        page.locator(".msg.assistant").first.evaluate("el => el.textContent.trim()")
        == hostile.strip()
    )
    expect(page.locator(".msg.assistant").last).to_have_text("after")


# ── cards of their own, countdown, touch targets ─────────────────────────────────────

PLAN = "## Plan\n\n1. Add `wait_until()`\n2. Use it in **test_login**\n"


def test_plans_todos_and_the_countdown_read_as_what_they_are(page: Page, relay: WebRelay) -> None:
    accept_edits = {"type": "setMode", "mode": "acceptEdits", "destination": "session"}
    plan, todos = open_with_requests(
        page,
        relay,
        [
            ("ExitPlanMode", {"plan": PLAN}),
            ("TodoWrite", {"todos": [{"content": "write test", "status": "completed"}]}),
        ],
        suggestions=[accept_edits],
    )
    card = page.locator(f".perm[data-perm-id='{plan['id']}']")
    expect(card.locator(".perm-plan h4")).to_have_text("Plan")
    expect(card.locator(".perm-plan ol li")).to_have_count(2)
    expect(card.locator(".perm-plan strong")).to_have_text("test_login")
    choices = card.locator(".perm-actions .btn, .btn.remember").all_text_contents()
    assert sorted(choices) == sorted(
        [
            "Yes, start (ask before each edit)",
            "Yes, allow all edits this session",
            "No, keep planning",
        ]
    )
    expect(card.locator(".perm-expiry")).to_have_text(re.compile(r"^Expires in \d+:\d\d$"))
    todo = page.locator(f".perm[data-perm-id='{todos['id']}'] .todo-list li")
    expect(todo).to_have_text("☑ write test")

    # Every answer is at least 44 px tall: a finger, not a mouse pointer.
    for selector in (".perm-actions .btn", ".btn.remember", ".perm-edit summary"):
        for height in page.eval_on_selector_all(
            selector, "els => els.map(e => e.getBoundingClientRect().height)"
        ):
            assert height >= 44, selector

    card.get_by_role("button", name="No, keep planning").click()
    assert relay.agent.decision(plan["id"])["status"] == "denied"
