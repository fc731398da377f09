"""The terminal's pure parts: how requests, answers and transcript lines read."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tether.cli.answers import (
    Answer,
    QuestionForm,
    choices,
    parse_answer,
    read_questions,
    remember_label,
    respond_args,
)
from tether.cli.render import (
    ago,
    asks,
    describe_request,
    edit_diff,
    fold,
    one_line,
    resolution,
    session_row,
    short_path,
    status_line,
    tally,
    tool_call_line,
    tool_result_text,
    waiting_first,
)
from tether.cli.transcript import render_message

NOW = datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)


def test_fold_keeps_short_text_and_says_what_it_cut() -> None:
    assert fold("a\nb") == "a\nb"
    folded = fold("\n".join(str(i) for i in range(30)), lines=5)
    assert folded.splitlines() == ["0", "1", "2", "3", "4", "… 25 more lines"]
    assert fold("x" * 500, width=10) == "x" * 10 + "… (+490 chars)"
    assert one_line("a\n  b\tc", 100) == "a b c"
    assert one_line("abcdef", 4) == "abc…"


@pytest.mark.parametrize(
    ("stamp", "text"),
    [
        ("2026-11-24T11:59:50.000Z", "10s ago"),
        ("2026-11-24T11:57:00Z", "3m ago"),
        ("2026-11-24T07:00:00Z", "5h ago"),
        ("2026-11-21T12:00:00Z", "3d ago"),
        (None, "-"),
        ("garbage", "garbage"),
    ],
)
def test_ago(stamp: str | None, text: str) -> None:
    assert ago(stamp, NOW) == text


def test_short_path_uses_tilde_for_home_only() -> None:
    assert short_path("/home/ann/proj", "/home/ann") == "~/proj"
    assert short_path("/home/annex", "/home/ann") == "/home/annex"
    assert short_path(None) == "-"


def test_a_bash_request_reads_as_a_command() -> None:
    view = describe_request("Bash", {"command": "rm -rf build", "description": "clean up"})
    assert view.summary == "run a shell command: clean up"
    assert view.body == "$ rm -rf build" and view.lexer == "bash"


def test_a_write_request_previews_the_file_folded() -> None:
    content = "\n".join(f"line {i}" for i in range(100))
    view = describe_request("Write", {"file_path": "/src/app.py", "content": content})
    assert view.summary == "write /src/app.py (100 lines)" and view.lexer == "python"
    assert view.body.splitlines()[-1] == "… 80 more lines"


def test_an_edit_request_reads_as_a_diff() -> None:
    view = describe_request(
        "Edit",
        {
            "file_path": "a.txt",
            "old_string": "one\ntwo\n",
            "new_string": "one\nTWO\n",
            "replace_all": True,
        },
    )
    assert view.summary == "edit every match in a.txt" and view.lexer == "diff"
    assert view.body.splitlines() == [
        "@@ -1,2 +1,2 @@",
        "  1 1 │ one",
        "- 2   │ two",
        "+   2 │ TWO",
    ]
    multi = describe_request(
        "MultiEdit",
        {
            "file_path": "b.txt",
            "edits": [
                {"old_string": "a", "new_string": "b"},
                {"old_string": "c", "new_string": "d"},
            ],
        },
    )
    assert multi.summary == "make 2 edits to b.txt" and "+   1 │ d" in multi.body
    assert "@@ edit 2 of 2 @@" in multi.body


def test_other_tools_read_as_folded_json() -> None:
    view = describe_request("mcp__db__query", {"sql": "select 1", "rows": list(range(50))})
    assert view.summary == "use mcp__db__query" and view.lexer == "json"
    assert view.body.endswith("more lines")
    assert describe_request("WebFetch", {"url": "https://x.org"}).summary == "fetch https://x.org"


def test_resolution_says_who_and_how() -> None:
    decided = {"behavior": "deny", "message": "no", "decided_by": "phone", "remember": False}
    assert resolution({"status": "denied", "decision": decided}) == "denied by phone: no"
    assert (
        resolution({"status": "allowed", "decision": {"decided_by": "web", "remember": True}})
        == "allowed by web (always)"
    )
    assert (
        resolution({"status": "cancelled", "decision": {"message": "moved on"}})
        == "cancelled by the agent (moved on)"
    )
    assert resolution({"status": "expired", "decision": {}}).startswith("expired")
    by_admin = {"decided_by": "TETHER_TOKEN", "remember": [0]}
    assert (
        resolution({"status": "allowed", "decision": by_admin})
        == "allowed by the admin (and a rule remembered)"
    )


@pytest.mark.parametrize(
    ("line", "answer"),
    [
        ("a", Answer("allow")),
        ("Y", Answer("allow")),
        ("allow", Answer("allow")),
        ("/allow", Answer("allow")),
        ("A", Answer("help")),  # no rule was offered: nothing to remember
        ("1", Answer("help")),
        ("e", Answer("expand")),
        ("/deny no", Answer("deny", "no")),
        ("d", Answer("deny")),
        ("n  too risky ", Answer("deny", "too risky")),
        ("deny because", Answer("deny", "because")),
        ("s", Answer("skip")),
        ("q", Answer("quit")),
        ("", Answer("help")),
        ("what", Answer("help")),
    ],
)
def test_parse_answer(line: str, answer: Answer) -> None:
    assert parse_answer(line) == answer


def test_transcript_lines() -> None:
    assert tool_call_line({"name": "Bash", "input": {"command": "ls\n-la"}}) == "Bash(ls -la)"
    assert tool_call_line({"name": "Think", "input": {}}) == "Think()"
    assert tool_result_text({"output": "1\n2\n3"}) == "1\n2\n… 1 more line"
    assert tool_result_text({"output": [{"type": "text", "text": "block"}]}) == "block"
    assert tool_result_text({"output": ""}) == "(no output)"
    line = status_line(
        {"model": "m", "permission_mode": "plan", "status": "idle"},
        {"input_tokens": 12345, "output_tokens": 7},
    )
    assert line == "m · mode plan · 12.3k in / 7 out · idle"


def test_the_status_line_says_how_long_a_turn_runs() -> None:
    running = {"model": "m", "permission_mode": "default", "status": "running"}
    line = status_line(running, {}, "2026-11-24T11:58:55Z", NOW)
    assert line.endswith(" · running for 1:05")
    assert status_line(running, {}, None, NOW).endswith(" · running")  # start unknown
    waiting = {**running, "pending_permissions": 1}
    assert status_line(waiting, {}, "2026-11-24T11:58:55Z", NOW).endswith(" · waiting")


def test_the_status_line_counts_usage_as_the_turn_lines_and_the_web_do() -> None:
    """Two turns: the status line's cost is the sum of what the two result lines said, and
    its input counts cache reads and writes (as the web's header does)."""
    usage: dict = {}
    agent = {"role": "agent"}
    for cost in (0.01, 0.02):
        report = {"input_tokens": 100, "cache_read_input_tokens": 900, "output_tokens": 50}
        tally(usage, {**agent, "kind": "usage", "content": {**report, "cost_usd": cost}})
        tally(usage, {**agent, "kind": "result", "content": {"total_cost_usd": cost}})
    line = status_line({"model": "m", "status": "idle"}, usage)
    assert line == "m · mode default · 2.0k in / 100 out · $0.0300 · idle"
    # An agent that reports cost only on its result (no usage cost): the last result's.
    only_result: dict = {}
    tally(only_result, {**agent, "kind": "result", "content": {"total_cost_usd": 0.5}})
    assert "$0.5000" in status_line({"model": "m", "status": "idle"}, only_result)


def test_session_row() -> None:
    row = session_row(
        {
            "id": "ses_1",
            "title": "t",
            "agent": "claude-code",
            "status": "running",
            "cwd": "/srv",
            "pending_permissions": 2,
            "last_activity_at": "2026-11-24T11:59:00Z",
        },
        NOW,
    )
    assert row == ("ses_1", "waiting (2)", "1m ago", "t", "/srv", "")
    offline = {"id": "ses_2", "status": "idle", "agent_online": False}
    assert session_row(offline, NOW)[1] == "agent offline"
    assert asks({"tool_name": "Bash", "input": {"command": "pytest -x\nmore"}}) == (
        "wants to run `pytest -x`"
    )
    sessions = [{"id": "a"}, {"id": "b"}, {"id": "c", "status": "ended"}, {"id": "d"}]
    pending = [
        {"session_id": "d", "created_at": "2"},
        {"session_id": "b", "created_at": "1"},
        {"session_id": "c", "created_at": "0"},
    ]
    assert [s["id"] for s in waiting_first(sessions, pending)] == ["b", "d", "a", "c"]


def test_one_answer_language_with_rules_to_remember() -> None:
    """A rule is chosen by the number shown beside it; `A` picks it only when it is the
    only one, and the answer names exactly that rule by its index."""
    npm = {
        "type": "addRules",
        "rules": [{"toolName": "Bash", "ruleContent": "npm test:*"}],
        "behavior": "allow",
        "destination": "localSettings",
    }
    edits = {"type": "setMode", "mode": "acceptEdits", "destination": "session"}
    request = {"tool_name": "Bash", "input": {"command": "npm test"}, "suggestions": [npm, edits]}
    assert choices(request, "/proj") == [
        ("y", "Yes"),
        ("1", "Yes, and don't ask again this session for `npm test:*` commands in /proj"),
        ("2", "Yes, allow all edits this session"),
        ("n", "No (n <reason> tells the agent why)"),
    ]
    assert parse_answer("2", [0, 1]) == Answer("remember", index=1)
    assert parse_answer("3", [0, 1]) == Answer("help")
    assert parse_answer("A", [0, 1]) == Answer("help")  # which one? the person must say
    assert parse_answer("A", [0]) == Answer("remember", index=0)
    assert respond_args(Answer("remember", index=1)) == {"behavior": "allow", "remember": [1]}
    assert respond_args(Answer("allow")) == {"behavior": "allow"}
    assert respond_args(Answer("deny", "why")) == {"behavior": "deny", "message": "why"}
    assert remember_label({"type": "addDirectories", "directories": ["/tmp"]}) == (
        "Yes, and allow access to `/tmp` this session"
    )


def test_a_long_command_is_never_cut_and_expands_whole() -> None:
    tail = "&& rm -rf /srv/data/" + "x" * 600
    view = describe_request("Bash", {"command": "make clean " + tail})
    assert tail in view.body and "chars)" not in view.body
    many = "\n".join(f"echo {i}" for i in range(50))
    assert "more lines" in describe_request("Bash", {"command": many}).body
    assert describe_request("Bash", {"command": many}, full=True).body.endswith("echo 49")
    assert (
        describe_request("Write", {"file_path": "a", "content": "x"}).summary == "write a (1 line)"
    )


def test_plan_and_todo_requests_read_as_what_they_are() -> None:
    plan = describe_request("ExitPlanMode", {"plan": "# Plan\n1. fix"})
    assert plan.body == "# Plan\n1. fix" and plan.lexer == "markdown"
    todos = describe_request(
        "TodoWrite",
        {"todos": [{"content": "a", "status": "completed"}, {"content": "b", "status": "pending"}]},
    )
    assert todos.body == "☑ a\n☐ b"


def test_a_question_is_a_form() -> None:
    request = {
        "tool_name": "AskUserQuestion",
        "input": {
            "questions": [
                {"question": "Which db?", "header": "DB", "options": [{"label": "sqlite"}, "pg"]},
                {"question": "Extras?", "multiSelect": True, "options": ["a", "b", "c"]},
            ]
        },
    }
    form = QuestionForm(request, read_questions(request) or [])
    assert "DB: Which db?  (question 1 of 2)" in form.ask() and "  2  pg" in form.ask()
    assert form.feed("7") == "7 is not one of the options (1–2)"
    assert form.feed("2") is None and not form.done
    assert form.feed("1, 3") is None and form.done
    assert form.updated_input()["answers"] == {"Which db?": "pg", "Extras?": "a, c"}
    other = QuestionForm(request, read_questions(request) or [])
    other.feed("mysql, please")
    assert other.answers == {"Which db?": "mysql, please"}
    assert read_questions({"tool_name": "Bash", "input": {}}) is None


def test_the_terminal_diff_keeps_lines_apart() -> None:
    diff = edit_diff("x = 1\ny = 2", "x = 1\ny = 3\n")
    assert "- 2   │ y = 2" in diff.splitlines() and "+   2 │ y = 3" in diff.splitlines()
    assert "  1 1 │ x = 1" in diff.splitlines()  # unchanged is context
    assert "2+" not in diff  # no line glued to the next


def test_the_terminal_diff_has_context_and_line_numbers() -> None:
    """Like the web's card: each change with three unchanged lines around it, the lines
    between far-apart changes left out, every line numbered in the old and the new text."""
    old = "\n".join(f"line {i}" for i in range(1, 21))
    new = old.replace("line 3", "LINE 3").replace("line 17", "line 17\nadded")
    rows = edit_diff(old, new).splitlines()
    assert rows[0] == "@@ -1,6 +1,6 @@" and rows[1] == "   1  1 │ line 1"
    assert "-  3    │ line 3" in rows and "+     3 │ LINE 3" in rows
    assert "  10 10 │ line 10" not in rows  # far from both changes
    assert "@@ -15,6 +15,7 @@" in rows and "+    18 │ added" in rows
    assert "  18 19 │ line 18" in rows  # numbered on each side
    assert edit_diff("same", "same") == "(no change)"


def test_failing_output_shows_its_end_and_todos_are_a_checklist() -> None:
    out = "\n".join(f"step {i}" for i in range(30)) + "\nError: boom"
    shown = tool_result_text({"output": out, "is_error": True})
    assert shown.endswith("step 29\nError: boom") and "29 earlier lines" in shown
    todo = render_message(
        {
            "role": "agent",
            "kind": "tool_call",
            "content": {
                "name": "TodoWrite",
                "input": {"todos": [{"content": "a", "status": "completed"}]},
            },
        }
    )
    assert todo is not None and "☑ a" in str(todo)
