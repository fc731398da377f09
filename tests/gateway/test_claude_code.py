"""The real `claude` binary through the gateway, finishing a tool-use turn.

Run 1 goes to a scripted OpenAI-compatible upstream (every request translated); run 2
passes through to a scripted Anthropic upstream, which sees exactly what Claude Code
sent. With TETHER_RECORD_FIXTURES=1, run 2 saves those requests as fixtures for the
translator (tests/gateway/fixtures/claude_code_gateway_*.json).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.gateway.upstreams import (
    Json,
    Received,
    Sse,
    an_message,
    an_text_stream,
    an_tool_stream,
    oa_completion,
    oa_text_stream,
    oa_tool_stream,
)
from tether.gateway.translate.anthropic_request_to_openai import request_to_openai

CLAUDE = Path(__file__).parents[2] / (
    ".venv/lib/python3.11/site-packages/claude_agent_sdk/_bundled/claude"
)
FIXTURES = Path(__file__).parent / "fixtures"
FILE_TEXT = "written through the tether gateway\n"
FINAL_TEXT = "I wrote hello.txt for you."

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CLAUDE.exists(), reason="bundled claude binary missing"),
]


def run_claude(gateway_url: str, cwd: Path, home: Path, model: str) -> list[dict[str, Any]]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "CLAUDE", "TETHER_"))
    }
    env.update(
        HOME=str(home),
        ANTHROPIC_BASE_URL=gateway_url,
        ANTHROPIC_API_KEY="test",
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1",
        DISABLE_AUTOUPDATER="1",
    )
    proc = subprocess.run(
        [
            str(CLAUDE),
            "-p",
            "Create hello.txt with a greeting.",
            "--output-format",
            "stream-json",
            "--verbose",
            "--permission-mode",
            "acceptEdits",
            "--model",
            model,
        ],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
    )
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert lines, f"claude printed nothing (exit {proc.returncode}): {proc.stderr[-2000:]}"
    return lines


def is_main_turn(body: dict[str, Any]) -> bool:
    """Claude Code also sends side requests (titles, summaries) without the Write tool."""
    return any((t.get("function") or t).get("name") == "Write" for t in body.get("tools") or ())


def wrote_already(body: dict[str, Any]) -> bool:
    """The request carries the tool result of our Write (an OpenAI `tool` message or an
    Anthropic `tool_result` block)."""
    return "tool_result" in json.dumps(body["messages"]) or any(
        m.get("role") == "tool" for m in body["messages"]
    )


def check_result(lines: list[dict[str, Any]], cwd: Path) -> None:
    result = lines[-1]
    assert result["type"] == "result", lines[-3:]
    assert result["subtype"] == "success" and not result["is_error"], result
    assert FINAL_TEXT in result["result"]
    assert (cwd / "hello.txt").read_text() == FILE_TEXT
    uses = [
        block
        for line in lines
        if line.get("type") == "assistant"
        for block in line["message"]["content"]
        if block["type"] == "tool_use"
    ]
    assert [u["name"] for u in uses] == ["Write"]


def test_claude_code_tool_turn_through_openai_upstream(gateway, oa_upstream, tmp_path):
    cwd, home = tmp_path / "proj", tmp_path / "home"
    cwd.mkdir()
    home.mkdir()
    write_args = json.dumps({"file_path": str(cwd / "hello.txt"), "content": FILE_TEXT})

    def reply(received: Received) -> Json | Sse:
        body = received.json
        streamed = body.get("stream") is True
        if not is_main_turn(body):
            return (
                Sse(oa_text_stream("Greeting file"))
                if streamed
                else Json(oa_completion("Greeting file"))
            )
        if wrote_already(body):
            return Sse(oa_text_stream("I wrote ", "hello.txt for you."))
        return Sse(oa_tool_stream([("call_write_1", "Write", write_args)], split=7))

    oa_upstream.default = reply
    try:
        lines = run_claude(gateway.url, cwd, home, "claude-sonnet-4-5")
    finally:
        oa_upstream.default = None
    check_result(lines, cwd)
    main = [r.json for r in oa_upstream.received if is_main_turn(r.json)]
    assert len(main) >= 2
    assert all(r["model"] == "gpt-test" for r in main)
    # The second turn carries the Write call and its result in OpenAI's shape.
    last = main[-1]["messages"]
    call = next(m for m in last if m.get("tool_calls"))["tool_calls"][0]
    assert call["function"]["name"] == "Write"
    assert next(m for m in last if m["role"] == "tool")["tool_call_id"] == call["id"]


def test_claude_code_tool_turn_passthrough_records_fixtures(gateway, an_upstream, tmp_path):
    cwd, home = tmp_path / "proj", tmp_path / "home"
    cwd.mkdir()
    home.mkdir()
    write_args = json.dumps({"file_path": str(cwd / "hello.txt"), "content": FILE_TEXT})

    def reply(received: Received) -> Json | Sse:
        if received.path.endswith("/count_tokens"):
            return Json({"input_tokens": 1000})
        body = received.json
        model = body["model"]
        if not is_main_turn(body):
            if body.get("stream"):
                return Sse(an_text_stream("Greeting file", model=model))
            return Json(an_message("Greeting file", model=model))
        if wrote_already(body):
            return Sse(an_text_stream("I wrote ", "hello.txt for you.", model=model))
        return Sse(an_tool_stream("toolu_write_1", "Write", write_args, model=model))

    an_upstream.default = reply
    try:
        lines = run_claude(gateway.url, cwd, home, "same-model-sonnet")
    finally:
        an_upstream.default = None
    check_result(lines, cwd)
    requests = [r for r in an_upstream.received if r.path.startswith("/v1/messages")]
    main = [r for r in requests if is_main_turn(r.json)]
    assert len(main) >= 2
    # Passthrough: Claude Code's query and headers arrive, the key does not.
    assert all(r.headers.get("anthropic-version") for r in main)
    assert all(r.headers["x-api-key"] == "an-upstream-key" for r in main)
    # Every real request translates for an OpenAI upstream without complaint.
    for r in requests:
        if r.path == "/v1/messages":
            translated, _ = request_to_openai(r.json, model="gpt-test")
            assert translated["messages"]
    if os.environ.get("TETHER_RECORD_FIXTURES") == "1":
        save_fixtures(main, cwd, home)


def save_fixtures(main: list[Received], cwd: Path, home: Path) -> None:
    for name, received in (("first_turn", main[0]), ("tool_result", main[-1])):
        text = received.raw.decode()
        # Temp paths differ per run; keep the fixtures stable and free of local paths.
        text = text.replace(str(cwd), "/tmp/proj").replace(str(home), "/tmp/home")
        body = orjson.loads(text)
        (FIXTURES / f"claude_code_gateway_{name}.json").write_bytes(
            orjson.dumps(body, option=orjson.OPT_INDENT_2) + b"\n"
        )
