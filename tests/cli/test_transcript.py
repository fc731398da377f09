"""One transcript renderer for `tether attach` and `tether run`: who wrote a message is read
from its role, never from its kind."""

from __future__ import annotations

import io
from typing import Any

import pytest
from rich.console import Console

from tether.cli.transcript import agent_label, render_message


def shown(message: dict[str, Any], compact: bool = False) -> str:
    console = Console(width=120, record=True, file=io.StringIO())
    rendered = render_message(message, compact)
    if rendered is None:
        return ""
    console.print(rendered)
    return console.export_text().rstrip()


@pytest.mark.parametrize("compact", [False, True])
def test_a_person_is_shown_as_a_person_whatever_the_kind(compact: bool) -> None:
    prompt = {"role": "user", "kind": "user_text", "author": "phone", "content": {"text": "go"}}
    assert shown(prompt, compact) == "› go  (phone)"
    # Stored before kinds were checked: a person's "assistant_text" is still the person's.
    fake = {"role": "user", "kind": "assistant_text", "content": {"text": "I did it"}}
    text = shown(fake, compact)
    assert text.startswith("› [assistant_text]") and text.endswith("(you)")
    assert "●" not in text


@pytest.mark.parametrize("compact", [False, True])
def test_the_agents_words_and_work(compact: bool) -> None:
    agent = {"role": "agent"}
    assert shown({**agent, "kind": "user_text", "content": {"text": "sub task"}}, compact) == (
        "↳ sub task"
    )
    assert "hello" in shown({**agent, "kind": "assistant_text", "content": {"text": "hello"}})
    call = {"call_id": "c", "name": "Bash", "input": {"command": "ls"}}
    assert shown({**agent, "kind": "tool_call", "content": call}, compact) == "⏺ Bash(ls)"
    result = {"call_id": "c", "output": "a\nb\nc", "is_error": False}
    assert shown({**agent, "kind": "tool_result", "content": result}, compact).startswith("  ⎿ a")
    assert shown({**agent, "kind": "usage", "content": {"input_tokens": 3}}, compact) == ""
    plan = {"entries": [{"content": "read", "status": "completed"}, {"content": "fix"}]}
    assert shown({**agent, "kind": "plan", "content": plan}, compact) == (
        "plan:\n  ✓ read\n  · fix"
    )
    turn = {"subtype": "success", "num_turns": 2, "total_cost_usd": 0.01}
    assert shown({**agent, "kind": "result", "content": turn}) == "■ turn success, 2 steps, $0.0100"
    waited = {"subtype": "success", "duration_ms": 52_400, "waiting_ms": 40_100}
    assert shown({**agent, "kind": "result", "content": waited}) == (
        "■ turn success, took 12 s (+40 s waiting for you)"
    )


def test_the_start_of_a_session_and_unknown_system_frames() -> None:
    init = {"subtype": "init", "model": "opus", "cwd": "/srv", "permission_mode": "plan"}
    assert shown({"role": "system", "kind": "system", "content": init}) == (
        "· opus started in /srv (mode plan)"
    )
    reset = {"subtype": "conversation_reset"}
    assert shown({"role": "system", "kind": "system", "content": reset}).startswith(
        "· conversation_reset: "
    )


def test_compact_assistant_text_is_one_plain_line() -> None:
    message = {"role": "agent", "kind": "assistant_text", "content": {"text": "# Title\n**b**"}}
    assert shown(message, compact=True) == "● # Title **b**"


def test_the_agent_label_names_the_agent_and_its_version() -> None:
    acp = {"agent": "codex", "agent_state": {"agent_info": {"name": "codex-acp", "version": "0.9"}}}
    assert agent_label(acp) == "codex 0.9"
    claude = {"agent": "claude-code", "agent_state": {"claude_code_version": "2.1.0"}}
    assert agent_label(claude) == "claude-code 2.1.0"
    assert agent_label({"agent": None}) == "agent"


@pytest.mark.parametrize("compact", [False, True])
def test_an_interrupt_is_a_note_and_an_interrupted_tool_says_so(compact: bool) -> None:
    agent = {"role": "agent"}
    notice = {"text": "[Request interrupted by user for tool use]", "interrupt": True}
    assert shown({**agent, "kind": "user_text", "content": notice}, compact) == "■ interrupted"
    named = {**notice, "interrupted_by": "phone"}
    assert shown({**agent, "kind": "user_text", "content": named}, compact) == (
        "■ interrupted by phone"
    )
    words = "The user doesn't want to proceed with this tool use. The tool use was rejected"
    stopped = {"call_id": "c", "output": words, "is_error": True, "interrupted": True}
    assert shown({**agent, "kind": "tool_result", "content": stopped}, compact) == (
        "  ⎿ interrupted"
    )
    turn = {"subtype": "success", "interrupted_by": "TETHER_TOKEN", "duration_ms": 3000}
    assert shown({**agent, "kind": "result", "content": turn}, compact) == (
        "■ turn interrupted by the admin, took 3.0 s"
    )
