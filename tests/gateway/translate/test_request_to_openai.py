"""Anthropic Messages requests as Chat Completions requests, one rule per test."""

from __future__ import annotations

import re

import pytest

from tether.gateway.translate.anthropic_request_to_openai import (
    DROPPED_FIELDS,
    ToolNames,
    request_to_openai,
)

PNG = "iVBORw0KGgo="


def translate(body: dict, **kwargs) -> dict:
    body = {"model": "claude-sonnet-4-5", "max_tokens": 1024, **body}
    out, _ = request_to_openai(body, model=kwargs.pop("model", "up-model"), **kwargs)
    return out


def user(*blocks) -> dict:
    return {"role": "user", "content": list(blocks)}


def assistant(*blocks) -> dict:
    return {"role": "assistant", "content": list(blocks)}


def text(t: str, **extra) -> dict:
    return {"type": "text", "text": t, **extra}


def tool_use(id: str, name: str = "Read", **input) -> dict:
    return {"type": "tool_use", "id": id, "name": name, "input": input}


def result(id: str, content, **extra) -> dict:
    return {"type": "tool_result", "tool_use_id": id, "content": content, **extra}


def test_system_blocks_are_joined_without_billing_header_or_cache_control():
    out = translate(
        {
            "system": [
                text("x-anthropic-billing-header: cc_version=2.1.330.d01; cc_entrypoint=cli;"),
                text("You are Claude Code.", cache_control={"type": "ephemeral"}),
                text("Be brief.", cache_control={"type": "ephemeral"}),
            ],
            "messages": [{"role": "user", "content": "hi"}],
        }
    )
    assert out["messages"] == [
        {"role": "system", "content": "You are Claude Code.\n\nBe brief."},
        {"role": "user", "content": "hi"},
    ]


def test_system_string_and_model_and_sampling_fields():
    out = translate(
        {
            "system": "Be brief.",
            "messages": [{"role": "user", "content": "hi"}],
            "temperature": 0.2,
            "top_p": 0.9,
            "top_k": 5,
            "stop_sequences": ["END"],
        }
    )
    assert out == {
        "model": "up-model",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}],
        "max_tokens": 1024,
        "stop": ["END"],
        "temperature": 0.2,
        "top_p": 0.9,
    }


def test_max_tokens_is_clamped_to_the_route_limit_and_can_be_renamed():
    body = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 128000}
    assert translate(body, max_tokens_limit=32768)["max_tokens"] == 32768
    assert translate({**body, "max_tokens": 100}, max_tokens_limit=32768)["max_tokens"] == 100
    out = translate(body, max_tokens_field="max_completion_tokens")
    assert out["max_completion_tokens"] == 128000 and "max_tokens" not in out
    # OpenAI's reasoning models refuse max_tokens; they get the newer name by default.
    assert translate(body, model="gpt-5-mini")["max_completion_tokens"] == 128000
    forced = translate(body, model="gpt-5", max_tokens_field="max_tokens")
    assert "max_completion_tokens" not in forced


def test_stream_asks_for_usage():
    out = translate({"messages": [{"role": "user", "content": "hi"}], "stream": True})
    assert out["stream"] is True
    assert out["stream_options"] == {"include_usage": True}


def test_anthropic_only_fields_are_dropped_on_purpose():
    body = {
        "messages": [{"role": "user", "content": "hi"}],
        "context_management": {"edits": [{"type": "clear_thinking_20251015"}]},
        "output_config": {"effort": "high"},
        "betas": ["interleaved-thinking-2025-05-14"],
        "metadata": {"user_id": "user_" + "a" * 150},
        "service_tier": "auto",
        "cache_control": {"type": "ephemeral"},
        "some_future_field": 1,
    }
    out = translate(body, model="llama3")
    assert set(out) == {"model", "messages", "max_tokens"}
    assert {"context_management", "betas", "metadata", "cache_control"} <= DROPPED_FIELDS


def test_user_blocks_text_images_and_documents():
    out = translate(
        {
            "messages": [
                user(
                    text("look"),
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": PNG},
                    },
                    {"type": "image", "source": {"type": "url", "url": "https://x.test/a.jpg"}},
                    {
                        "type": "document",
                        "title": "spec.pdf",
                        "source": {
                            "type": "base64",
                            "media_type": "application/pdf",
                            "data": "JVBE",
                        },
                    },
                    {
                        "type": "document",
                        "title": "notes",
                        "source": {"type": "text", "media_type": "text/plain", "data": "n1"},
                    },
                    text(""),
                )
            ]
        }
    )
    assert out["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "look"},
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                {"type": "image_url", "image_url": {"url": "https://x.test/a.jpg"}},
                {
                    "type": "file",
                    "file": {
                        "filename": "spec.pdf",
                        "file_data": "data:application/pdf;base64,JVBE",
                    },
                },
                {"type": "text", "text": "notes\n\nn1"},
            ],
        }
    ]


def test_text_only_user_blocks_become_one_string_and_empty_blocks_vanish():
    out = translate(
        {"messages": [user(text("<system-reminder>r</system-reminder>"), text(""), text("hi"))]}
    )
    assert out["messages"] == [
        {"role": "user", "content": "<system-reminder>r</system-reminder>\n\nhi"}
    ]


def test_tool_use_and_results_pair_up_with_results_before_the_users_text():
    out = translate(
        {
            "messages": [
                user(text("read both")),
                assistant(
                    {"type": "thinking", "thinking": "plan", "signature": "sig"},
                    {"type": "redacted_thinking", "data": "xyz"},
                    text("Reading."),
                    tool_use("toolu_01A", file_path="/a"),
                    tool_use("toolu_01B", file_path="/b"),
                ),
                user(
                    result("toolu_01B", "beta"),
                    result(
                        "toolu_01A",
                        [text("alpha"), text("more")],
                        cache_control={"type": "ephemeral"},
                    ),
                    text("now summarize"),
                ),
            ]
        }
    )
    assert out["messages"][1:] == [
        {
            "role": "assistant",
            "content": "Reading.",
            "tool_calls": [
                {
                    "id": "toolu_01A",
                    "type": "function",
                    "function": {"name": "Read", "arguments": '{"file_path":"/a"}'},
                },
                {
                    "id": "toolu_01B",
                    "type": "function",
                    "function": {"name": "Read", "arguments": '{"file_path":"/b"}'},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "toolu_01B", "content": "beta"},
        {"role": "tool", "tool_call_id": "toolu_01A", "content": "alpha\nmore"},
        {"role": "user", "content": "now summarize"},
    ]


def test_assistant_with_only_tool_calls_has_null_content():
    out = translate(
        {"messages": [user(text("go")), assistant(tool_use("t1", "Bash")), user(result("t1", ""))]}
    )
    assert out["messages"][1]["content"] is None
    assert out["messages"][2] == {"role": "tool", "tool_call_id": "t1", "content": "(no output)"}


def test_error_results_say_so_and_images_from_tools_follow_as_a_user_turn():
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}
    out = translate(
        {
            "messages": [
                user(text("shoot")),
                assistant(tool_use("t1", "Screenshot"), tool_use("t2", "Bash")),
                user(
                    result("t1", [text("captured"), image]),
                    result("t2", "command not found", is_error=True),
                ),
            ]
        }
    )
    assert out["messages"][2:] == [
        {"role": "tool", "tool_call_id": "t1", "content": "captured"},
        {"role": "tool", "tool_call_id": "t2", "content": "Error: command not found"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Images returned by the tool calls above:"},
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
            ],
        },
    ]


def test_orphans_are_repaired_a_call_without_result_and_a_result_without_call():
    out = translate(
        {
            "messages": [
                # Compaction removed the call that produced this result.
                user(result("toolu_gone", "stale"), text("continue")),
                # This call was interrupted: no result follows.
                assistant(text("Running."), tool_use("toolu_cut", "Bash", command="sleep 99")),
                user(text("never mind")),
            ]
        }
    )
    assert out["messages"] == [
        {"role": "user", "content": "continue"},
        {
            "role": "assistant",
            "content": "Running.",
            "tool_calls": [
                {
                    "id": "toolu_cut",
                    "type": "function",
                    "function": {"name": "Bash", "arguments": '{"command":"sleep 99"}'},
                }
            ],
        },
        {
            "role": "tool",
            "tool_call_id": "toolu_cut",
            "content": "The tool call was interrupted before it returned a result.",
        },
        {"role": "user", "content": "never mind"},
    ]


def test_mid_conversation_system_messages_become_user_text_in_place():
    msgs = [
        user(text("hi")),
        {"role": "system", "content": [text("# Environment", cache_control={"type": "ephemeral"})]},
        assistant(tool_use("t1", "Bash")),
        {"role": "system", "content": "Skills changed."},
        user(result("t1", "ok")),
        assistant(text("done")),
        {"role": "system", "content": "Trailing note."},
    ]
    out = translate({"system": "S", "messages": msgs})
    reminder = "<system-reminder>\n{}\n</system-reminder>".format
    assert out["messages"] == [
        {"role": "system", "content": "S"},
        {"role": "user", "content": f"hi\n\n{reminder('# Environment')}"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "t1", "type": "function", "function": {"name": "Bash", "arguments": "{}"}}
            ],
        },
        # The results stay right after their call; the system text follows them.
        {"role": "tool", "tool_call_id": "t1", "content": "ok"},
        {"role": "user", "content": reminder("Skills changed.")},
        {"role": "assistant", "content": "done"},
        {"role": "user", "content": reminder("Trailing note.")},
    ]
    merged = translate({"system": "S", "messages": msgs}, mid_system="merge")
    assert merged["messages"][0]["content"] == (
        "S\n\n# Environment\n\nSkills changed.\n\nTrailing note."
    )
    assert [m["role"] for m in merged["messages"]] == [
        "system",
        "user",
        "assistant",
        "tool",
        "assistant",
    ]


def test_a_system_message_before_any_turn_joins_the_leading_system():
    out = translate(
        {
            "system": "S",
            "messages": [{"role": "system", "content": "T"}, {"role": "user", "content": "hi"}],
        }
    )
    assert out["messages"] == [
        {"role": "system", "content": "S\n\nT"},
        {"role": "user", "content": "hi"},
    ]
    no_top = translate(
        {"messages": [{"role": "system", "content": "T"}, {"role": "user", "content": "hi"}]}
    )
    assert no_top["messages"][0] == {"role": "system", "content": "T"}


def test_tools_and_tool_choice():
    tools = [
        {
            "name": "Bash",
            "description": "Run",
            "input_schema": {"type": "object"},
            "cache_control": {"type": "ephemeral"},
        },
        {"type": "web_search_20250305", "name": "web_search", "max_uses": 5},
        {"name": "Later", "input_schema": {"type": "object"}, "defer_loading": True},
    ]
    body = {"messages": [{"role": "user", "content": "hi"}], "tools": tools}
    out = translate(body)
    assert out["tools"] == [
        {
            "type": "function",
            "function": {"name": "Bash", "parameters": {"type": "object"}, "description": "Run"},
        }
    ]
    assert "tool_choice" not in out  # auto is the default
    choices = {
        "any": "required",
        "none": "none",
    }
    for anthropic, openai in choices.items():
        assert translate({**body, "tool_choice": {"type": anthropic}})["tool_choice"] == openai
    named = translate(
        {**body, "tool_choice": {"type": "tool", "name": "Bash", "disable_parallel_tool_use": True}}
    )
    assert named["tool_choice"] == {"type": "function", "function": {"name": "Bash"}}
    assert named["parallel_tool_calls"] is False
    # A choice naming a server tool that was not sent would make the upstream 400.
    assert "tool_choice" not in translate(
        {**body, "tool_choice": {"type": "tool", "name": "web_search"}}
    )
    only_server = translate({**body, "tools": tools[1:2], "tool_choice": {"type": "any"}})
    assert "tools" not in only_server and "tool_choice" not in only_server


def test_deferred_tools_are_sent_once_tool_search_loaded_them():
    tools = [
        {"name": "ToolSearch", "input_schema": {"type": "object"}},
        {"name": "WebFetch", "input_schema": {"type": "object"}, "defer_loading": True},
        {"name": "Monitor", "input_schema": {"type": "object"}, "defer_loading": True},
    ]
    msgs = [
        user(text("fetch it")),
        assistant(tool_use("t1", "ToolSearch", query="select:WebFetch")),
        user(result("t1", [{"type": "tool_reference", "tool_name": "WebFetch"}])),
    ]
    out = translate({"messages": msgs, "tools": tools})
    assert [t["function"]["name"] for t in out["tools"]] == ["ToolSearch", "WebFetch"]
    assert out["messages"][-1] == {
        "role": "tool",
        "tool_call_id": "t1",
        "content": "Tool WebFetch is now available.",
    }


def test_long_tool_names_are_shortened_deterministically_and_map_back():
    long = "mcp__some_really_long_server_name__" + "do_something_" * 5
    assert len(long) > 64
    body = {
        "messages": [user(text("go")), assistant(tool_use("t1", long)), user(result("t1", "ok"))],
        "tools": [{"name": long, "input_schema": {"type": "object"}}],
        "tool_choice": {"type": "tool", "name": long},
    }
    out, names = request_to_openai(body, model="m")
    short = out["tools"][0]["function"]["name"]
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,64}", short)
    assert out["messages"][1]["tool_calls"][0]["function"]["name"] == short
    assert out["tool_choice"]["function"]["name"] == short
    assert names.client(short) == long and names.client("Bash") == "Bash"
    again, _ = request_to_openai(body, model="m")
    assert again["tools"][0]["function"]["name"] == short
    assert ToolNames().upstream("a.b") != ToolNames().upstream("a_b")


def test_tool_ids_are_made_valid_for_openai_compatible_servers():
    msgs = [
        user(text("go")),
        assistant(tool_use("functions.Bash:0", "Bash")),
        user(result("functions.Bash:0", "ok")),
    ]
    out = translate({"messages": msgs})
    new_id = out["messages"][1]["tool_calls"][0]["id"]
    assert re.fullmatch(r"call_[0-9a-f]{24}", new_id)
    assert out["messages"][2]["tool_call_id"] == new_id
    mistral = translate({"messages": msgs}, tool_id_style="mistral")
    assert re.fullmatch(r"[0-9a-f]{9}", mistral["messages"][1]["tool_calls"][0]["id"])
    assert mistral["messages"][2]["tool_call_id"] == mistral["messages"][1]["tool_calls"][0]["id"]


@pytest.mark.parametrize(
    ("thinking", "output_config", "effort"),
    [
        ({"type": "enabled", "budget_tokens": 1024}, None, "low"),
        ({"type": "enabled", "budget_tokens": 10000}, None, "medium"),
        ({"type": "enabled", "budget_tokens": 31999}, None, "high"),
        ({"type": "adaptive"}, None, "medium"),
        ({"type": "adaptive"}, {"effort": "max"}, "high"),
        ({"type": "adaptive"}, {"effort": "low"}, "low"),
        ({"type": "disabled"}, {"effort": "high"}, None),
        (None, None, None),
    ],
)
def test_thinking_and_effort_become_reasoning_effort(thinking, output_config, effort):
    body: dict = {"messages": [{"role": "user", "content": "hi"}]}
    if thinking:
        body["thinking"] = thinking
    if output_config:
        body["output_config"] = output_config
    assert translate(body, model="gpt-5-mini").get("reasoning_effort") == effort
    assert translate(body, model="openai/o4-mini").get("reasoning_effort") == effort
    # "auto" leaves it out for models not known to take it; "effort" forces it; "none" never.
    assert "reasoning_effort" not in translate(body, model="qwen3-coder")
    assert translate(body, model="qwen3-coder", reasoning="effort").get("reasoning_effort") == (
        effort
    )
    assert "reasoning_effort" not in translate(body, model="gpt-5", reasoning="none")


def test_past_thinking_is_echoed_only_when_asked():
    msgs = [
        user(text("q")),
        assistant({"type": "thinking", "thinking": "hmm", "signature": "s"}, text("a")),
        user(text("q2")),
    ]
    assert "reasoning_content" not in translate({"messages": msgs})["messages"][1]
    echoed = translate({"messages": msgs}, echo_reasoning=True)["messages"][1]
    assert echoed == {"role": "assistant", "content": "a", "reasoning_content": "hmm"}


def test_bad_modes_are_rejected_clearly():
    with pytest.raises(ValueError, match="reasoning mode"):
        translate({"messages": []}, reasoning="sometimes")
    with pytest.raises(ValueError, match="tool_id_style"):
        translate({"messages": []}, tool_id_style="weird")


def test_the_input_body_is_not_mutated():
    import copy

    body = {
        "system": [text("S", cache_control={"type": "ephemeral"})],
        "messages": [
            user(text("hi")),
            {"role": "system", "content": "note"},
            assistant(tool_use("t", "Bash")),
            user(result("t", "ok")),
        ],
        "tools": [{"name": "Bash", "input_schema": {"type": "object"}}],
    }
    before = copy.deepcopy(body)
    translate(body)
    assert body == before
