"""The requests Codex 0.171.0 really sent (recorded by tests/gateway/record_codex.py),
translated to the hub: nothing Codex relies on is lost."""

from __future__ import annotations

import itertools
from pathlib import Path

import orjson
import pytest

from tether.gateway.translate.responses_request_to_anthropic import responses_to_anthropic

FIXTURES = Path(__file__).parents[1] / "fixtures"


def load(name: str) -> dict:
    return orjson.loads((FIXTURES / f"codex_{name}.json").read_bytes())


@pytest.mark.parametrize("name", ["plain", "tool_result", "apply_patch", "resumed"])
def test_codex_request_becomes_a_valid_hub_request(name: str) -> None:
    request = load(name)
    out, ctx = responses_to_anthropic(request, model="claude-x", max_tokens_limit=8000)
    assert out["stream"] is True
    # Codex's instructions are developer messages: they become the system prompt.
    assert out["system"][0]["text"].startswith("You are a coding agent running in the Codex CLI")
    roles = [m["role"] for m in out["messages"]]
    assert roles[0] == "user"
    assert all(a != b for a, b in itertools.pairwise(roles))  # strict alternation
    names = {t["name"] for t in out["tools"]}
    assert {"exec_command", "write_stdin", "spawn_agent"} <= names
    assert "web_search" not in names
    assert ctx.summaries and ctx.encrypted_reasoning  # reasoning.summary auto, include
    assert ctx.namespaces["spawn_agent"] == "multi_agent_v1"
    # Codex sends prompt_cache_key: the prefix is marked for Anthropic's prompt cache.
    marker = {"type": "ephemeral"}
    assert out["tools"][-1]["cache_control"] == marker
    assert out["system"][-1]["cache_control"] == marker
    assert out["messages"][-1]["content"][-1]["cache_control"] == marker
    marked = [b for m in out["messages"] for b in m["content"] if "cache_control" in b]
    assert len(marked) == 1  # Anthropic allows at most four breakpoints
    # Every tool_use is answered by a tool_result in the next message.
    for i, message in enumerate(out["messages"]):
        for block in message["content"]:
            if block["type"] == "tool_use":
                following = out["messages"][i + 1]["content"]
                assert any(b.get("tool_use_id") == block["id"] for b in following)


def test_codex_tool_turn_and_resume_carry_the_call_and_its_output() -> None:
    for name in ("tool_result", "resumed"):
        out, _ = responses_to_anthropic(load(name), model="claude-x")
        call = out["messages"][1]["content"][0]
        assert call == {
            "type": "tool_use",
            "id": "call_exec1",
            "name": "exec_command",
            "input": {"cmd": "echo tether-ok"},
        }
        result = out["messages"][2]["content"][0]
        assert result["tool_use_id"] == "call_exec1"
        assert "tether-ok" in result["content"][0]["text"]
    resumed, _ = responses_to_anthropic(load("resumed"), model="claude-x")
    assert resumed["messages"][-1]["content"][-1]["text"] == "and once more"
    assert resumed["messages"][-2]["content"] == [{"type": "text", "text": "Done."}]
