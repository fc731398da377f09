"""OpenAI Chat Completions clients reaching Anthropic upstreams."""

from __future__ import annotations

import json

import pytest

from tether.gateway.translate.anthropic_response_to_openai import response_from_anthropic
from tether.gateway.translate.anthropic_stream_to_openai import AnthropicStreamTranslator
from tether.gateway.translate.openai_request_to_anthropic import (
    DROPPED_FIELDS,
    request_to_anthropic,
)
from tether.gateway.translate.sse import DONE, encode_data


def translate(body: dict, **kwargs) -> dict:
    return request_to_anthropic({"model": "gpt-4o", **body}, model="claude-sonnet-4-5", **kwargs)


def test_system_and_developer_messages_become_system_blocks():
    out = translate(
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "developer", "content": [{"type": "text", "text": "Use tools."}]},
                {"role": "user", "content": "hi"},
            ]
        }
    )
    assert out == {
        "model": "claude-sonnet-4-5",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
        "system": [{"type": "text", "text": "Be brief."}, {"type": "text", "text": "Use tools."}],
        "max_tokens": 8192,
    }


def test_tool_calls_and_tool_messages_pair_into_tool_use_and_one_result_turn():
    out = translate(
        {
            "messages": [
                {"role": "user", "content": "list and count"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "functions.Bash:0",
                            "type": "function",
                            "function": {"name": "Bash", "arguments": '{"command": "ls"}'},
                        },
                        {
                            "id": "call_2",
                            "type": "function",
                            "function": {"name": "Count", "arguments": ""},
                        },
                    ],
                },
                {"role": "tool", "tool_call_id": "functions.Bash:0", "content": "a\nb"},
                {
                    "role": "tool",
                    "tool_call_id": "call_2",
                    "content": [{"type": "text", "text": "2"}],
                },
                {"role": "user", "content": "thanks"},
            ],
        }
    )
    assert out["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "list and count"}]},
        {
            "role": "assistant",
            "content": [
                {
                    "type": "tool_use",
                    "id": "functions_Bash_0",
                    "name": "Bash",
                    "input": {"command": "ls"},
                },
                {"type": "tool_use", "id": "call_2", "name": "Count", "input": {}},
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "functions_Bash_0",
                    "content": [{"type": "text", "text": "a\nb"}],
                },
                {
                    "type": "tool_result",
                    "tool_use_id": "call_2",
                    "content": [{"type": "text", "text": "2"}],
                },
                {"type": "text", "text": "thanks"},
            ],
        },
    ]


def test_images_by_data_url_and_by_link():
    out = translate(
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "what is this"},
                        {
                            "type": "image_url",
                            "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQ"},
                        },
                        {"type": "image_url", "image_url": {"url": "https://x.test/cat.png"}},
                    ],
                }
            ]
        }
    )
    assert out["messages"][0]["content"][1:] == [
        {
            "type": "image",
            "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/4AAQ"},
        },
        {"type": "image", "source": {"type": "url", "url": "https://x.test/cat.png"}},
    ]


def test_tools_choice_stop_sampling_and_user():
    tool = {
        "type": "function",
        "function": {"name": "Bash", "description": "Run", "parameters": {"type": "object"}},
    }
    out = translate(
        {
            "messages": [{"role": "user", "content": "go"}],
            "tools": [tool],
            "tool_choice": "required",
            "parallel_tool_calls": False,
            "stop": "END",
            "temperature": 1.7,
            "top_p": 0.5,
            "user": "u-1",
            "max_completion_tokens": 500,
            "seed": 3,
            "presence_penalty": 0.1,
        }
    )
    assert out["tools"] == [
        {"name": "Bash", "input_schema": {"type": "object"}, "description": "Run"}
    ]
    assert out["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}
    assert out["stop_sequences"] == ["END"]
    assert out["temperature"] == 1.0  # OpenAI allows up to 2, Anthropic up to 1
    assert out["top_p"] == 0.5
    assert out["metadata"] == {"user_id": "u-1"}
    assert out["max_tokens"] == 500
    assert "seed" not in out and "presence_penalty" not in out
    named = translate(
        {
            "messages": [{"role": "user", "content": "go"}],
            "tools": [tool],
            "tool_choice": {"type": "function", "function": {"name": "Bash"}},
        }
    )
    assert named["tool_choice"] == {"type": "tool", "name": "Bash"}
    assert translate(
        {"messages": [{"role": "user", "content": "go"}], "tools": [tool], "tool_choice": "none"}
    )["tool_choice"] == {"type": "none"}


def test_fields_anthropic_has_no_word_for_are_left_out():
    values = {"n": 1, "stream_options": {"include_usage": True}}
    body = {name: values.get(name, "x") for name in DROPPED_FIELDS}
    out = translate({"messages": [{"role": "user", "content": "hi"}], **body})
    assert not DROPPED_FIELDS & set(out)
    assert out["messages"] == [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]


def test_max_tokens_default_and_clamp():
    msgs = {"messages": [{"role": "user", "content": "hi"}]}
    assert translate(msgs)["max_tokens"] == 8192
    assert translate(msgs, max_tokens_limit=4000)["max_tokens"] == 4000
    assert translate({**msgs, "max_tokens": 64000}, max_tokens_limit=32000)["max_tokens"] == 32000


def test_reasoning_effort_becomes_a_thinking_budget_without_sampling_overrides():
    out = translate(
        {
            "messages": [{"role": "user", "content": "hi"}],
            "reasoning_effort": "high",
            "max_tokens": 32000,
            "temperature": 0.3,
        }
    )
    assert out["thinking"] == {"type": "enabled", "budget_tokens": 24576}
    assert "temperature" not in out
    small = translate(
        {
            "messages": [{"role": "user", "content": "hi"}],
            "reasoning_effort": "high",
            "max_tokens": 4000,
        }
    )
    assert small["thinking"]["budget_tokens"] == 3999


def test_first_message_must_be_user_and_same_roles_merge():
    out = translate(
        {
            "messages": [
                {"role": "assistant", "content": "Hi, how can I help?"},
                {"role": "user", "content": "a"},
                {"role": "user", "content": "b"},
            ]
        }
    )
    assert [m["role"] for m in out["messages"]] == ["user", "assistant", "user"]
    assert out["messages"][2]["content"] == [
        {"type": "text", "text": "a"},
        {"type": "text", "text": "b"},
    ]


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ({"n": 2, "messages": [{"role": "user", "content": "hi"}]}, "n > 1"),
        ({"messages": [{"role": "system", "content": "only system"}]}, "at least one"),
        (
            {
                "messages": [
                    {"role": "user", "content": "x"},
                    {
                        "role": "assistant",
                        "tool_calls": [
                            {
                                "id": "c",
                                "type": "function",
                                "function": {"name": "A", "arguments": "{bad"},
                            }
                        ],
                    },
                ]
            },
            "not valid JSON",
        ),
    ],
)
def test_untranslatable_requests_raise_a_clear_value_error(body, match):
    with pytest.raises(ValueError, match=match):
        translate(body)


def test_response_from_anthropic():
    resp = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude",
        "content": [
            {"type": "thinking", "thinking": "hmm", "signature": "sig"},
            {"type": "text", "text": "Listing."},
            {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "ls"}},
        ],
        "stop_reason": "tool_use",
        "usage": {
            "input_tokens": 10,
            "output_tokens": 5,
            "cache_read_input_tokens": 90,
            "cache_creation_input_tokens": 0,
        },
    }
    out = response_from_anthropic(resp, model="gpt-4o")
    assert out["id"] == "chatcmpl-msg_1" and out["object"] == "chat.completion"
    assert out["choices"][0] == {
        "index": 0,
        "message": {
            "role": "assistant",
            "content": "Listing.",
            "reasoning_content": "hmm",
            "tool_calls": [
                {
                    "id": "toolu_1",
                    "type": "function",
                    "function": {"name": "Bash", "arguments": '{"command":"ls"}'},
                }
            ],
        },
        "finish_reason": "tool_calls",
        "logprobs": None,
    }
    assert out["usage"] == {
        "prompt_tokens": 100,
        "completion_tokens": 5,
        "total_tokens": 105,
        "prompt_tokens_details": {"cached_tokens": 90},
    }
    for stop, finish in [
        ("end_turn", "stop"),
        ("max_tokens", "length"),
        ("refusal", "content_filter"),
        ("stop_sequence", "stop"),
    ]:
        resp2 = {**resp, "content": [], "stop_reason": stop}
        assert response_from_anthropic(resp2, model="m")["choices"][0]["finish_reason"] == finish


def anthropic_stream() -> list[tuple[str, dict]]:
    return [
        (
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": "msg_9",
                    "type": "message",
                    "role": "assistant",
                    "content": [],
                    "usage": {"input_tokens": 12, "output_tokens": 1},
                },
            },
        ),
        ("ping", {"type": "ping"}),
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "thinking", "thinking": ""},
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "thinking_delta", "thinking": "plan"},
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "signature_delta", "signature": "s"},
            },
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 1,
                "content_block": {"type": "text", "text": ""},
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 1,
                "delta": {"type": "text_delta", "text": "Sure."},
            },
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": 1}),
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 2,
                "content_block": {"type": "tool_use", "id": "toolu_a", "name": "Read", "input": {}},
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 2,
                "delta": {"type": "input_json_delta", "partial_json": '{"file_path":'},
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 2,
                "delta": {"type": "input_json_delta", "partial_json": ' "/a"}'},
            },
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": 2}),
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 3,
                "content_block": {"type": "tool_use", "id": "toolu_b", "name": "Read", "input": {}},
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 3,
                "delta": {"type": "input_json_delta", "partial_json": '{"file_path": "/b"}'},
            },
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": 3}),
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "tool_use"},
                "usage": {"output_tokens": 30},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]


def test_stream_translator_rebuilds_the_same_turn_as_openai_chunks():
    t = AnthropicStreamTranslator("gpt-4o", include_usage=True)
    chunks = [c for e, d in anthropic_stream() for c in t.feed(e, d)] + t.finish()
    assert t.finish() == []
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert all(c["id"] == "chatcmpl-msg_9" for c in chunks)
    content, reasoning, calls, finish = "", "", {}, None
    for c in chunks[:-1]:
        choice = c["choices"][0]
        delta = choice["delta"]
        content += delta.get("content") or ""
        reasoning += delta.get("reasoning_content") or ""
        for tc in delta.get("tool_calls") or ():
            slot = calls.setdefault(tc["index"], {"id": None, "name": "", "arguments": ""})
            slot["id"] = tc.get("id") or slot["id"]
            slot["name"] += tc["function"].get("name") or ""
            slot["arguments"] += tc["function"].get("arguments") or ""
        finish = choice["finish_reason"] or finish
    assert (content, reasoning, finish) == ("Sure.", "plan", "tool_calls")
    # Tool calls are numbered 0, 1 (not by Anthropic block index 2, 3).
    assert {i: (c["id"], c["name"], json.loads(c["arguments"])) for i, c in calls.items()} == {
        0: ("toolu_a", "Read", {"file_path": "/a"}),
        1: ("toolu_b", "Read", {"file_path": "/b"}),
    }
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {
        "prompt_tokens": 12,
        "completion_tokens": 30,
        "total_tokens": 42,
        "prompt_tokens_details": {"cached_tokens": 0},
    }


def test_stream_error_event_becomes_an_openai_error_chunk():
    t = AnthropicStreamTranslator("gpt-4o")
    t.feed("message_start", anthropic_stream()[0][1])
    [err] = t.feed(
        "error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    )
    assert err == {
        "error": {"message": "Overloaded", "type": "overloaded_error", "param": None, "code": None}
    }
    assert t.finish() == []


def test_encode_data_frames():
    assert encode_data({"a": 1}) == b'data: {"a":1}\n\n'
    assert DONE == b"data: [DONE]\n\n"
