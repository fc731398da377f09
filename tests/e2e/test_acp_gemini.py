"""The real Gemini CLI (`@google/gemini-cli`, from `scripts/test`, in `.cache/npm`) under
`tether run --agent gemini --gateway URL`: it speaks ACP to the runner, its Gemini API calls
go through a tether gateway to the scripted Anthropic upstream, and a file it wants to
write is asked on the relay first."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.harness import all_messages, wait_message, wait_pending, wait_status
from tests.e2e.npm_agents import gateway_to, interrupt_mid_turn_then_prompt, path_with
from tests.gateway.conftest import GATEWAY_KEY
from tests.support.gemini_cli import quiet_gemini_home
from tests.support.model_server import text, tool_use

pytestmark = pytest.mark.slow


@pytest.fixture
def gateway(tmp_path: Path, model):
    default = {"provider": "an", "model": "claude-test"}
    with gateway_to(model, tmp_path / "gateway", default=default) as server:
        yield server


@pytest.fixture
def start_gemini(gateway, start_runner, tmp_path):
    def start():
        quiet_gemini_home(tmp_path / "agent" / "home")
        env = {
            "PATH": path_with("gemini"),
            "TETHER_GATEWAY_KEY": GATEWAY_KEY,
            "GEMINI_CLI_TRUST_WORKSPACE": "true",
            "NO_COLOR": "1",
        }
        return start_runner("--agent", "gemini", "--gateway", gateway.url, env=env)

    return start


async def test_gemini_asks_before_writing_and_allow_writes(relay, model, start_gemini):
    runner = start_gemini()
    session_id = await runner.wait_session_id()
    session = await wait_status(relay, runner, "idle", timeout=90)
    assert session["agent"] == "gemini"

    target = runner.workdir / "hello.txt"
    model.add(
        tool_use("write_file", {"file_path": str(target), "content": "hi from gemini\n"}),
        text("I wrote hello.txt."),
    )
    await relay.send_text(session_id, "create hello.txt")
    pending = await wait_pending(relay, runner, timeout=90)
    kinds = {s["kind"] for s in pending["suggestions"] if s.get("type") == "acp_option"}
    assert "allow_once" in kinds
    assert not target.exists()  # nothing is written before the answer
    await relay.respond(pending["id"], "allow")
    await wait_message(relay, runner, "result", timeout=90)
    assert target.read_text() == "hi from gemini\n"
    messages = await all_messages(relay, session_id)
    # Gemini CLI reports this call as updates only (no `tool_call` first): the first update
    # stands in for the call, so the result has its call, before it.
    assert {"tool_call", "tool_result", "assistant_text", "result"} <= {m["kind"] for m in messages}
    [result] = [m for m in messages if m["kind"] == "tool_result"]
    calls = [m for m in messages if m["kind"] == "tool_call"]
    assert [c["content"]["call_id"] for c in calls] == [result["content"]["call_id"]]
    assert calls[0]["seq"] < result["seq"]
    await relay.end_session(session_id)
    assert await runner.wait_exit(60) == 0


async def test_interrupt_mid_turn_ends_the_turn_and_the_next_prompt_works(
    relay, model, start_gemini
) -> None:
    runner = start_gemini()
    await runner.wait_session_id()
    await interrupt_mid_turn_then_prompt(relay, model, runner)


async def test_deny_writes_nothing_and_gemini_sees_the_denial(relay, model, start_gemini):
    runner = start_gemini()
    session_id = await runner.wait_session_id()
    await wait_status(relay, runner, "idle", timeout=90)

    target = runner.workdir / "denied.txt"
    model.add(
        tool_use("write_file", {"file_path": str(target), "content": "should not exist\n"}),
        text("Understood, I left it alone."),
    )
    await relay.send_text(session_id, "create denied.txt")
    pending = await wait_pending(relay, runner, timeout=90)
    await relay.respond(pending["id"], "deny", message="not today")
    await wait_message(relay, runner, "result", timeout=90)
    assert not target.exists()
    # Gemini saw the denial: it told the model the call was refused, and the turn went on.
    [refused] = model.main_requests()[-1].body["messages"][-1]["content"]
    assert refused["type"] == "tool_result" and refused["is_error"] is True
    assert "canceled" in str(refused["content"])
    messages = await all_messages(relay, session_id)
    # The transcript shows what was asked and that it was refused, with the reason.
    [call] = [m for m in messages if m["kind"] == "tool_call"]
    [result] = [m for m in messages if m["kind"] == "tool_result"]
    assert call["content"]["call_id"] == result["content"]["call_id"] == pending["tool_use_id"]
    assert result["content"]["is_error"] is True
    assert result["content"]["output"] == "not today"
    assert call["seq"] < result["seq"]
    assert "Understood, I left it alone." in [
        m["content"].get("text") for m in messages if m["kind"] == "assistant_text"
    ]
    await relay.end_session(session_id)
    assert await runner.wait_exit(60) == 0
