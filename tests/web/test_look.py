"""Screenshots of the session view on a phone and a desktop (saved in test-artifacts/ for
a person to look at), and the first paint of a 1,000-message session, measured and
reported, not asserted: timing depends on the machine."""

from __future__ import annotations

import json
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.web.conftest import ARTIFACTS, WebRelay

pytestmark = [pytest.mark.browser, pytest.mark.slow]

MARKDOWN = """Found it. The test sleeps a fixed **100 ms** and races the login worker:

```python
def test_login(client):
    client.post("/login", json={"user": "ada"})
    time.sleep(0.1)  # races the worker
    assert client.get("/me").status_code == 200
```

I'll replace the sleep with a poll:
1. add `wait_until()` to `tests/helpers.py`
2. use it in `test_login`
"""


def conversation(turn: int) -> list[dict[str, Any]]:
    """One turn of a realistic session: 10 messages."""
    call = f"call_{turn}"
    edit = f"edit_{turn}"
    return [
        {
            "role": "user",
            "kind": "user_text",
            "content": {"text": f"Turn {turn}: why does test_login fail now and then?"},
        },
        {"role": "agent", "kind": "thinking", "content": {"text": "Run the test first."}},
        {
            "role": "agent",
            "kind": "assistant_text",
            "content": {"text": "Let me run the login tests."},
        },
        {
            "role": "agent",
            "kind": "tool_call",
            "content": {
                "call_id": call,
                "name": "Bash",
                "input": {"command": "pytest -q tests/test_login.py", "description": "Run tests"},
            },
        },
        {
            "role": "agent",
            "kind": "tool_result",
            "content": {
                "call_id": call,
                "is_error": False,
                "output": "....F\nFAILED tests/test_login.py::test_login - assert 401 == 200\n"
                "1 failed, 4 passed in 0.41s",
            },
        },
        {"role": "agent", "kind": "assistant_text", "content": {"text": MARKDOWN}},
        {
            "role": "agent",
            "kind": "tool_call",
            "content": {
                "call_id": edit,
                "name": "Edit",
                "input": {
                    "file_path": "tests/test_login.py",
                    "old_string": "    time.sleep(0.1)  # races the worker\n    assert ok",
                    "new_string": "    wait_until(lambda: logged_in(client))\n    assert ok",
                },
            },
        },
        {
            "role": "agent",
            "kind": "tool_result",
            "content": {"call_id": edit, "is_error": False, "output": "The file was updated."},
        },
        {
            "role": "agent",
            "kind": "usage",
            "content": {
                "input_tokens": 5400,
                "output_tokens": 410,
                "cache_read_input_tokens": 12000,
                "cache_creation_input_tokens": 0,
                "cost_usd": 0.0187,
            },
        },
        {
            "role": "agent",
            "kind": "result",
            "content": {
                "subtype": "success",
                "is_error": False,
                "num_turns": 4,
                "duration_ms": 9100,
                "total_cost_usd": 0.0187,
            },
        },
    ]


def feed(relay: WebRelay, turns: int) -> dict[str, Any]:
    agent = relay.agent
    session = agent.create_session("Fix the flaky login test", cwd="/home/dev/acme/api")
    agent.post(
        session["id"],
        {
            "kind": "system",
            "content": {"model": "claude-sonnet-4-5", "permission_mode": "default", "tools": []},
        },
    )
    batch: list[dict[str, Any]] = []
    for turn in range(1, turns + 1):
        batch.extend(conversation(turn))
        if len(batch) >= 200:
            agent.relay.post_messages(session["id"], batch)
            batch = []
    if batch:
        agent.relay.post_messages(session["id"], batch)
    return session


def signed_in(browser, relay: WebRelay, **options: Any):
    context = browser.new_context(**options)
    page = context.new_page()
    page.goto(relay.client_link)
    page.wait_for_selector(".list-view")
    return context, page


def test_screenshots_of_the_session_view(browser, relay: WebRelay) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    session = feed(relay, 3)
    relay.agent.ask(
        session["id"],
        "Bash",
        {"command": "rm -rf build && make -j4", "description": "Clean build"},
        title="Run a clean build",
    )
    shots = [
        ("phone", {"width": 375, "height": 812}, "light"),
        ("desktop", {"width": 1280, "height": 800}, "light"),
        ("phone-dark", {"width": 375, "height": 812}, "dark"),
        ("desktop-dark", {"width": 1280, "height": 800}, "dark"),
    ]
    for name, viewport, scheme in shots:
        context, page = signed_in(browser, relay, viewport=viewport, color_scheme=scheme)
        expect(page.locator(".session-row")).to_be_visible()
        page.screenshot(path=str(ARTIFACTS / f"sessions-{name}.png"))
        assert sticking_out(page) == [], name
        page.goto(f"{relay.url}/#/session/{session['id']}")
        page.wait_for_selector(f"html[data-session-ready='{session['id']}']")
        expect(page.locator(".perm")).to_be_visible()
        page.screenshot(path=str(ARTIFACTS / f"session-{name}.png"))
        assert sticking_out(page) == [], name
        # The newest message is in view, above the permission card.
        assert page.locator(".msg.note").last.evaluate(
            "e => e.getBoundingClientRect().bottom <= "
            "document.querySelector('#transcript').getBoundingClientRect().bottom + 1"
        )
        context.close()


def sticking_out(page) -> list[str]:
    """Boxes that reach past the right edge of the screen (code may scroll inside)."""
    return page.evaluate("""() => [...document.querySelectorAll(
        '.bar, .meta, .filters, .session-row, .msg, .tool, .perm, .composer')]
        .filter(e => e.getBoundingClientRect().right > innerWidth + 0.5)
        .map(e => e.className)""")


def test_first_paint_of_a_thousand_messages(browser, relay: WebRelay) -> None:
    session = feed(relay, 100)
    assert relay.agent.relay.get_session(session["id"])["last_seq"] == 1001
    context, page = signed_in(browser, relay, viewport={"width": 1280, "height": 800})
    figures = []
    for _ in range(3):
        page.goto(f"{relay.url}/#/")
        page.wait_for_selector(".list-view")
        page.goto(f"{relay.url}/#/session/{session['id']}")
        page.wait_for_selector(f"html[data-session-ready='{session['id']}']")
        figures.append(page.evaluate("window.__tetherFirstPaint"))
    # A cold load of the page straight into the session, as a phone link would open it.
    page.goto("about:blank")
    page.goto(f"{relay.url}/#/session/{session['id']}")
    page.wait_for_selector(f"html[data-session-ready='{session['id']}']")
    cold = page.evaluate("window.__tetherFirstPaint")
    assert cold["messages"] == 1000
    assert page.locator("#msgs [data-seq='1']").count() == 0
    page.get_by_role("button", name="Load earlier messages").click()
    expect(page.locator("#msgs [data-seq='1']")).to_contain_text("Session started")
    report = {
        "view_open_ms": [round(f["ms"]) for f in figures],
        "cold_page_load_ms": round(cold["sinceNavigation"]),
        "messages": 1000,
    }
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "first-paint.json").write_text(json.dumps(report, indent=2))
    print(f"\nfirst paint of a 1,000-message session: {report}")
    context.close()
