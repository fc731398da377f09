"""The web UI in a real Chromium against a real `tether serve`, with a test agent on the
other side of the relay API."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from playwright.sync_api import Page, expect

from tests.web.agent import ThreadedClient
from tests.web.conftest import WebRelay, make_token

pytestmark = [pytest.mark.browser, pytest.mark.slow]
expect.set_options(timeout=20000)


def open_session(page: Page, relay: WebRelay, session_id: str) -> None:
    page.goto(f"{relay.url}/#/session/{session_id}")
    page.wait_for_selector(f"html[data-session-ready='{session_id}']")


def seqs_on_page(page: Page) -> list[int]:
    return [
        int(s)
        for s in page.eval_on_selector_all("#msgs [data-seq]", "els => els.map(e => e.dataset.seq)")
    ]


# ── sign-in ──────────────────────────────────────────────────────────────────────────


def test_sign_in_link_stores_the_token_and_removes_it_from_the_address(
    page: Page, relay: WebRelay
) -> None:
    token = relay.client_link.split("token=", 1)[1]
    assert "token" not in page.url
    assert page.evaluate("localStorage.getItem('tether.token')") == token
    expect(page.locator("#whoami")).to_contain_text("phone (client)")
    # A reload (no token in the URL any more) stays signed in.
    page.reload()
    expect(page.locator(".list-view")).to_be_visible()
    page.click("#signout")
    expect(page.locator("#signin")).to_be_visible()
    assert page.evaluate("localStorage.getItem('tether.token')") is None


def test_a_bad_token_shows_the_sign_in_form_with_a_reason(browser, relay: WebRelay) -> None:
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{relay.url}/?token=tth_nope_nope")
    expect(page.locator(".signin-error")).to_contain_text("not accepted")
    assert "token" not in page.url
    # Pasting a good token signs in.
    page.fill("#token-input", relay.client_link.split("token=", 1)[1])
    page.click("#signin button[type=submit]")
    expect(page.locator(".list-view")).to_be_visible()
    context.close()


# ── watching ─────────────────────────────────────────────────────────────────────────


def test_a_new_session_appears_and_its_messages_stream_in(page: Page, relay: WebRelay) -> None:
    agent = relay.agent
    session = agent.create_session("Fix the flaky login test")
    row = page.locator(f".session-row[data-id='{session['id']}']")
    expect(row).to_contain_text("Fix the flaky login test")
    expect(row).to_contain_text("running")
    row.click()
    page.wait_for_selector(f"html[data-session-ready='{session['id']}']")

    agent.post(session["id"], {"kind": "thinking", "content": {"text": "Look at the test."}})
    agent.say(
        session["id"],
        "Here is the **fix**:\n\n```python\ndef ok():\n    return True\n```\n"
        '<img src=x onerror="window.pwned=1"> [bad](javascript:alert(1))',
    )
    call = agent.tool(session["id"], "Bash", {"command": "pytest -q tests/test_login.py"})
    card = page.locator(f".tool[data-call-id='{call}']")
    expect(card).to_contain_text("$ pytest -q tests/test_login.py")
    expect(card).to_have_class(re.compile("tool-pending"))
    agent.result(session["id"], call, "....F\nFAILED test_login\n1 failed, 4 passed")
    expect(card).to_have_class(re.compile("tool-ok"))
    expect(card.locator(".tool-preview")).to_contain_text("1 failed, 4 passed")
    agent.tool(session["id"], "Read", {"file_path": "/home/dev/project/app.py"}, "a\nb\nc")
    agent.tool(
        session["id"],
        "Edit",
        {"file_path": "app.py", "old_string": "x = 1", "new_string": "x = 2"},
        "ok",
    )
    agent.post(
        session["id"],
        {
            "kind": "usage",
            "content": {
                "input_tokens": 1200,
                "output_tokens": 300,
                "cache_read_input_tokens": 0,
                "cache_creation_input_tokens": 0,
                "cost_usd": 0.0123,
            },
        },
    )

    expect(page.locator(".tool", has_text="Read")).to_contain_text("3 lines")
    expect(page.locator(".tool", has_text="Edit").locator(".diff .d-text.d-add")).to_contain_text(
        "x = 2"
    )
    expect(page.locator("#s-usage")).to_contain_text("$0.0123")
    expect(page.locator(".msg.assistant pre")).to_contain_text("return True")
    expect(page.locator(".msg.thinking")).not_to_have_attribute("open", "")
    # Untrusted text stays text.
    expect(page.locator(".msg.assistant")).to_contain_text("<img src=x")
    assert page.locator(".msg.assistant img").count() == 0
    assert page.locator(".msg.assistant a[href^='javascript']").count() == 0
    assert page.evaluate("window.pwned") is None
    # A card expands to the full input and result.
    card.locator(".tool-head").click()
    expect(card.locator(".tool-body")).to_be_visible()
    expect(card.locator(".tool-body .out.full")).to_contain_text("FAILED test_login")
    # Every message once, in order.
    assert seqs_on_page(page) == sorted(set(seqs_on_page(page)))


def test_the_sessions_list_shows_status_badges_and_filters(page: Page, relay: WebRelay) -> None:
    agent = relay.agent
    waiting = agent.create_session("Needs an answer")
    ended = agent.create_session("Old work")
    agent.end(ended["id"])
    agent.ask(waiting["id"], "Bash", {"command": "make"})
    row = page.locator(f".session-row[data-id='{waiting['id']}']")
    expect(row.locator(".pending-count")).to_have_text("1")
    expect(row).to_contain_text("waiting for you")
    expect(page.locator(f".session-row[data-id='{ended['id']}']")).to_have_count(0)
    page.click(".filter[data-filter='ended']")
    expect(page.locator(f".session-row[data-id='{ended['id']}']")).to_contain_text("ended")
    expect(page.locator(f".session-row[data-id='{waiting['id']}']")).to_have_count(0)


# ── permission requests ──────────────────────────────────────────────────────────────


def test_allow_deny_and_edit_reach_the_agent(page: Page, relay: WebRelay) -> None:
    agent = relay.agent
    session = agent.create_session("Permissions")
    open_session(page, relay, session["id"])

    first = agent.ask(session["id"], "Bash", {"command": "make test"}, title="Run the tests")
    card = page.locator(f".perm[data-perm-id='{first['id']}']")
    expect(card).to_contain_text("make test")
    card.get_by_role("button", name="Allow", exact=True).click()
    decided = agent.decision(first["id"])
    assert decided["status"] == "allowed"
    assert decided["decision"]["decided_by"] == "phone"
    assert not decided["decision"]["remember"]
    expect(card).to_have_count(0)

    second = agent.ask(session["id"], "Bash", {"command": "rm -rf /"})
    card = page.locator(f".perm[data-perm-id='{second['id']}']")
    card.locator(".deny-reason").fill("not on my machine")
    card.get_by_role("button", name="Deny").click()
    decided = agent.decision(second["id"])
    assert decided["status"] == "denied"
    assert decided["decision"]["message"] == "not on my machine"

    accept_edits = {"type": "setMode", "mode": "acceptEdits", "destination": "session"}
    third = agent.ask(
        session["id"],
        "Write",
        {"file_path": "a.txt", "content": "hello"},
        suggestions=[accept_edits],
    )
    card = page.locator(f".perm[data-perm-id='{third['id']}']")
    card.locator(".perm-edit summary").click()
    card.locator(".edit-input").fill('{"file_path": "b.txt", "content": "hi"}')
    card.get_by_role("button", name="Yes, allow all edits this session").click()
    decided = agent.decision(third["id"])
    assert decided["decision"]["updated_input"] == {"file_path": "b.txt", "content": "hi"}
    assert decided["decision"]["remember"] == [0]

    fourth = agent.ask(session["id"], "Bash", {"command": "ls"})
    card = page.locator(f".perm[data-perm-id='{fourth['id']}']")
    card.locator(".perm-edit summary").click()
    card.locator(".edit-input").fill("{not json")
    card.get_by_role("button", name="Allow", exact=True).click()
    expect(card.locator(".perm-error")).to_contain_text("not valid JSON")
    assert agent.permission(fourth["id"])["status"] == "pending"


def test_ask_user_question_is_answered_with_its_options(page: Page, relay: WebRelay) -> None:
    agent = relay.agent
    session = agent.create_session("Questions")
    open_session(page, relay, session["id"])
    questions = [
        {
            "question": "Which database?",
            "header": "DB",
            "multiSelect": False,
            "options": [
                {"label": "SQLite", "description": "one file"},
                {"label": "PostgreSQL", "description": "a server"},
            ],
        },
        {
            "question": "Which extras?",
            "header": "Extras",
            "multiSelect": True,
            "options": [{"label": "Redis"}, {"label": "Metrics"}, {"label": "Tracing"}],
        },
    ]
    request = agent.ask(session["id"], "AskUserQuestion", {"questions": questions})
    card = page.locator(f".perm[data-perm-id='{request['id']}']")
    expect(card).to_contain_text("Which database?")
    card.get_by_role("button", name="Send answers").click()
    expect(card.locator(".perm-error")).to_contain_text("Choose an answer")
    card.get_by_label("PostgreSQL").check()
    card.get_by_label("Metrics").check()
    card.get_by_label("Another answer to: Which extras?").fill("Sentry")
    card.get_by_role("button", name="Send answers").click()
    decided = agent.decision(request["id"])
    assert decided["status"] == "allowed"
    assert decided["decision"]["updated_input"]["answers"] == {
        "Which database?": "PostgreSQL",
        "Which extras?": "Metrics, Sentry",
    }
    assert decided["decision"]["updated_input"]["questions"] == questions


def test_a_request_answered_elsewhere_or_cancelled_disappears_with_a_note(
    page: Page, relay: WebRelay
) -> None:
    agent = relay.agent
    session = agent.create_session("Elsewhere")
    open_session(page, relay, session["id"])
    request = agent.ask(session["id"], "Bash", {"command": "deploy"})
    card = page.locator(f".perm[data-perm-id='{request['id']}']")
    expect(card).to_be_visible()
    # Someone answers from a terminal, through the API.
    with ThreadedClient(relay.url, relay.server.token) as terminal:
        terminal.respond(request["id"], "allow")
    expect(card).to_have_count(0)
    expect(page.locator(".note-pop")).to_contain_text("allowed elsewhere by the admin")

    withdrawn = agent.ask(session["id"], "Bash", {"command": "sleep 1"})
    card = page.locator(f".perm[data-perm-id='{withdrawn['id']}']")
    expect(card).to_be_visible()
    agent.cancel(withdrawn["id"], "the turn was interrupted")
    expect(card).to_have_count(0)
    expect(page.locator(".note-pop", has_text="withdrawn")).to_contain_text(
        "the turn was interrupted"
    )


# ── steering ─────────────────────────────────────────────────────────────────────────


def test_prompt_interrupt_mode_and_end(page: Page, relay: WebRelay) -> None:
    agent = relay.agent
    session = agent.create_session("Steer me")
    open_session(page, relay, session["id"])

    prompt = page.get_by_label("Message to the agent")
    prompt.fill("first line")
    prompt.press("Shift+Enter")
    prompt.type("second line")
    prompt.press("Enter")
    sent = agent.wait_message(session["id"], "user_text")
    assert sent["content"]["text"] == "first line\nsecond line"
    assert sent["role"] == "user" and sent["author"] == "phone"
    expect(prompt).to_have_value("")
    expect(page.locator(".msg.user .bubble")).to_have_text("first line\nsecond line")

    page.get_by_role("button", name="Interrupt").click()
    assert agent.wait_control(session["id"], "interrupt")["by"] == "phone"
    expect(page.locator(".note-pop", has_text="Interrupt sent")).to_be_visible()

    page.get_by_label("Permission mode").select_option("acceptEdits")
    assert agent.wait_control(session["id"], "permission_mode")["mode"] == "acceptEdits"

    end = page.locator("#end")
    end.click()
    expect(end).to_have_text("Press again to end")
    end.click()
    assert agent.wait_control(session["id"], "end")["by"] == "phone"
    expect(page.locator("#composer")).to_contain_text("This session has ended")
    expect(page.locator("#s-status")).to_contain_text("ended")


def test_keyboard_shortcuts_open_a_session_and_allow(page: Page, relay: WebRelay) -> None:
    agent = relay.agent
    session = agent.create_session("Keyboard")
    expect(page.locator(f".session-row[data-id='{session['id']}']")).to_be_visible()
    page.keyboard.press("j")
    page.keyboard.press("k")
    page.keyboard.press("Enter")
    page.wait_for_selector(f"html[data-session-ready='{session['id']}']")
    request = agent.ask(session["id"], "Bash", {"command": "true"})
    card = page.locator(f".perm[data-perm-id='{request['id']}']")
    expect(card).to_be_visible()
    # `a` allows nothing by itself: it shows the request and focuses its Allow…
    page.keyboard.press("a")
    expect(card.get_by_role("button", name="Allow", exact=True)).to_be_focused()
    assert agent.permission(request["id"])["status"] == "pending"
    page.keyboard.press("Enter")  # …and Enter, with the command in view, allows it
    assert agent.decision(request["id"])["status"] == "allowed"
    page.keyboard.press("/")
    expect(page.get_by_label("Message to the agent")).to_be_focused()
    page.keyboard.press("Escape")
    page.keyboard.press("Escape")
    expect(page.locator(".list-view")).to_be_visible()


def test_a_viewer_token_gets_a_read_only_ui(browser, relay: WebRelay) -> None:
    agent = relay.agent
    session = agent.create_session("Watched")
    request = agent.ask(session["id"], "Bash", {"command": "make"})
    link = make_token(relay.server, "viewer", "wall-screen", link=True)
    context = browser.new_context()
    page = context.new_page()
    page.goto(link)
    page.wait_for_selector(".list-view")
    open_session(page, relay, session["id"])
    card = page.locator(f".perm[data-perm-id='{request['id']}']")
    expect(card).to_contain_text("Waiting for someone with a client token")
    assert card.get_by_role("button").count() == 0
    assert page.get_by_label("Message to the agent").count() == 0
    expect(page.get_by_label("Permission mode")).to_be_disabled()
    context.close()


# ── reconnecting ─────────────────────────────────────────────────────────────────────


def test_reconnects_after_a_server_restart_without_gaps_or_doubles(
    page: Page, relay: WebRelay
) -> None:
    agent = relay.agent
    session = agent.create_session("Survives restarts")
    agent.say(session["id"], "before the restart")
    open_session(page, relay, session["id"])
    expect(page.locator(".msg.assistant")).to_have_count(1)
    agent.say(session["id"], "still before")
    expect(page.locator(".msg.assistant")).to_have_count(2)

    relay.server.stop()
    expect(page.locator("#conn")).to_have_text("Reconnecting…")
    relay.server.start()
    # Posted at once, most likely before the page is back: it must arrive by replay.
    agent.say(session["id"], "right after the restart")
    request = agent.ask(session["id"], "Bash", {"command": "echo back"})
    expect(page.locator(".msg.assistant")).to_have_count(3)
    expect(page.locator(f".perm[data-perm-id='{request['id']}']")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("data-connection", "live")
    agent.say(session["id"], "and later")
    expect(page.locator(".msg.assistant")).to_have_count(4)
    expect(page.locator(".msg.assistant").last).to_have_text("and later")
    assert seqs_on_page(page) == [1, 2, 3, 4]
    expect(page.locator(f".perm[data-perm-id='{request['id']}']")).to_have_count(1)
    expect(page.locator("#conn")).to_be_hidden()


def test_waking_up_reconnects_from_the_cursor(page: Page, relay: WebRelay) -> None:
    """A phone that slept: the page becomes visible again with a dead connection and
    reconnects from its cursor at once."""
    agent = relay.agent
    session = agent.create_session("Sleepy")
    open_session(page, relay, session["id"])
    agent.say(session["id"], "one")
    expect(page.locator(".msg.assistant")).to_have_count(1)
    # Simulate the silent death of a sleeping connection: stale, then woken.
    page.evaluate("""() => {
      window.__reconnects = 0;
      const s = window.__tetherStore.stream;
      const orig = s.reconnectNow.bind(s);
      s.reconnectNow = () => { window.__reconnects++; orig(); };
      s.lastByteAt = 0;
      document.dispatchEvent(new Event('visibilitychange'));
    }""")
    assert page.evaluate("window.__reconnects") == 1
    agent.say(session["id"], "two")
    expect(page.locator(".msg.assistant")).to_have_count(2)
    assert seqs_on_page(page) == [1, 2]


def test_a_session_that_starts_waiting_notifies(browser, relay: WebRelay) -> None:
    """With notifications allowed, a new permission request (or a session turning to
    `waiting`) raises a browser notification, unless that session is on screen."""
    # bypass_csp: wait_for_function polls with eval, which the UI's CSP forbids; without it
    # the wait fails whenever the notification is not there at the first look.
    context = browser.new_context(bypass_csp=True)
    context.grant_permissions(["notifications"], origin=relay.url)
    # Record notifications instead of showing them (headless Chromium has no tray).
    context.add_init_script("""
      window.__notes = [];
      window.Notification = class {
        static permission = 'granted';
        static requestPermission() { return Promise.resolve('granted'); }
        constructor(title, options) { window.__notes.push({title, body: options.body}); }
        close() {}
      };""")
    page = context.new_page()
    page.goto(relay.client_link)
    page.wait_for_selector(".list-view")
    agent = relay.agent
    session = agent.create_session("Deploy the thing")
    expect(page.locator(f".session-row[data-id='{session['id']}']")).to_be_visible()
    agent.ask(session["id"], "Bash", {"command": "make deploy"}, title="Deploy to prod")
    page.wait_for_function("window.__notes.length === 1")
    note = page.evaluate("window.__notes[0]")
    assert note == {"title": "Deploy the thing needs you", "body": "Bash: Deploy to prod"}
    agent.patch(session["id"], status="idle")
    agent.patch(session["id"], status="waiting")
    page.wait_for_function("window.__notes.length === 2")
    assert page.evaluate("window.__notes[1].body") == "is waiting for you"
    context.close()


def test_a_revoked_token_signs_the_page_out_with_a_reason(page: Page, relay: WebRelay) -> None:
    token_id = relay.client_link.split("token=", 1)[1].split("_")[1]
    done = subprocess.run(
        [sys.executable, "-m", "tether", "token", "revoke", token_id],
        env=relay.server.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    # The open stream was authorized when it began; the next reconnect is refused (the
    # relay caches good lookups for up to 2 s, so keep nudging until it is).
    page.evaluate("setInterval(() => window.__tetherStore?.stream.reconnectNow(), 500)")
    expect(page.locator(".signin-error")).to_contain_text("no longer accepted")
    assert page.evaluate("localStorage.getItem('tether.token')") is None


# ── honest state ─────────────────────────────────────────────────────────────────────


def test_a_session_whose_runner_is_gone_says_agent_offline(page: Page, relay: WebRelay) -> None:
    agent = relay.agent
    session = agent.create_session("Fragile", status="idle")
    runner = agent.hold(session["id"])
    row = page.locator(f".session-row[data-id='{session['id']}']")
    expect(row).to_contain_text("idle")
    runner.stop()  # as `kill -9` of the runner ends its stream
    expect(row).to_contain_text("agent offline")
    open_session(page, relay, session["id"])
    expect(page.locator("#s-status")).to_contain_text("agent offline")
    prompt = page.get_by_label("Message to the agent")
    prompt.fill("are you there?")
    prompt.press("Enter")
    expect(page.locator(".toast", has_text="queued")).to_be_visible()
    assert agent.wait_message(session["id"], "user_text")["content"]["text"] == "are you there?"
    page.get_by_role("button", name="Interrupt").click()
    expect(page.get_by_text("Nothing to interrupt: the agent is offline.")).to_be_visible()


def test_waiting_sessions_come_first_and_say_what_they_ask(page: Page, relay: WebRelay) -> None:
    agent = relay.agent
    asking = agent.create_session("Asks first")
    agent.create_session("Busy later")  # more recent activity, but asks nothing
    agent.ask(asking["id"], "Bash", {"command": "pytest -x"})
    first = page.locator(".session-row").first
    expect(first).to_have_attribute("data-id", asking["id"])
    expect(first.locator(".row-asks")).to_have_text("wants to run pytest -x")


def test_w_jumps_to_the_next_waiting_session(page: Page, relay: WebRelay) -> None:
    agent = relay.agent
    first = agent.create_session("First to ask")
    second = agent.create_session("Second to ask")
    agent.create_session("Asks nothing")
    agent.ask(first["id"], "Bash", {"command": "make"})
    agent.ask(second["id"], "Bash", {"command": "make test"})
    expect(page.locator(".session-row .row-asks")).to_have_count(2)
    page.keyboard.press("w")
    page.wait_for_selector(f"html[data-session-ready='{first['id']}']")
    page.keyboard.press("w")
    page.wait_for_selector(f"html[data-session-ready='{second['id']}']")
    # The mode picker is a finger-sized target too.
    assert page.get_by_label("Permission mode").bounding_box()["height"] >= 44


def test_details_on_a_phone(browser, relay: WebRelay) -> None:
    """A Markdown table scrolls instead of breaking its words; an unknown session has no
    prompt box; the reconnect pill does not cover the title."""
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.goto(relay.client_link)
    page.wait_for_selector(".list-view")
    agent = relay.agent
    session = agent.create_session("A title that must stay readable")
    cells = " | ".join(["supercalifragilistic"] * 6)
    agent.say(session["id"], f"| {cells} |\n|{'---|' * 6}\n| {cells} |")
    open_session(page, relay, session["id"])
    wrap = page.locator(".table-wrap").first
    expect(wrap).to_be_visible()
    sizes = wrap.evaluate("w => [w.scrollWidth, w.clientWidth]")
    assert sizes[0] > sizes[1]  # it scrolls…
    cell = page.locator(".md td").first
    assert cell.evaluate("td => td.getClientRects().length && td.offsetHeight") < 40  # …whole

    page.evaluate("document.querySelector('#conn').hidden = false")
    pill, title = page.locator("#conn").bounding_box(), page.locator("#s-title").bounding_box()
    assert pill["y"] > title["y"] + title["height"]

    page.goto(f"{relay.url}/#/session/ses_00000000000000ff")
    expect(page.locator("#msgs")).to_contain_text("There is no such session.")
    expect(page.get_by_label("Message to the agent")).to_be_hidden()
    context.close()


def test_a_running_turn_says_for_how_long(page: Page, relay: WebRelay) -> None:
    agent = relay.agent
    session = agent.create_session("Busy", status="idle")
    open_session(page, relay, session["id"])
    prompt = page.get_by_label("Message to the agent")
    prompt.fill("run the tests")
    prompt.press("Enter")
    agent.wait_message(session["id"], "user_text")
    expect(page.locator("#s-status .run-for")).to_have_count(0)  # idle: no turn
    agent.patch(session["id"], status="running")
    expect(page.locator("#s-status")).to_contain_text(re.compile(r"running\s*for \d+:\d\d"))
    expect(page.locator(".note-pop", has_text="Interrupt sent by you")).to_have_count(0)
    page.get_by_role("button", name="Interrupt").click()
    expect(page.locator(".note-pop", has_text="Interrupt sent by you.")).to_be_visible()


def test_titles_are_not_crushed_by_badges_on_a_phone(browser, relay: WebRelay) -> None:
    context = browser.new_context(viewport={"width": 320, "height": 640})
    page = context.new_page()
    page.goto(relay.client_link)
    page.wait_for_selector(".list-view")
    session = relay.agent.create_session("Refactor the payment module safely")
    relay.agent.ask(session["id"], "Bash", {"command": "make"})
    row = page.locator(f".session-row[data-id='{session['id']}']")
    expect(row).to_contain_text("waiting for you")
    title = row.locator(".row-title").bounding_box()
    assert title["width"] >= 150  # most of a phone's row, badges or not
    context.close()
