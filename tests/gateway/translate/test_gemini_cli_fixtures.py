"""Gemini CLI's recorded requests (tests/gateway/fixtures/gemini_cli_*.json, from
test_gemini_agents.py) translate into the hub and on to OpenAI without loss."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from tether.gateway.translate.anthropic_request_to_openai import request_to_openai
from tether.gateway.translate.gemini_request_to_anthropic import gemini_request_to_anthropic

FIXTURES = Path(__file__).parents[1] / "fixtures"
NAMES = ["classifier", "prompt", "tool_result", "resumed"]


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / f"gemini_cli_{name}.json").read_text())


@pytest.mark.parametrize("name", NAMES)
def test_recorded_request_translates_to_the_hub_and_to_openai(name):
    record = fixture(name)
    assert record["headers"]["user-agent"].startswith("GeminiCLI")
    hub = gemini_request_to_anthropic(record["body"], model="m", max_tokens_limit=32000)
    assert hub["messages"][0]["role"] == "user"
    assert hub["system"][0]["text"]
    roles = [m["role"] for m in hub["messages"]]
    assert all(a != b for a, b in itertools.pairwise(roles))  # strict alternation
    uses = {b["id"] for m in hub["messages"] for b in m["content"] if b["type"] == "tool_use"}
    results = {
        b["tool_use_id"]
        for m in hub["messages"]
        for b in m["content"]
        if b["type"] == "tool_result"
    }
    assert uses == results
    # Gemini CLI asks for thoughts at level HIGH: thinking, within max_tokens.
    assert hub["thinking"]["budget_tokens"] < hub["max_tokens"]
    openai_body, _ = request_to_openai(hub, model="gpt-test")
    assert openai_body["messages"]


def test_classifier_asks_for_json_that_fits_its_schema():
    hub = gemini_request_to_anthropic(fixture("classifier")["body"], model="m")
    schema = hub["output_config"]["format"]["schema"]
    assert set(schema["properties"]) == {"complexity_reasoning", "complexity_score"}
    assert schema["properties"]["complexity_score"]["type"] == "integer"
    assert "fits this JSON schema" in hub["system"][-1]["text"]
    assert "tools" not in hub


def test_tool_turn_pairs_gemini_cli_call_ids():
    hub = gemini_request_to_anthropic(fixture("tool_result")["body"], model="m")
    assert [t["name"] for t in hub["tools"]].count("write_file") == 1
    use = next(b for m in hub["messages"] for b in m["content"] if b["type"] == "tool_use")
    result = next(b for m in hub["messages"] for b in m["content"] if b["type"] == "tool_result")
    assert use["name"] == "write_file" and use["input"]["file_path"] == "/tmp/proj/hello.txt"
    assert result["tool_use_id"] == use["id"]
    assert "Successfully created" in result["content"]
    # Gemini CLI's dummy thoughtSignature is not mistaken for our thinking envelope.
    assert not any(b["type"] == "thinking" for m in hub["messages"] for b in m["content"])
