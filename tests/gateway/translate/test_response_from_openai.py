"""Whole Chat Completions as Anthropic messages."""

from __future__ import annotations

import pytest

from tether.gateway.translate.anthropic_request_to_openai import (
    THINKING_SIGNATURE,
    ToolNames,
    request_to_openai,
)
from tether.gateway.translate.errors import UpstreamResponseError
from tether.gateway.translate.openai_response_to_anthropic import response_from_openai


def completion(
    message: dict, finish: str | None = "stop", usage: dict | None = None, **choice
) -> dict:
    return {
        "id": "chatcmpl-123",
        "object": "chat.completion",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", **message},
                "finish_reason": finish,
                **choice,
            }
        ],
        "usage": usage or {"prompt_tokens": 100, "completion_tokens": 7, "total_tokens": 107},
    }


def convert(resp: dict, names: ToolNames | None = None) -> dict:
    return response_from_openai(resp, model="claude-sonnet-4-5", tool_names=names or ToolNames())


def test_plain_text_answer():
    assert convert(completion({"content": "Hello!"})) == {
        "id": "msg_chatcmpl-123",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5",
        "content": [{"type": "text", "text": "Hello!"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 100,
            "output_tokens": 7,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        },
    }


def test_cached_tokens_are_not_counted_as_input():
    usage = {
        "prompt_tokens": 1000,
        "completion_tokens": 5,
        "prompt_tokens_details": {"cached_tokens": 800},
    }
    assert convert(completion({"content": "x"}, usage=usage))["usage"] == {
        "input_tokens": 200,
        "output_tokens": 5,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 800,
    }
    deepseek = {"prompt_tokens": 1000, "completion_tokens": 5, "prompt_cache_hit_tokens": 600}
    assert (
        convert(completion({"content": "x"}, usage=deepseek))["usage"]["cache_read_input_tokens"]
        == 600
    )


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
def test_reasoning_fields_become_a_thinking_block_first(field: str):
    msg = convert(completion({"content": "42", field: "Let me think."}))
    assert msg["content"] == [
        {"type": "thinking", "thinking": "Let me think.", "signature": THINKING_SIGNATURE},
        {"type": "text", "text": "42"},
    ]


def test_think_tags_in_content_become_thinking():
    msg = convert(completion({"content": "<think>\nhmm\n</think>\n\nThe answer is 42."}))
    assert msg["content"] == [
        {"type": "thinking", "thinking": "\nhmm\n", "signature": THINKING_SIGNATURE},
        {"type": "text", "text": "The answer is 42."},
    ]


def test_parallel_tool_calls_with_parsed_arguments_and_names_mapped_back():
    long = "mcp__server__" + "x" * 70
    _, names = request_to_openai(
        {"messages": [], "tools": [{"name": long, "input_schema": {"type": "object"}}]}, model="m"
    )
    short = names.upstream(long)
    msg = convert(
        completion(
            {
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "Read", "arguments": '{"file_path": "/a"}'},
                    },
                    {
                        "id": "call_2",
                        "type": "function",
                        "function": {"name": short, "arguments": ""},
                    },
                ],
            },
            finish="tool_calls",
        ),
        names,
    )
    assert msg["content"] == [
        {"type": "tool_use", "id": "call_1", "name": "Read", "input": {"file_path": "/a"}},
        {"type": "tool_use", "id": "call_2", "name": long, "input": {}},
    ]
    assert msg["stop_reason"] == "tool_use"


def test_tool_ids_that_anthropic_would_reject_are_replaced():
    calls = [
        {"id": "0", "type": "function", "function": {"name": "A", "arguments": "{}"}},
        {"id": "0", "type": "function", "function": {"name": "B", "arguments": "{}"}},
        {"id": "functions.C:2", "type": "function", "function": {"name": "C", "arguments": "{}"}},
        {"type": "function", "function": {"name": "D", "arguments": "{}"}},
    ]
    # "stop" after tool calls (some servers) still means tool_use.
    msg = convert(completion({"content": "", "tool_calls": calls}, finish="stop"))
    ids = [b["id"] for b in msg["content"]]
    assert ids[2] == "functions_C_2"
    assert len(set(ids)) == 4
    assert all(i.startswith("toolu_") for i in (ids[0], ids[1], ids[3]))
    assert msg["stop_reason"] == "tool_use"


def test_broken_tool_arguments_do_not_break_the_turn():
    calls = [
        {
            "id": "c1",
            "type": "function",
            "function": {"name": "A", "arguments": '```json\n{"a": 1}\n```'},
        },
        {"id": "c2", "type": "function", "function": {"name": "B", "arguments": "{oops"}},
    ]
    msg = convert(completion({"tool_calls": calls}, finish="tool_calls"))
    assert [b["input"] for b in msg["content"]] == [{"a": 1}, {}]


@pytest.mark.parametrize(
    ("finish", "stop_reason"),
    [
        ("stop", "end_turn"),
        ("length", "max_tokens"),
        ("content_filter", "refusal"),
        (None, "end_turn"),
        ("eos", "end_turn"),
    ],
)
def test_finish_reasons(finish, stop_reason):
    assert convert(completion({"content": "x"}, finish=finish))["stop_reason"] == stop_reason


def test_matched_stop_string_reported_by_vllm_is_a_stop_sequence():
    msg = convert(completion({"content": "x"}, stop_reason="END"))
    assert (msg["stop_reason"], msg["stop_sequence"]) == ("stop_sequence", "END")


def test_an_empty_answer_has_no_empty_text_block():
    msg = convert(completion({"content": ""}))
    assert msg["content"] == []
    assert convert(completion({"content": "  \n"}))["content"] == []


def test_refusal_field():
    msg = convert(completion({"content": None, "refusal": "I can't help with that."}))
    assert msg["content"] == [{"type": "text", "text": "I can't help with that."}]
    assert msg["stop_reason"] == "refusal"


def test_error_bodies_raise_instead_of_inventing_a_turn():
    with pytest.raises(UpstreamResponseError, match="Rate limit"):
        convert({"error": {"message": "Rate limit reached", "code": 429}})
    with pytest.raises(UpstreamResponseError):
        convert({"id": "x", "choices": []})
    with pytest.raises(UpstreamResponseError, match="provider died"):
        convert(completion({"content": ""}, finish="error", error={"message": "provider died"}))
