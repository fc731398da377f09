"""Gemini ⇄ the hub (Anthropic Messages): requests and whole responses, both directions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tether.gateway.gemini_surface import gemini_features
from tether.gateway.translate.anthropic_request_to_gemini import anthropic_request_to_gemini
from tether.gateway.translate.anthropic_stream_to_gemini import anthropic_response_to_gemini
from tether.gateway.translate.gemini_request_to_anthropic import (
    count_request_to_anthropic,
    gemini_request_to_anthropic,
)
from tether.gateway.translate.gemini_stream_to_anthropic import gemini_response_to_anthropic
from tether.gateway.translate.gemini_wire import gemini_error

FIXTURES = Path(__file__).parents[1] / "fixtures"


def user(*parts: dict) -> dict:
    return {"role": "user", "parts": list(parts)}


def model(*parts: dict) -> dict:
    return {"role": "model", "parts": list(parts)}


def call(name: str, **args: object) -> dict:
    return {"functionCall": {"name": name, "args": args}}


def answer(name: str, output: str) -> dict:
    return {"functionResponse": {"name": name, "response": {"output": output}}}


# --- Gemini client → hub ----------------------------------------------------------------


def test_contents_system_and_generation_config():
    hub = gemini_request_to_anthropic(
        {
            "contents": [user({"text": "Hi"}), model({"text": "Hello"}), user({"text": "More"})],
            "systemInstruction": {"parts": [{"text": "Be brief."}, {"text": "Be kind."}]},
            "generationConfig": {
                "maxOutputTokens": 500,
                "temperature": 1.6,
                "topP": 0.9,
                "topK": 40,
                "stopSequences": ["END"],
            },
        },
        model="claude-x",
        stream=True,
    )
    assert hub == {
        "model": "claude-x",
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "Hi"}]},
            {"role": "assistant", "content": [{"type": "text", "text": "Hello"}]},
            {"role": "user", "content": [{"type": "text", "text": "More"}]},
        ],
        "system": [{"type": "text", "text": "Be brief.\nBe kind."}],
        "max_tokens": 500,
        "temperature": 1.0,  # Gemini allows up to 2, Anthropic 1
        "top_p": 0.9,
        "top_k": 40,
        "stop_sequences": ["END"],
        "stream": True,
    }


def test_snake_case_fields_are_read_too():
    hub = gemini_request_to_anthropic(
        {
            "contents": [user({"inline_data": {"mime_type": "image/png", "data": "AAAA"}})],
            "system_instruction": {"parts": [{"text": "S"}]},
            "generation_config": {"max_output_tokens": 7},
        },
        model="m",
    )
    assert hub["messages"][0]["content"][0]["source"] == {
        "type": "base64",
        "media_type": "image/png",
        "data": "AAAA",
    }
    assert hub["system"] == [{"type": "text", "text": "S"}]
    assert hub["max_tokens"] == 7


def test_max_tokens_limited_by_provider():
    body = {"contents": [user({"text": "x"})], "generationConfig": {"maxOutputTokens": 99999}}
    assert gemini_request_to_anthropic(body, model="m", max_tokens_limit=1000)["max_tokens"] == 1000
    assert (
        gemini_request_to_anthropic({"contents": [user({"text": "x"})]}, model="m")["max_tokens"]
        == 16384
    )


def test_tools_from_parameters_and_parameters_json_schema():
    hub = gemini_request_to_anthropic(
        {
            "contents": [user({"text": "go"})],
            "tools": [
                {
                    "functionDeclarations": [
                        {
                            "name": "read_file",
                            "description": "Read",
                            "parameters": {
                                "type": "OBJECT",
                                "properties": {"path": {"type": "STRING"}},
                                "required": ["path"],
                            },
                        },
                        {
                            "name": "run_shell_command",
                            "parametersJsonSchema": {
                                "type": "object",
                                "properties": {"command": {"type": "string"}},
                            },
                        },
                    ]
                },
                {"googleSearch": {}},
            ],
            "toolConfig": {"functionCallingConfig": {"mode": "ANY"}},
        },
        model="m",
    )
    assert hub["tools"] == [
        {
            "name": "read_file",
            "description": "Read",
            "input_schema": {
                "type": "object",
                "properties": {"path": {"type": "string"}},
                "required": ["path"],
            },
        },
        {
            "name": "run_shell_command",
            "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}},
        },
    ]
    assert hub["tool_choice"] == {"type": "any"}


@pytest.mark.parametrize(
    ("config", "choice", "tools"),
    [
        ({"mode": "NONE"}, {"type": "none"}, ["a", "b"]),
        ({"mode": "AUTO"}, {"type": "auto"}, ["a", "b"]),
        ({"mode": "ANY", "allowedFunctionNames": ["b"]}, {"type": "tool", "name": "b"}, ["a", "b"]),
        ({"mode": "ANY", "allowedFunctionNames": ["a", "b"]}, {"type": "any"}, ["a", "b"]),
    ],
)
def test_function_calling_config(config, choice, tools):
    decls = [{"name": n} for n in ("a", "b", "c")][: len(tools) + 1]
    hub = gemini_request_to_anthropic(
        {
            "contents": [user({"text": "go"})],
            "tools": [{"functionDeclarations": decls}],
            "toolConfig": {"functionCallingConfig": config},
        },
        model="m",
    )
    assert hub["tool_choice"] == choice
    if config.get("allowedFunctionNames"):
        assert [t["name"] for t in hub["tools"]] == config["allowedFunctionNames"]


def test_thinking_level_and_budget_and_sampling_dropped_with_thinking():
    body = {
        "contents": [user({"text": "x"})],
        "generationConfig": {
            "temperature": 1,
            "topP": 0.95,
            "thinkingConfig": {"includeThoughts": True, "thinkingLevel": "HIGH"},
        },
    }
    hub = gemini_request_to_anthropic(body, model="m", max_tokens_limit=64000)
    assert hub["thinking"] == {"type": "enabled", "budget_tokens": 24576}
    assert "temperature" not in hub and "top_p" not in hub
    body["generationConfig"]["thinkingConfig"] = {"thinkingBudget": 0}
    hub = gemini_request_to_anthropic(body, model="m")
    assert "thinking" not in hub and hub["temperature"] == 1.0
    body["generationConfig"]["thinkingConfig"] = {"thinkingBudget": 5000}
    body["generationConfig"]["maxOutputTokens"] = 4000
    hub = gemini_request_to_anthropic(body, model="m")
    assert hub["thinking"] == {"type": "enabled", "budget_tokens": 2000}  # under max_tokens


def test_response_schema_becomes_structured_output():
    hub = gemini_request_to_anthropic(
        {
            "contents": [user({"text": "classify"})],
            "generationConfig": {
                "responseMimeType": "application/json",
                "responseJsonSchema": {
                    "type": "object",
                    "properties": {
                        "complexity_reasoning": {"type": "STRING"},
                        "complexity_score": {"type": "INTEGER"},
                    },
                    "required": ["complexity_reasoning", "complexity_score"],
                },
            },
        },
        model="m",
    )
    assert hub["output_config"]["format"]["schema"]["properties"] == {
        "complexity_reasoning": {"type": "string"},
        "complexity_score": {"type": "integer"},
    }
    bare = gemini_request_to_anthropic(
        {
            "contents": [user({"text": "x"})],
            "generationConfig": {"responseMimeType": "application/json"},
        },
        model="m",
    )
    assert "JSON" in bare["system"][0]["text"]


def test_parallel_calls_pair_with_responses_by_name_then_order():
    hub = gemini_request_to_anthropic(
        {
            "contents": [
                user({"text": "look"}),
                model(
                    {"text": "Reading both."},
                    call("read_file", path="a"),
                    call("list_directory", path="."),
                    call("read_file", path="b"),
                ),
                # Responses in another order than the calls: matched by name, then order.
                user(
                    answer("list_directory", "a b"),
                    answer("read_file", "A"),
                    answer("read_file", "B"),
                ),
            ]
        },
        model="m",
    )
    uses = [b for b in hub["messages"][1]["content"] if b["type"] == "tool_use"]
    results = hub["messages"][2]["content"]
    by_id = {r["tool_use_id"]: r["content"] for r in results}
    assert [u["name"] for u in uses] == ["read_file", "list_directory", "read_file"]
    assert len({u["id"] for u in uses}) == 3
    assert by_id[uses[0]["id"]] == "A"
    assert by_id[uses[1]["id"]] == "a b"
    assert by_id[uses[2]["id"]] == "B"


def test_echoed_ids_are_used_and_unknown_ids_fall_back_to_name():
    hub = gemini_request_to_anthropic(
        {
            "contents": [
                user({"text": "x"}),
                model(
                    {"functionCall": {"id": "c1", "name": "f", "args": {}}},
                    {"functionCall": {"id": "c2", "name": "f", "args": {}}},
                ),
                user(
                    {"functionResponse": {"id": "c2", "name": "f", "response": {"output": "2"}}},
                    {"functionResponse": {"id": "zz", "name": "f", "response": {"output": "1"}}},
                ),
            ]
        },
        model="m",
    )
    assert [(r["tool_use_id"], r["content"]) for r in hub["messages"][2]["content"]] == [
        ("c2", "2"),
        ("c1", "1"),
    ]


def test_unanswered_call_is_interrupted_and_orphan_response_becomes_text():
    hub = gemini_request_to_anthropic(
        {
            "contents": [
                user({"text": "x"}),
                model(call("f"), call("g")),
                user(answer("f", "ok"), answer("nothing", "stray"), {"text": "next"}),
            ]
        },
        model="m",
    )
    content = hub["messages"][2]["content"]
    assert [b["type"] for b in content] == ["tool_result", "tool_result", "text", "text"]
    interrupted = [b for b in content[:2] if b.get("is_error")]
    assert len(interrupted) == 1 and "interrupted" in interrupted[0]["content"]
    assert content[2]["text"] == "Result of nothing: stray"


def test_error_response_and_thought_parts():
    hub = gemini_request_to_anthropic(
        {
            "contents": [
                user({"text": "x"}),
                model({"text": "hmm", "thought": True}, call("f")),
                user({"functionResponse": {"name": "f", "response": {"error": "denied"}}}),
            ]
        },
        model="m",
    )
    assert [b["type"] for b in hub["messages"][1]["content"]] == ["tool_use"]
    result = hub["messages"][2]["content"][0]
    assert result["is_error"] is True and result["content"] == "denied"


def test_model_turn_first_gets_a_user_turn_and_bad_bodies_fail():
    hub = gemini_request_to_anthropic({"contents": [model({"text": "hi"})]}, model="m")
    assert hub["messages"][0]["role"] == "user"
    with pytest.raises(ValueError, match="contents"):
        gemini_request_to_anthropic({"contents": []}, model="m")
    with pytest.raises(ValueError, match="candidateCount"):
        gemini_request_to_anthropic(
            {"contents": [user({"text": "x"})], "generationConfig": {"candidateCount": 2}},
            model="m",
        )


def test_count_request_keeps_only_count_fields():
    body = {
        "generateContentRequest": {
            "model": "models/x",
            "contents": [user({"text": "count me"})],
            "generationConfig": {"maxOutputTokens": 5},
        }
    }
    assert count_request_to_anthropic(body, model="m") == {
        "model": "m",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "count me"}]}],
    }


# --- hub answer → Gemini client ----------------------------------------------------------


def test_anthropic_message_to_gemini_response():
    message = {
        "id": "msg_1",
        "content": [
            {"type": "thinking", "thinking": "plan", "signature": "sig-A"},
            {"type": "text", "text": "Writing."},
            {"type": "tool_use", "id": "toolu_1", "name": "write_file", "input": {"p": 1}},
            {"type": "tool_use", "id": "toolu_2", "name": "read_file", "input": {}},
        ],
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 10, "output_tokens": 5, "cache_read_input_tokens": 90},
    }
    out = anthropic_response_to_gemini(message, model="claude-x", include_thoughts=True)
    parts = out["candidates"][0]["content"]["parts"]
    assert parts[0] == {"text": "plan", "thought": True}
    assert parts[1] == {"text": "Writing."}
    assert parts[2]["functionCall"] == {"id": "toolu_1", "name": "write_file", "args": {"p": 1}}
    assert "thoughtSignature" in parts[2] and "thoughtSignature" not in parts[3]
    assert out["candidates"][0]["finishReason"] == "STOP"
    assert out["usageMetadata"] == {
        "promptTokenCount": 100,
        "candidatesTokenCount": 5,
        "totalTokenCount": 105,
        "cachedContentTokenCount": 90,
    }
    quiet = anthropic_response_to_gemini(message, model="claude-x", include_thoughts=False)
    assert not any(p.get("thought") for p in quiet["candidates"][0]["content"]["parts"])


def test_signed_thinking_survives_a_round_trip_through_a_gemini_client():
    """Anthropic wants a tool turn's signed thinking back; the Gemini client hands back the
    thoughtSignature of the call part, and the next hub request starts with the thinking."""
    message = {
        "content": [
            {"type": "thinking", "thinking": "plan", "signature": "sig-A"},
            {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}},
        ],
        "stop_reason": "tool_use",
    }
    parts = anthropic_response_to_gemini(message, model="m")["candidates"][0]["content"]["parts"]
    history = [user({"text": "x"}), model(*parts), user(answer("f", "done"))]
    hub = gemini_request_to_anthropic({"contents": history}, model="m")
    assert hub["messages"][1]["content"] == [
        {"type": "thinking", "thinking": "plan", "signature": "sig-A"},
        {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}},
    ]


@pytest.mark.parametrize(
    ("stop", "finish"),
    [("end_turn", "STOP"), ("max_tokens", "MAX_TOKENS"), ("refusal", "SAFETY")],
)
def test_finish_reasons(stop, finish):
    out = anthropic_response_to_gemini(
        {"content": [{"type": "text", "text": "x"}], "stop_reason": stop}, model="m"
    )
    assert out["candidates"][0]["finishReason"] == finish


@pytest.mark.parametrize(
    ("status", "name", "code"),
    [
        (400, "INVALID_ARGUMENT", 400),
        (401, "UNAUTHENTICATED", 401),
        (404, "NOT_FOUND", 404),
        (429, "RESOURCE_EXHAUSTED", 429),
        (500, "INTERNAL", 500),
        (529, "UNAVAILABLE", 503),
        (504, "DEADLINE_EXCEEDED", 504),
    ],
)
def test_google_error_shape(status, name, code):
    assert gemini_error(status, "why") == (
        code,
        {"error": {"code": code, "message": "why", "status": name}},
    )


# --- hub request → Gemini upstream -------------------------------------------------------


def test_anthropic_request_to_gemini_body():
    body, names = anthropic_request_to_gemini(
        {
            "model": "gemini-x",
            "max_tokens": 9000,
            "system": [
                {"type": "text", "text": "x-anthropic-billing-header: cc_version=2"},
                {"type": "text", "text": "You are Claude Code."},
            ],
            "messages": [
                {"role": "user", "content": "Write it"},
                {
                    "role": "assistant",
                    "content": [
                        {"type": "text", "text": "Sure."},
                        {"type": "tool_use", "id": "t1", "name": "Write", "input": {"a": 1}},
                        {"type": "tool_use", "id": "t2", "name": "Read", "input": {}},
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": "t2", "content": "read"},
                        {
                            "type": "tool_result",
                            "tool_use_id": "t1",
                            "content": [{"type": "text", "text": "no"}],
                            "is_error": True,
                        },
                        {"type": "text", "text": "go on"},
                    ],
                },
            ],
            "tools": [
                {
                    "name": "Write",
                    "description": "write",
                    "input_schema": {
                        "$schema": "http://json-schema.org/draft-07/schema#",
                        "type": "object",
                        "properties": {"a": {"type": "integer", "exclusiveMinimum": 0}},
                        "additionalProperties": False,
                    },
                },
                {"name": "Read", "input_schema": {"type": "object", "properties": {}}},
                {"type": "web_search_20250305", "name": "web_search"},
            ],
            "tool_choice": {"type": "tool", "name": "Write"},
            "thinking": {"type": "enabled", "budget_tokens": 4000},
            "stop_sequences": ["a", "b", "c", "d", "e", "f"],
        },
        max_tokens_limit=8000,
    )
    assert body["systemInstruction"] == {"parts": [{"text": "You are Claude Code."}]}
    assert body["contents"] == [
        {"role": "user", "parts": [{"text": "Write it"}]},
        {
            "role": "model",
            "parts": [
                {"text": "Sure."},
                {"functionCall": {"name": "Write", "args": {"a": 1}}},
                {"functionCall": {"name": "Read", "args": {}}},
            ],
        },
        {
            "role": "user",
            "parts": [
                {"functionResponse": {"name": "Write", "response": {"error": "no"}}},
                {"functionResponse": {"name": "Read", "response": {"output": "read"}}},
                {"text": "go on"},
            ],
        },
    ]
    assert body["tools"] == [
        {
            "functionDeclarations": [
                {
                    "name": "Write",
                    "description": "write",
                    "parameters": {
                        "type": "OBJECT",
                        "properties": {"a": {"type": "INTEGER", "minimum": 0}},
                    },
                },
                {"name": "Read"},
            ]
        }
    ]
    assert body["toolConfig"] == {
        "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["Write"]}
    }
    assert body["generationConfig"] == {
        "maxOutputTokens": 8000,
        "stopSequences": ["a", "b", "c", "d", "e"],
        "thinkingConfig": {"thinkingBudget": 4000, "includeThoughts": True},
    }
    assert len(names) == 0


def test_missing_result_gets_an_interrupted_response_and_long_names_are_shortened():
    long_name = "mcp__a_very_long_server_name__with_a_very_long_tool_name_that_goes_on_and_on"
    body, names = anthropic_request_to_gemini(
        {
            "messages": [
                {"role": "user", "content": "x"},
                {
                    "role": "assistant",
                    "content": [{"type": "tool_use", "id": "t1", "name": long_name, "input": {}}],
                },
                {"role": "user", "content": "never mind"},
            ],
            "tools": [{"name": long_name, "input_schema": {"type": "object"}}],
        }
    )
    short = body["tools"][0]["functionDeclarations"][0]["name"]
    assert len(short) <= 64 and names.client(short) == long_name
    assert body["contents"][2]["parts"][0]["functionResponse"]["name"] == short
    assert "interrupted" in body["contents"][2]["parts"][0]["functionResponse"]["response"]["error"]


def test_gemini_response_to_anthropic_with_signatures_round_trip():
    message = gemini_response_to_anthropic(
        {
            "candidates": [
                {
                    "content": {
                        "role": "model",
                        "parts": [
                            {"text": "think", "thought": True, "thoughtSignature": "c2lnMQ=="},
                            {"text": "Doing it."},
                            {
                                "functionCall": {"name": "Write", "args": {"a": 1}},
                                "thoughtSignature": "c2ln+/8=",
                            },
                        ],
                    },
                    "finishReason": "STOP",
                }
            ],
            "usageMetadata": {
                "promptTokenCount": 100,
                "candidatesTokenCount": 10,
                "thoughtsTokenCount": 5,
                "cachedContentTokenCount": 60,
            },
        },
        model="claude-x",
    )
    thinking, text, use = message["content"]
    assert thinking == {
        "type": "thinking",
        "thinking": "think",
        "signature": "tether:gemini:c2lnMQ==",
    }
    assert text == {"type": "text", "text": "Doing it."}
    assert use["type"] == "tool_use" and use["input"] == {"a": 1}
    assert message["stop_reason"] == "tool_use"
    assert message["usage"] == {
        "input_tokens": 40,
        "output_tokens": 15,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 60,
    }
    # Claude Code sends the turn back: the signatures go back to Gemini where they were.
    body, _ = anthropic_request_to_gemini(
        {
            "messages": [
                {"role": "user", "content": "x"},
                {"role": "assistant", "content": message["content"]},
                {
                    "role": "user",
                    "content": [{"type": "tool_result", "tool_use_id": use["id"], "content": "ok"}],
                },
            ]
        }
    )
    parts = body["contents"][1]["parts"]
    assert parts[0] == {"text": "think", "thought": True, "thoughtSignature": "c2lnMQ=="}
    assert parts[2]["thoughtSignature"] == "c2ln+/8="


@pytest.mark.parametrize(
    ("finish", "stop"),
    [("MAX_TOKENS", "max_tokens"), ("SAFETY", "refusal"), ("STOP", "end_turn")],
)
def test_gemini_finish_reasons(finish, stop):
    message = gemini_response_to_anthropic(
        {"candidates": [{"content": {"parts": [{"text": "x"}]}, "finishReason": finish}]},
        model="m",
    )
    assert message["stop_reason"] == stop


def test_gemini_failures_raise():
    from tether.gateway.translate.errors import UpstreamResponseError

    with pytest.raises(UpstreamResponseError):
        gemini_response_to_anthropic(
            {"candidates": [{"content": {"parts": []}, "finishReason": "MALFORMED_FUNCTION_CALL"}]},
            model="m",
        )
    blocked = gemini_response_to_anthropic({"promptFeedback": {"blockReason": "SAFETY"}}, model="m")
    assert blocked["stop_reason"] == "refusal" and blocked["content"] == []


def test_recorded_claude_code_requests_translate_for_gemini():
    for path in sorted(FIXTURES.glob("claude_code_*.json")):
        if not path.read_text().strip():
            continue
        request = json.loads(path.read_text())
        if "messages" not in request:
            continue
        body, _ = anthropic_request_to_gemini(request)
        assert body["contents"][0]["role"] == "user", path.name
        for content in body["contents"]:
            assert content["parts"], path.name
        for decl in (body.get("tools") or [{}])[0].get("functionDeclarations", []):
            text = json.dumps(decl)
            for banned in ("$schema", "additionalProperties", "exclusiveMinimum", "propertyNames"):
                assert banned not in text, (path.name, decl["name"], banned)


@pytest.mark.parametrize(
    ("thinking", "expected"),
    [
        ({"thinkingLevel": "HIGH", "includeThoughts": True}, True),
        ({"thinkingBudget": 0, "includeThoughts": True}, False),
        ({"thinkingBudget": 2048}, True),
        ({"includeThoughts": False}, False),
        (None, False),
    ],
)
def test_routing_sees_thinking_exactly_when_the_hub_gets_it(thinking, expected):
    body = {"contents": [user({"text": "x"})], "generationConfig": {}}
    if thinking is not None:
        body["generationConfig"]["thinkingConfig"] = thinking
    features = gemini_features("m", body, 0)
    hub = gemini_request_to_anthropic(body, model="m", max_tokens_limit=64000)
    assert features.thinking is expected
    assert ("thinking" in hub) is expected
    search = gemini_features("m", {**body, "tools": [{"googleSearch": {}}]}, 0)
    assert search.web_search is True
