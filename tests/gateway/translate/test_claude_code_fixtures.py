"""Real requests recorded from the `claude` binary, translated for an OpenAI upstream.

Every `tests/gateway/fixtures/claude_code_*.json` is checked: new Claude Code
releases add fields and message shapes, and recorded requests are how we notice.
"""

from __future__ import annotations

import re
from pathlib import Path

import orjson
import pytest

from tether.gateway.translate.anthropic_request_to_openai import DROPPED_FIELDS, request_to_openai

FIXTURES = Path(__file__).parent.parent / "fixtures"
RECORDED = sorted(FIXTURES.glob("claude_code_*.json"))
NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


def load(path: Path) -> dict:
    return orjson.loads(path.read_bytes())


def test_there_are_recorded_requests():
    assert RECORDED, f"no claude_code_*.json in {FIXTURES}"


@pytest.mark.parametrize("path", RECORDED, ids=lambda p: p.stem)
def test_recorded_request_translates_to_a_valid_chat_request(path: Path):
    body = load(path)
    out, names = request_to_openai(body, model="qwen3-coder", max_tokens_limit=32768)
    wire = orjson.dumps(out).decode()

    # Anthropic-only things never reach the upstream.
    assert "cache_control" not in wire
    assert "x-anthropic-billing-header" not in wire
    assert not DROPPED_FIELDS & set(out)
    assert out["max_tokens"] <= 32768
    if body.get("stream"):
        assert out["stream_options"] == {"include_usage": True}

    messages = out["messages"]
    assert messages[0]["role"] == "system"
    assert all(m["role"] != "system" for m in messages[1:]), "system only at the start"
    # Mid-conversation system text from Claude Code is kept, as user text.
    for m in body["messages"]:
        if m["role"] == "system":
            first = m["content"] if isinstance(m["content"], str) else m["content"][0]["text"]
            assert any(
                first[:200] in (u["content"] if isinstance(u["content"], str) else "")
                for u in messages
                if u["role"] == "user"
            )

    # Every tool call is answered right after it, and every answer has its call.
    open_calls: set[str] = set()
    for m in messages:
        if m["role"] == "tool":
            assert m["tool_call_id"] in open_calls
            open_calls.discard(m["tool_call_id"])
            continue
        assert not open_calls, f"calls left unanswered before a {m['role']} message"
        assert m.get("content") or m.get("tool_calls"), "no empty messages"
        for c in m.get("tool_calls") or ():
            open_calls.add(c["id"])
            assert orjson.loads(c["function"]["arguments"]) is not None
    assert not open_calls

    for tool in out.get("tools", []):
        assert NAME.fullmatch(tool["function"]["name"])
        assert names.client(tool["function"]["name"])
    # Deferred tools that ToolSearch never loaded (and the placeholder) stay out.
    sent = {t["function"]["name"] for t in out.get("tools", [])}
    assert "DeferredToolPlaceholder" not in sent
    assert {t["name"] for t in body["tools"] if not t.get("defer_loading")} <= sent


def test_recorded_tool_turn_keeps_the_parallel_calls_and_results():
    body = load(FIXTURES / "claude_code_request_tool_result.json")
    out, _ = request_to_openai(body, model="m")
    roles = [m["role"] for m in out["messages"]]
    assert roles == ["system", "user", "assistant", "tool", "tool"]
    assistant = out["messages"][2]
    assert [c["id"] for c in assistant["tool_calls"]] == ["toolu_01A", "toolu_01B"]
    assert {m["tool_call_id"]: m["content"] for m in out["messages"][3:]} == {
        "toolu_01A": "1\talpha\n2\t",
        "toolu_01B": "1\tbeta\n2\t",
    }


def test_recorded_requests_are_not_mutated_by_translation():
    for path in RECORDED:
        raw = path.read_bytes()
        body = orjson.loads(raw)
        request_to_openai(body, model="m")
        assert body == orjson.loads(raw)
