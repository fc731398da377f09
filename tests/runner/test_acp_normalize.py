"""ACP updates and permission options ⇄ the relay's words, by example."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tether.runner.acp_normalize import (
    CANCELLED_OUTCOME,
    Transcript,
    agent_mode,
    permission_body,
    permission_outcome,
    state_from_update,
)

OPTIONS = [
    {"optionId": "a1", "name": "Allow", "kind": "allow_once"},
    {"optionId": "a2", "name": "Allow always", "kind": "allow_always"},
    {"optionId": "r1", "name": "Reject", "kind": "reject_once"},
    {"optionId": "r2", "name": "Reject always", "kind": "reject_always"},
]


def chunk(kind: str, text: str) -> dict[str, Any]:
    return {"sessionUpdate": kind, "content": {"type": "text", "text": text}}


def kinds(messages: list[dict[str, Any]]) -> list[tuple[str, Any]]:
    return [(m["kind"], m["content"]) for m in messages]


def test_message_chunks_coalesce_until_something_else_happens() -> None:
    t = Transcript("p")
    assert t.feed(chunk("agent_thought_chunk", "Let me ")) == []
    assert t.feed(chunk("agent_thought_chunk", "think.")) == []
    out = t.feed(chunk("agent_message_chunk", "Hel"))
    assert kinds(out) == [("thinking", {"text": "Let me think."})]
    assert t.feed(chunk("agent_message_chunk", "lo.")) == []
    out = t.end_turn({"stopReason": "end_turn"})
    assert kinds(out) == [
        ("assistant_text", {"text": "Hello."}),
        ("result", {"subtype": "success", "is_error": False, "stop_reason": "end_turn"}),
    ]
    # Every message is the agent's, with a distinct id and the raw update(s) beside it.
    assert {m["role"] for m in out} == {"agent"}
    assert out[0]["raw"]["chunks"][1]["content"]["text"] == "lo."
    assert out[0]["id"] != out[1]["id"]


def test_tool_call_then_final_update_becomes_call_and_result_with_diffs() -> None:
    t = Transcript("p")
    out = t.feed(
        {
            "sessionUpdate": "tool_call",
            "toolCallId": "c1",
            "title": "Edit a.py",
            "kind": "edit",
            "status": "pending",
            "rawInput": {"path": "/w/a.py"},
            "locations": [{"path": "/w/a.py", "line": 3}],
        }
    )
    assert kinds(out) == [
        (
            "tool_call",
            {
                "call_id": "c1",
                "name": "Edit a.py",
                "input": {"path": "/w/a.py"},
                "tool_kind": "edit",
                "status": "pending",
                "locations": [{"path": "/w/a.py", "line": 3}],
            },
        )
    ]
    assert (
        t.feed({"sessionUpdate": "tool_call_update", "toolCallId": "c1", "status": "in_progress"})
        == []
    )
    out = t.feed(
        {
            "sessionUpdate": "tool_call_update",
            "toolCallId": "c1",
            "status": "completed",
            "content": [
                {"type": "content", "content": {"type": "text", "text": "done"}},
                {"type": "diff", "path": "/w/a.py", "oldText": "x", "newText": "y"},
            ],
        }
    )
    [(kind, content)] = kinds(out)
    assert kind == "tool_result"
    assert content["output"] == "done"
    assert content["is_error"] is False
    assert content["diffs"] == [{"path": "/w/a.py", "old_text": "x", "new_text": "y"}]
    assert content["locations"] == [{"path": "/w/a.py", "line": 3}]


def test_failed_tool_falls_back_to_raw_output() -> None:
    t = Transcript("p")
    out = t.feed(
        {
            "sessionUpdate": "tool_call",
            "toolCallId": "c2",
            "title": "Run ls",
            "status": "failed",
            "rawOutput": "no such dir",
        }
    )
    assert [m["kind"] for m in out] == ["tool_call", "tool_result"]
    assert out[1]["content"]["output"] == "no such dir"
    assert out[1]["content"]["is_error"] is True


WRITE_CALL = {
    "toolCallId": "w1",
    "title": "Write denied.txt",
    "kind": "edit",
    "rawInput": {"file_path": "denied.txt"},
}


def test_a_call_asked_before_it_was_announced_shows_and_a_denial_ends_it_once() -> None:
    t = Transcript("p")
    [call] = t.asked(WRITE_CALL)
    assert call["kind"] == "tool_call"
    assert call["content"]["call_id"] == "w1"
    assert call["content"]["input"] == {"file_path": "denied.txt"}
    t.refused("w1", "not today")
    # The agent says nothing of the call and moves on: the denial ends it, before the text.
    chunk = {"sessionUpdate": "agent_message_chunk", "content": {"type": "text", "text": "OK"}}
    [result] = t.feed(chunk)
    assert [m["kind"] for m in t.end_turn({})] == ["assistant_text", "result"]
    assert result["content"] == {
        "call_id": "w1",
        "output": "not today",
        "is_error": True,
        "status": "failed",
    }
    t.refused("w1", None)  # a second denial of a finished call adds nothing
    assert t.end_turn({})[:-1] == []


def test_a_denied_call_the_agent_reports_itself_keeps_the_agents_words() -> None:
    t = Transcript("p")
    t.asked(WRITE_CALL)
    t.refused("w1", "not today")
    update = {"sessionUpdate": "tool_call_update", "toolCallId": "w1", "status": "failed"}
    [result] = t.feed({**update, "rawOutput": "refused: no"})
    assert result["content"]["output"] == "refused: no"
    assert [m["kind"] for m in t.end_turn({})] == ["result"]


def test_a_call_announced_first_is_not_announced_again_when_asked() -> None:
    t = Transcript("p")
    assert [m["kind"] for m in t.feed({"sessionUpdate": "tool_call", **WRITE_CALL})] == [
        "tool_call"
    ]
    assert t.asked(WRITE_CALL) == []
    assert t.asked({"title": "no id"}) == []
    t.refused("unknown", "x")  # a call never seen: nothing to end
    assert [m["kind"] for m in t.end_turn({})] == ["result"]
    # A `tool_call` repeated for a known id is an update, not a second call.
    again = t.feed({"sessionUpdate": "tool_call", **WRITE_CALL, "status": "completed"})
    assert [m["kind"] for m in again] == ["tool_result"]


def test_plan_unknown_updates_and_state_updates() -> None:
    t = Transcript("p")
    t.feed(chunk("agent_message_chunk", "Plan:"))
    out = t.feed(
        {
            "sessionUpdate": "plan",
            "entries": [{"content": "A", "status": "pending", "priority": "low"}],
        }
    )
    assert kinds(out) == [
        ("assistant_text", {"text": "Plan:"}),
        ("plan", {"entries": [{"content": "A", "status": "pending", "priority": "low"}]}),
    ]
    [note] = t.feed({"sessionUpdate": "brand_new", "x": 1})
    assert note["kind"] == "system"
    assert note["content"] == {"subtype": "acp:brand_new"}
    assert note["raw"] == {"sessionUpdate": "brand_new", "x": 1}
    mode = {"sessionUpdate": "current_mode_update", "currentModeId": "plan"}
    assert t.feed(mode) == []
    assert state_from_update(mode) == {"agent_mode": "plan"}
    commands = {
        "sessionUpdate": "available_commands_update",
        "availableCommands": [{"name": "init", "description": "Make AGENTS.md", "input": None}],
    }
    assert state_from_update(commands) == {
        "commands": [{"name": "init", "description": "Make AGENTS.md"}]
    }
    window = {"sessionUpdate": "usage_update", "used": 10, "size": 100}
    assert state_from_update(window) == {"context_window": {"used": 10, "size": 100}}
    assert t.feed(chunk("user_message_chunk", "replayed")) == []


def test_end_turn_reports_usage_and_other_stop_reasons() -> None:
    out = Transcript("p").end_turn(
        {
            "stopReason": "cancelled",
            "usage": {"inputTokens": 7, "outputTokens": 2, "cachedReadTokens": 3},
        }
    )
    assert kinds(out) == [
        (
            "usage",
            {
                "input_tokens": 7,
                "output_tokens": 2,
                "cache_read_input_tokens": 3,
                "cache_creation_input_tokens": 0,
            },
        ),
        ("result", {"subtype": "cancelled", "is_error": False, "stop_reason": "cancelled"}),
    ]


def test_permission_request_carries_the_agents_options_and_labels() -> None:
    body = permission_body(
        {
            "sessionId": "s",
            "toolCall": {
                "toolCallId": "c1",
                "title": "Write a.txt",
                "kind": "edit",
                "rawInput": {"path": "/w/a.txt"},
                "content": [{"type": "diff", "path": "/w/a.txt", "oldText": None, "newText": "hi"}],
                "locations": [{"path": "/w/a.txt"}],
            },
            "options": OPTIONS,
        },
        "codex",
        timeout=30,
    )
    assert body["tool_name"] == "Write a.txt"
    assert body["tool_use_id"] == "c1"
    assert body["title"] == "codex wants to: Write a.txt"
    assert body["description"] == "/w/a.txt"
    assert body["input"] == {
        "path": "/w/a.txt",
        "diffs": [{"path": "/w/a.txt", "old_text": None, "new_text": "hi"}],
    }
    assert body["timeout"] == 30
    assert body["suggestions"][1] == {
        "type": "acp_option",
        "option_id": "a2",
        "name": "Allow always",
        "kind": "allow_always",
    }


@pytest.mark.parametrize(
    ("permission", "option"),
    [
        ({"status": "allowed", "decision": {"behavior": "allow"}}, "a1"),
        ({"status": "allowed", "decision": {"behavior": "allow", "remember": True}}, "a2"),
        ({"status": "denied", "decision": {"behavior": "deny"}}, "r1"),
        ({"status": "expired", "decision": {"behavior": "deny"}}, "r1"),
    ],
)
def test_answers_pick_the_agents_option(permission: dict[str, Any], option: str) -> None:
    assert permission_outcome(permission, OPTIONS) == {
        "outcome": {"outcome": "selected", "optionId": option}
    }


def test_answers_without_a_matching_option_or_cancelled_are_cancelled() -> None:
    assert permission_outcome({"status": "cancelled"}, OPTIONS) == CANCELLED_OUTCOME
    only_always = [OPTIONS[1], OPTIONS[3]]
    allow = {"status": "allowed", "decision": {}}
    assert permission_outcome(allow, only_always)["outcome"]["optionId"] == "a2"
    assert permission_outcome({"status": "denied"}, only_always)["outcome"]["optionId"] == "r2"
    assert permission_outcome(allow, [OPTIONS[2]]) == CANCELLED_OUTCOME


def test_modes_are_matched_by_id_never_guessed() -> None:
    modes = [{"id": "default", "name": "Default"}, {"id": "read-only", "name": "Read only"}]
    assert agent_mode("default", modes) == "default"
    with pytest.raises(ValueError, match="no mode 'plan'; it offers: default, read-only"):
        agent_mode("plan", modes)
    with pytest.raises(ValueError, match="offers no modes"):
        agent_mode("plan", [])


def test_an_answer_naming_one_of_the_agents_options_selects_exactly_it() -> None:
    never = {"status": "denied", "decision": {"behavior": "deny", "remember": [3]}}
    assert permission_outcome(never, OPTIONS)["outcome"]["optionId"] == "r2"
    always = {"status": "allowed", "decision": {"behavior": "allow", "remember": [1]}}
    assert permission_outcome(always, OPTIONS)["outcome"]["optionId"] == "a2"
    # An index that disagrees with the answer (Allow naming a reject option) or points
    # nowhere is not followed: the answer's own kind decides.
    crossed = {"status": "allowed", "decision": {"behavior": "allow", "remember": [2]}}
    assert permission_outcome(crossed, OPTIONS)["outcome"]["optionId"] == "a2"
    beyond = {"status": "denied", "decision": {"behavior": "deny", "remember": [9]}}
    assert permission_outcome(beyond, OPTIONS)["outcome"]["optionId"] == "r1"


def test_a_result_for_a_call_never_announced_brings_its_call_first() -> None:
    # Gemini CLI reports a tool as tool_call_update only: the first one is the call.
    t = Transcript("p")
    first = {
        "sessionUpdate": "tool_call_update",
        "toolCallId": "write_file-1",
        "title": "WriteFile hello.txt",
        "kind": "edit",
        "status": "in_progress",
        "rawInput": {"file_path": "/w/hello.txt"},
        "locations": [{"path": "/w/hello.txt"}],
    }
    [call] = t.feed(first)
    assert call["kind"] == "tool_call"
    assert call["content"]["call_id"] == "write_file-1"
    assert call["content"]["name"] == "WriteFile hello.txt"
    assert call["content"]["input"] == {"file_path": "/w/hello.txt"}
    assert call["raw"] == first
    done = {
        "sessionUpdate": "tool_call_update",
        "toolCallId": "write_file-1",
        "status": "completed",
        "content": [{"type": "content", "content": {"type": "text", "text": "ok"}}],
    }
    [result] = t.feed(done)
    assert result["kind"] == "tool_result"
    assert result["content"]["output"] == "ok"
    # One that arrives already final is the call and its result at once.
    out = t.feed({**done, "toolCallId": "other", "title": "Read"})
    assert [(m["kind"], m["content"]["call_id"]) for m in out] == [
        ("tool_call", "other"),
        ("tool_result", "other"),
    ]


def test_the_agents_own_warnings_are_status_not_answer_text() -> None:
    warning = re.compile(r"^Model metadata for `[^`]*` not found")
    t = Transcript("p", warnings=(warning,))
    said = "Model metadata for `codex-test` not found. Defaulting to fallback metadata."
    [note] = t.feed(chunk("agent_message_chunk", said))
    assert note["kind"] == "status"
    assert note["content"] == {"status": "warning", "text": said}
    assert note["raw"]["content"]["text"] == said
    assert t.feed(chunk("agent_message_chunk", "Hello.")) == []
    # The same words inside an answer are the answer's.
    t.feed(chunk("agent_message_chunk", " Model metadata for `x` not found"))
    out = t.end_turn({"stopReason": "end_turn"})
    assert out[0]["content"] == {"text": "Hello. Model metadata for `x` not found"}
