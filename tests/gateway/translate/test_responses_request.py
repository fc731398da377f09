"""The Responses ⇄ Anthropic request and response mappings, field by field (the table in
docs/gateway.md)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from tether.gateway.translate.anthropic_request_to_openai import ToolNames
from tether.gateway.translate.anthropic_request_to_responses import (
    anthropic_to_responses,
    pack_responses_reasoning,
)
from tether.gateway.translate.anthropic_response_to_responses import (
    response_from_anthropic_message,
)
from tether.gateway.translate.errors import UpstreamResponseError
from tether.gateway.translate.responses_request_to_anthropic import (
    ResponsesContext,
    pack_reasoning,
    responses_to_anthropic,
)
from tether.gateway.translate.responses_stream_to_anthropic import (
    responses_to_anthropic_message,
)

PNG = "data:image/png;base64,iVBORw0KGgo="
FIXTURES = Path(__file__).parents[1] / "fixtures"


def hub(body: dict, **kw) -> tuple[dict, ResponsesContext]:
    return responses_to_anthropic({"model": "m", **body}, model="claude-x", **kw)


def test_plain_string_input_and_defaults() -> None:
    out, ctx = hub({"input": "hi"})
    assert out == {
        "model": "claude-x",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
        "max_tokens": 32000,
    }
    assert not ctx.summaries and not ctx.encrypted_reasoning


def test_items_map_to_alternating_messages() -> None:
    out, _ = hub(
        {
            "input": [
                {"type": "message", "role": "system", "content": "sys"},
                {
                    "role": "user",
                    "content": [
                        {"type": "input_text", "text": "look"},
                        {"type": "input_image", "image_url": PNG},
                        {"type": "input_image", "file_id": "file-1"},
                    ],
                },
                {
                    "type": "message",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": "ok"}],
                },
                {"type": "function_call", "call_id": "c.1", "name": "ls", "arguments": '{"p": 1}'},
                {"type": "function_call_output", "call_id": "c.1", "output": "a b"},
                {"type": "function_call_output", "call_id": "ghost", "output": "orphan"},
                {"role": "user", "content": "next"},
            ]
        }
    )
    assert out["system"] == [{"type": "text", "text": "sys"}]
    assert out["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "look"},
                {
                    "type": "image",
                    "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="},
                },
            ],
        },
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "ok"},
                {"type": "tool_use", "id": "c_1", "name": "ls", "input": {"p": 1}},
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "c_1",
                    "content": [{"type": "text", "text": "a b"}],
                },
                {"type": "text", "text": "next"},
            ],
        },
    ]


def test_interrupted_call_gets_an_error_result() -> None:
    out, _ = hub(
        {
            "input": [
                {"role": "user", "content": "go"},
                {"type": "function_call", "call_id": "c1", "name": "ls", "arguments": "{}"},
                {"role": "user", "content": "stop"},
            ]
        }
    )
    result = out["messages"][2]["content"][0]
    assert result["type"] == "tool_result" and result["tool_use_id"] == "c1"
    assert result["is_error"] is True
    assert out["messages"][2]["content"][1] == {"type": "text", "text": "stop"}


def test_reasoning_items_only_ours_are_replayed() -> None:
    ours = pack_reasoning("thought", "sig")
    out, _ = hub(
        {
            "input": [
                {"role": "user", "content": "q"},
                {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "gAAAA"},
                {"type": "reasoning", "id": "rs_2", "summary": [], "encrypted_content": ours},
                {"role": "assistant", "content": "a"},
            ]
        }
    )
    assert out["messages"][1]["content"] == [
        {"type": "thinking", "thinking": "thought", "signature": "sig"},
        {"type": "text", "text": "a"},
    ]


def test_tools_custom_namespace_and_hosted() -> None:
    out, ctx = hub(
        {
            "input": "x",
            "tools": [
                {"type": "function", "name": "f", "parameters": {"type": "object"}},
                {"type": "custom", "name": "apply_patch", "format": {"type": "text"}},
                {
                    "type": "namespace",
                    "name": "ns",
                    "description": "d",
                    "tools": [{"type": "function", "name": "g"}],
                },
                {"type": "web_search"},
                {"type": "local_shell"},
            ],
            "tool_choice": {"type": "custom", "name": "apply_patch"},
        }
    )
    assert [t["name"] for t in out["tools"]] == ["f", "apply_patch", "g"]
    assert out["tools"][1]["input_schema"]["required"] == ["input"]
    assert out["tool_choice"] == {"type": "tool", "name": "apply_patch"}
    assert ctx.custom_tools == {"apply_patch"}
    assert ctx.namespaces == {"g": "ns"}


@pytest.mark.parametrize(
    ("choice", "parallel", "expected"),
    [
        ("auto", None, {"type": "auto"}),
        ("none", False, {"type": "none"}),
        ("required", False, {"type": "any", "disable_parallel_tool_use": True}),
        ({"type": "function", "name": "missing"}, None, None),
        ({"type": "allowed_tools", "mode": "required", "tools": []}, None, {"type": "any"}),
    ],
)
def test_tool_choice(choice, parallel, expected) -> None:
    body = {"input": "x", "tools": [{"type": "function", "name": "f"}], "tool_choice": choice}
    if parallel is not None:
        body["parallel_tool_calls"] = parallel
    out, _ = hub(body)
    assert out.get("tool_choice") == expected


def test_reasoning_sampling_and_format() -> None:
    out, ctx = hub(
        {
            "input": "x",
            "reasoning": {"effort": "high", "summary": "detailed"},
            "include": ["reasoning.encrypted_content"],
            "max_output_tokens": 5000,
            "temperature": 1.7,
            "text": {"format": {"type": "json_schema", "name": "o", "schema": {"type": "object"}}},
        }
    )
    assert out["thinking"] == {"type": "enabled", "budget_tokens": 4999}
    assert "temperature" not in out  # thinking needs the default sampling
    assert out["output_config"] == {"format": {"type": "json_schema", "schema": {"type": "object"}}}
    assert ctx.summaries and ctx.encrypted_reasoning
    out, _ = hub({"input": "x", "reasoning": {"effort": "none"}, "temperature": 1.7})
    assert "thinking" not in out and out["temperature"] == 1.0


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("previous_response_id", "resp_1", "previous_response_id is not supported"),
        ("conversation", "conv_1", "conversation is not supported"),
        ("background", True, "background responses are not supported"),
        ("input", [], "input must hold at least one message"),
    ],
)
def test_refused(field, value, words) -> None:
    with pytest.raises(ValueError, match=words):
        hub({"input": "x", field: value})


def test_message_to_response_object() -> None:
    ctx = ResponsesContext(model="m", custom_tools={"apply_patch"}, summaries=True)
    message = {
        "id": "msg_1",
        "content": [
            {"type": "thinking", "thinking": "hmm", "signature": "s"},
            {"type": "text", "text": "Here."},
            {"type": "tool_use", "id": "t1", "name": "apply_patch", "input": {"input": "*** P"}},
        ],
        "stop_reason": "max_tokens",
        "usage": {"input_tokens": 10, "cache_read_input_tokens": 90, "output_tokens": 7},
    }
    response = response_from_anthropic_message(message, ctx)
    assert response["id"] == "resp_1"
    assert response["status"] == "incomplete"
    assert response["incomplete_details"] == {"reason": "max_output_tokens"}
    assert [item["type"] for item in response["output"]] == [
        "reasoning",
        "message",
        "custom_tool_call",
    ]
    assert response["output"][0]["summary"] == [{"type": "summary_text", "text": "hmm"}]
    assert "encrypted_content" not in response["output"][0]
    assert response["output"][2]["input"] == "*** P"
    assert response["usage"]["input_tokens"] == 100
    assert response["usage"]["input_tokens_details"] == {"cached_tokens": 90}
    assert response["usage"]["output_tokens_details"] == {"reasoning_tokens": 0}


def test_hub_to_responses_request() -> None:
    reasoning = pack_responses_reasoning("rs_9", "ENC")
    body = {
        "model": "claude",
        "system": [{"type": "text", "text": "A"}, {"type": "text", "text": "B"}],
        "max_tokens": 100,
        "stop_sequences": ["END"],
        "temperature": 0.3,
        "output_config": {"format": {"type": "json_schema", "schema": {"type": "object"}}},
        "tools": [
            {"name": "Read", "input_schema": {"type": "object"}},
            {"type": "web_search_20250305", "name": "web_search"},
        ],
        "tool_choice": {"type": "tool", "name": "Read", "disable_parallel_tool_use": True},
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "see"},
                    {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}},
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "claude's", "signature": "anthropic-sig"},
                    {"type": "thinking", "thinking": "gpt's", "signature": reasoning},
                    {"type": "tool_use", "id": "t1", "name": "Read", "input": {"p": "a"}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "t1",
                        "content": "boom",
                        "is_error": True,
                    },
                    {"type": "text", "text": "fix it"},
                ],
            },
        ],
    }
    out, _ = anthropic_to_responses(body, model="gpt-real")
    assert out["instructions"] == "A\n\nB"
    assert out["max_output_tokens"] == 100
    assert out["temperature"] == 0.3
    assert "stop" not in out and "stop_sequences" not in out
    assert out["text"]["format"]["type"] == "json_schema"
    assert [t["name"] for t in out["tools"]] == ["Read"]
    assert out["tool_choice"] == {"type": "function", "name": "Read"}
    assert out["parallel_tool_calls"] is False
    assert out["input"] == [
        {
            "role": "user",
            "content": [
                {"type": "input_text", "text": "see"},
                {"type": "input_image", "image_url": "https://x/y.png", "detail": "auto"},
            ],
        },
        {
            "type": "reasoning",
            "id": "rs_9",
            "summary": [{"type": "summary_text", "text": "gpt's"}],
            "encrypted_content": "ENC",
        },
        {"type": "function_call", "call_id": "t1", "name": "Read", "arguments": '{"p":"a"}'},
        {"type": "function_call_output", "call_id": "t1", "output": "Error: boom"},
        {"role": "user", "content": [{"type": "input_text", "text": "fix it"}]},
    ]


def test_failed_response_raises() -> None:
    failed = {"status": "failed", "error": {"code": "server_error", "message": "it broke"}}
    with pytest.raises(UpstreamResponseError, match="it broke"):
        responses_to_anthropic_message(failed, model="m", tool_names=ToolNames())


@pytest.mark.parametrize(
    "name",
    [
        "claude_code_gateway_tool_result",
        "claude_code_request_tool_result",
        "claude_code_runner_tool_denied",
        "claude_code_runner_resumed",
    ],
)
def test_claude_code_requests_go_to_a_responses_provider(name: str) -> None:
    raw = orjson.loads((FIXTURES / f"{name}.json").read_bytes())
    out, _ = anthropic_to_responses(raw.get("body", raw), model="gpt-5")
    assert "x-anthropic-billing-header" not in out["instructions"]
    assert out["instructions"]
    calls = [i["call_id"] for i in out["input"] if i.get("type") == "function_call"]
    outputs = [i["call_id"] for i in out["input"] if i.get("type") == "function_call_output"]
    assert sorted(calls) == sorted(outputs)  # every call answered
    assert all(i.get("role") != "assistant" or i.get("type") == "message" for i in out["input"])
    assert out["reasoning"]["summary"] == "auto"
    assert out["include"] == ["reasoning.encrypted_content"]


def test_mid_conversation_system_becomes_a_developer_message() -> None:
    out, _ = anthropic_to_responses(
        {
            "messages": [
                {"role": "user", "content": "a"},
                {"role": "system", "content": "be careful"},
                {"role": "user", "content": "b"},
            ]
        },
        model="gpt-5",
    )
    assert out["input"][1] == {
        "role": "developer",
        "content": [{"type": "input_text", "text": "be careful"}],
    }


def test_thinking_mid_tool_loop_needs_the_reasoning_back() -> None:
    loop = [
        {"role": "user", "content": "go"},
        {"type": "function_call", "call_id": "c1", "name": "ls", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": "a"},
    ]
    reasoning = {"effort": "medium"}
    out, _ = hub({"input": loop, "reasoning": reasoning})
    assert "thinking" not in out  # the call's turn has no thinking block to show
    kept = {"type": "reasoning", "id": "r", "encrypted_content": pack_reasoning("t", "s")}
    out, _ = hub({"input": [loop[0], kept, *loop[1:]], "reasoning": reasoning})
    assert out["thinking"]["type"] == "enabled"
    out, _ = hub({"input": [*loop, {"role": "user", "content": "next"}], "reasoning": reasoning})
    assert "thinking" not in out  # still the same loop: results and text in one turn
