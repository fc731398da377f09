"""normalize(): the real stream of the pinned claude (recorded) and the edge cases."""

from __future__ import annotations

import json
from pathlib import Path

from tether.protocol import kind_error
from tether.runner.normalize import MAX_RAW_BYTES, message_id, normalize, tool_output

STREAM = Path(__file__).parent / "fixtures" / "claude_stream_write.jsonl"


def recorded() -> list[dict]:
    return [json.loads(line) for line in STREAM.read_text().splitlines() if line.strip()]


def test_recorded_stream_becomes_unified_kinds_in_order() -> None:
    out = [m for raw in recorded() for m in normalize(raw)]
    kinds = [m["kind"] for m in out]
    assert kinds == ["system", "tool_call", "tool_result", "assistant_text", "usage", "result"]
    init, call, result, text, usage, end = out
    assert init["role"] == "system"
    assert init["content"]["claude_session_id"] == recorded()[0]["session_id"]
    assert init["content"]["model"] == "claude-opus-5-5"
    assert "Write" in init["content"]["tools"]
    assert call["content"] == {
        "call_id": "toolu_test0001",
        "name": "Write",
        "input": {"file_path": "/tmp/probe/proj/a.txt", "content": "hi\n"},
    }
    assert result["content"]["call_id"] == "toolu_test0001"
    assert result["content"]["is_error"] is False
    assert text["content"] == {"text": "Done writing."}
    assert usage["content"]["input_tokens"] == 24 and usage["content"]["output_tokens"] == 14
    assert end["content"]["subtype"] == "success" and end["content"]["is_error"] is False
    assert end["content"]["num_turns"] == 2
    # Nothing read from Claude's stream speaks as the user: the runner only takes
    # people's messages (role user) as prompts.
    assert {m["role"] for m in out} <= {"agent", "system"}
    # The raw event rides along (once per event).
    assert call["raw"]["uuid"] == recorded()[1]["uuid"]
    assert usage["raw"]["type"] == "result" and end["raw"] == {"see": usage["id"]}


def test_ids_are_deterministic_and_unique() -> None:
    first = [m["id"] for raw in recorded() for m in normalize(raw)]
    again = [m["id"] for raw in recorded() for m in normalize(raw)]
    assert first == again
    assert len(set(first)) == len(first)


def test_event_without_uuid_gets_a_content_digest_id() -> None:
    raw = {"type": "rate_limit_event", "rate_limit_info": {"status": "allowed"}}
    assert message_id(raw) == message_id(dict(reversed(list(raw.items()))))
    assert message_id(raw) != message_id({**raw, "rate_limit_info": {"status": "rejected"}})
    [msg] = normalize(raw)
    assert msg["kind"] == "system" and msg["content"] == {"subtype": "rate_limit_event"}


def test_assistant_blocks_thinking_empty_text_and_errors() -> None:
    raw = {
        "type": "assistant",
        "uuid": "u1",
        "error": "rate_limit",
        "message": {
            "content": [
                {"type": "thinking", "thinking": "hmm", "signature": "s"},
                {"type": "text", "text": ""},
                {"type": "text", "text": "hello"},
                {"type": "tool_use", "id": "t1", "name": "Bash", "input": {"command": "ls"}},
            ]
        },
    }
    out = normalize(raw)
    assert [m["kind"] for m in out] == ["thinking", "assistant_text", "tool_call", "error"]
    assert [m["id"] for m in out] == ["cc-u1:0", "cc-u1:2", "cc-u1:3", "cc-u1:error"]
    assert out[-1]["content"]["message"] == "model error: rate_limit"


def test_subagent_messages_name_their_parent() -> None:
    raw = {
        "type": "assistant",
        "uuid": "u2",
        "parent_tool_use_id": "toolu_parent",
        "message": {"content": [{"type": "text", "text": "inside"}]},
    }
    [msg] = normalize(raw)
    assert msg["content"]["parent_tool_use_id"] == "toolu_parent"


def test_user_frames_tool_results_and_text() -> None:
    raw = {
        "type": "user",
        "uuid": "u3",
        "message": {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "t1",
                    "is_error": True,
                    "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
                },
                {"type": "text", "text": "[Request interrupted by user]"},
            ],
        },
    }
    result, text = normalize(raw)
    assert result["content"] == {"call_id": "t1", "output": "a\nb", "is_error": True}
    assert text["kind"] == "user_text" and text["role"] == "agent"
    assert text["content"] == {"text": "[Request interrupted by user]", "interrupt": True}
    assert normalize({"type": "user", "uuid": "u4", "message": {"content": "plain"}})[0][
        "content"
    ] == {"text": "plain"}


def test_a_tool_stopped_by_an_interrupt_is_marked_interrupted() -> None:
    """Claude Code's result for a tool it stopped on an interrupt (its words, as the
    pinned CLI writes them) reads as a refusal; it is marked so viewers say what happened."""
    words = (
        "The user doesn't want to proceed with this tool use. The tool use was rejected "
        "(eg. if it was a file edit, the new_string was NOT written to the file). STOP what "
        "you are doing and wait for the user to tell you how to proceed."
    )
    blocks = [
        {"type": "tool_result", "tool_use_id": "t1", "is_error": True, "content": words},
        {"type": "tool_result", "tool_use_id": "t2", "is_error": True, "content": "Denied."},
        {"type": "text", "text": "[Request interrupted by user for tool use]"},
    ]
    stopped, denied, notice = normalize(
        {"type": "user", "uuid": "u5", "message": {"role": "user", "content": blocks}}
    )
    assert stopped["content"]["interrupted"] is True
    assert "interrupted" not in denied["content"]
    assert notice["content"]["interrupt"] is True


def test_tool_output_keeps_non_text_content() -> None:
    image = [{"type": "image", "source": {"type": "base64", "data": "xx"}}]
    assert tool_output(image) == image
    assert tool_output(None) == ""


def test_skipped_and_status_frames() -> None:
    assert normalize({"type": "stream_event", "event": {}}) == []
    assert normalize({"type": "keep_alive"}) == []
    assert normalize({"type": "system", "subtype": "session_state_changed", "state": "idle"}) == []
    [status] = normalize(
        {"type": "system", "subtype": "status", "status": "compacting", "uuid": "u5"}
    )
    assert status["kind"] == "status" and status["content"]["status"] == "compacting"
    [retry] = normalize(
        {
            "type": "system",
            "subtype": "api_retry",
            "attempt": 1,
            "max_retries": 3,
            "retry_delay_ms": 500,
            "error_status": 529,
            "uuid": "u6",
        }
    )
    assert retry["content"] == {
        "status": "retrying",
        "text": "model API error 529; retry 1/3 in 0.5s",
    }


def test_error_result_and_conversation_reset() -> None:
    raw = {
        "type": "result",
        "subtype": "error_during_execution",
        "is_error": True,
        "uuid": "u7",
        "errors": ["boom"],
        "usage": {},
        "terminal_reason": "aborted_tools",
    }
    usage, result = normalize(raw)
    assert usage["content"]["input_tokens"] == 0
    assert result["content"]["is_error"] is True and result["content"]["errors"] == ["boom"]
    assert result["content"]["terminal_reason"] == "aborted_tools"
    [reset] = normalize(
        {
            "type": "conversation_reset",
            "new_conversation_id": "new-id",
            "uuid": "u8",
            "session_id": "old",
        }
    )
    assert reset["content"]["claude_session_id"] == "new-id"


def test_huge_raw_is_cut_down_but_content_kept() -> None:
    big = "x" * (MAX_RAW_BYTES + 10)
    raw = {
        "type": "user",
        "uuid": "u9",
        "message": {"content": [{"type": "tool_result", "tool_use_id": "t", "content": big}]},
    }
    [msg] = normalize(raw)
    assert msg["raw"]["truncated"] is True and msg["raw"]["uuid"] == "u9"
    assert len(msg["content"]["output"]) >= 200_000


def test_everything_normalized_is_a_kind_its_role_may_post() -> None:
    # The relay refuses (422) a kind its role may not post, and the publisher drops what
    # the relay refuses: every frame shape must come out as something the relay takes.
    frames = [
        *recorded(),
        {"type": "assistant", "uuid": "a", "message": {"content": [{"type": "text", "text": "x"}]}},
        {
            "type": "assistant",
            "uuid": "b",
            "error": "rate_limit",
            "message": {"content": [{"type": "thinking", "thinking": "hm"}]},
        },
        {"type": "user", "uuid": "c", "message": {"content": "a subagent's prompt"}},
        {"type": "user", "uuid": "d", "message": {"content": [{"type": "text", "text": "t"}]}},
        {"type": "system", "subtype": "status", "status": "compacting", "uuid": "e"},
        {"type": "system", "subtype": "api_retry", "attempt": 1, "uuid": "f"},
        {"type": "system", "subtype": "hook_response", "uuid": "g"},
        {"type": "conversation_reset", "new_conversation_id": "n", "uuid": "h"},
        {"type": "rate_limit_event", "uuid": "i"},
        {"type": "result", "subtype": "success", "uuid": "j", "usage": {}},
    ]
    out = [m for raw in frames for m in normalize(raw)]
    assert {m["kind"] for m in out} >= {"user_text", "assistant_text", "thinking", "error"}
    for message in out:
        assert kind_error(message["role"], message["kind"]) is None, message
