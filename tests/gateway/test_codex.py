"""End to end with the real Codex CLI: `codex exec` through tether's `/v1/responses` to a
scripted Anthropic-type upstream and to a scripted chat-only upstream. The model's turns
are scripted; Codex really runs the shell command and really applies the patch."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from tests.gateway.codex import PREFIX, codex_binary, codex_home, run_codex
from tests.gateway.conftest import GATEWAY_KEY, start_gateway
from tests.gateway.upstreams import (
    ScriptedUpstream,
    Sse,
    an_error,
    an_text_stream,
    an_tool_stream,
    an_with_thinking,
    oa_text_stream,
    oa_tool_stream,
)
from tests.support.server import TetherServer

pytestmark = pytest.mark.slow

PATCH_CMD = (
    "apply_patch <<'EOF'\n*** Begin Patch\n*** Add File: hello.txt\n+hello through tether\n"
    "*** End Patch\nEOF"
)


@pytest.fixture(scope="module")
def codex() -> Path:
    binary, why = codex_binary()
    if binary is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Codex CLI is required in CI: {why}")
        pytest.skip(f"Codex CLI not available: {why}")
    return binary


@pytest.fixture(scope="module")
def gw(
    tmp_path_factory: pytest.TempPathFactory,
    oa_upstream: ScriptedUpstream,
    an_upstream: ScriptedUpstream,
) -> Iterator[TetherServer]:
    config = {
        "gateway": {
            "keys": [GATEWAY_KEY],
            "providers": {
                "an": {
                    "type": "anthropic",
                    "base_url": an_upstream.url,
                    "api_key": "k",
                    "retries": 0,
                },
                "oa": {
                    "type": "openai",
                    "base_url": f"{oa_upstream.url}/v1",
                    "api_key": "k",
                    "retries": 0,
                },
            },
            "routes": [
                {"match": "codex-an", "provider": "an", "model": "claude-real"},
                {"match": "codex-oa", "provider": "oa", "model": "gpt-test"},
            ],
        }
    }
    server = start_gateway(tmp_path_factory.mktemp("gw-codex"), config)
    yield server
    server.stop()


@pytest.fixture
def place(request: pytest.FixtureRequest) -> Path:
    # Not under /tmp: Codex refuses to install its helper binaries (apply_patch) there.
    path = PREFIX.parent / "codex-tests" / request.node.name
    shutil.rmtree(path, ignore_errors=True)
    (path / "work").mkdir(parents=True)
    return path


def _exec(codex: Path, gw: TetherServer, place: Path, model: str, prompt: str):
    home = codex_home(place / "home", f"{gw.url}/v1", model)
    return run_codex(codex, home, place / "work", GATEWAY_KEY, prompt)


def _cmd(cmd: str) -> str:
    return orjson.dumps({"cmd": cmd}).decode()


def _tool_results(body: dict) -> list[str]:
    texts = []
    for message in body["messages"]:
        for block in message["content"]:
            if isinstance(block, dict) and block.get("type") == "tool_result":
                texts += [part["text"] for part in block.get("content", [])]
    return texts


def test_codex_runs_a_shell_command_through_anthropic_provider(
    codex: Path, gw: TetherServer, an_upstream: ScriptedUpstream, place: Path
) -> None:
    an_upstream.push(
        Sse(an_tool_stream("toolu_1", "exec_command", _cmd("echo tether-ok > proof.txt"))),
        Sse(an_text_stream("The file is written.")),
    )
    done = _exec(codex, gw, place, "codex-an", "write proof.txt")
    assert done.returncode == 0, done.stderr[-2000:]
    assert (place / "work" / "proof.txt").read_text().strip() == "tether-ok"
    assert "The file is written." in done.stdout
    assert len(an_upstream.received) == 2
    second = an_upstream.received[1].json
    assert any("Process exited with code 0" in text for text in _tool_results(second))


def test_codex_runs_a_shell_command_through_chat_provider(
    codex: Path, gw: TetherServer, oa_upstream: ScriptedUpstream, place: Path
) -> None:
    oa_upstream.push(
        Sse(oa_tool_stream([("call_1", "exec_command", _cmd("echo chat-ok > proof.txt"))])),
        Sse(oa_text_stream("Written via chat.")),
    )
    done = _exec(codex, gw, place, "codex-oa", "write proof.txt")
    assert done.returncode == 0, done.stderr[-2000:]
    assert (place / "work" / "proof.txt").read_text().strip() == "chat-ok"
    assert "Written via chat." in done.stdout
    second = oa_upstream.received[1].json
    tool_messages = [m for m in second["messages"] if m["role"] == "tool"]
    assert tool_messages and "Process exited with code 0" in tool_messages[0]["content"]


def test_codex_apply_patch_writes_a_file(
    codex: Path, gw: TetherServer, an_upstream: ScriptedUpstream, place: Path
) -> None:
    an_upstream.push(
        Sse(an_tool_stream("toolu_2", "exec_command", _cmd(PATCH_CMD))),
        Sse(an_text_stream("Patched.")),
    )
    done = _exec(codex, gw, place, "codex-an", "create hello.txt")
    assert done.returncode == 0, done.stderr[-2000:]
    assert (place / "work" / "hello.txt").read_text() == "hello through tether\n"
    results = _tool_results(an_upstream.received[1].json)
    assert any("Success. Updated the following files" in text for text in results)


def test_codex_sees_an_upstream_failure(
    codex: Path, gw: TetherServer, an_upstream: ScriptedUpstream, place: Path
) -> None:
    an_upstream.push(*[an_error(400, "invalid_request_error", "no such model here")] * 6)
    done = _exec(codex, gw, place, "codex-an", "hi")
    assert done.returncode != 0
    assert "no such model here" in done.stdout + done.stderr


def test_codex_reasoning_round_trips_to_anthropic(
    codex: Path, gw: TetherServer, an_upstream: ScriptedUpstream, place: Path
) -> None:
    """With a reasoning effort set, Anthropic thinks; Codex shows the summary and sends the
    reasoning item back, and Anthropic gets its own thinking block, signature intact."""
    an_upstream.push(
        Sse(
            an_with_thinking(
                an_tool_stream("toolu_t", "exec_command", _cmd("ls")),
                "I should list files.",
                "sig-from-claude",
            )
        ),
        Sse(an_text_stream("Listed.")),
    )
    home = codex_home(place / "home", f"{gw.url}/v1", "codex-an", effort="medium")
    done = run_codex(codex, home, place / "work", GATEWAY_KEY, "list files")
    assert done.returncode == 0, done.stderr[-2000:]
    first, second = (r.json for r in an_upstream.received[:2])
    assert first["thinking"] == {"type": "enabled", "budget_tokens": 8192}
    assert second["thinking"]["type"] == "enabled"
    turn = second["messages"][-2]
    assert turn["role"] == "assistant"
    assert turn["content"][0] == {
        "type": "thinking",
        "thinking": "I should list files.",
        "signature": "sig-from-claude",
    }
    assert turn["content"][1]["type"] == "tool_use"
    assert "I should list files." in done.stdout + done.stderr
