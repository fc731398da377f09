"""The real codex-acp (`@zed-industries/codex-acp`, from `scripts/test`, in `.cache/npm`)
under `tether run --agent codex --gateway URL`: its Responses calls go through a tether
gateway to the scripted Anthropic upstream, and what it says reaches the relay."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.harness import (
    all_messages,
    wait_message,
    wait_pending,
    wait_status,
)
from tests.e2e.npm_agents import gateway_to, interrupt_mid_turn_then_prompt, path_with
from tests.gateway.conftest import GATEWAY_KEY
from tests.support.model_server import text, tool_use

pytestmark = pytest.mark.slow


@pytest.fixture
def gateway(tmp_path: Path, model):
    routes = [{"match": "codex-test", "provider": "an", "model": "claude-test"}]
    with gateway_to(model, tmp_path / "gateway", routes=routes) as server:
        yield server


@pytest.fixture
def start_codex(gateway, start_runner, tmp_path):
    def start():
        codex_home = tmp_path / "codex-home"
        codex_home.mkdir(exist_ok=True)
        env = {
            "PATH": path_with("codex-acp"),
            "CODEX_HOME": str(codex_home),
            "TETHER_GATEWAY_KEY": GATEWAY_KEY,
        }
        return start_runner(
            "--agent",
            "codex",
            "--gateway",
            gateway.url,
            "--",
            "-c",
            'model="codex-test"',
            "-c",
            'approval_policy="untrusted"',  # ask before any command that changes things
            "-c",
            # Codex's Linux sandbox cannot start in this container; the ask is what we test.
            'sandbox_mode="danger-full-access"',
            env=env,
        )

    return start


async def test_codex_answers_through_the_gateway(relay, model, start_codex):
    runner = start_codex()
    session_id = await runner.wait_session_id()
    session = await wait_status(relay, runner, "idle", timeout=90)
    assert session["agent"] == "codex"
    model.add(text("Hello from Codex through tether."))
    await relay.send_text(session_id, "say hello")
    [answer] = await wait_message(relay, runner, "assistant_text", timeout=90)
    assert answer["content"]["text"] == "Hello from Codex through tether."
    await wait_message(relay, runner, "result", timeout=90)
    # codex-acp first says, as answer text, that it lacks metadata for a model name it does
    # not know: that is a status about Codex, kept out of the answer.
    [warning] = await wait_message(
        relay, runner, "status", lambda m: "Model metadata" in m["content"]["text"]
    )
    assert warning["content"]["status"] == "warning"
    assert warning["seq"] < answer["seq"]
    await wait_status(relay, runner, "idle")

    # A command Codex wants to run is asked on the relay; Allow runs it.
    model.add(
        tool_use("exec_command", {"cmd": "echo codex-ok > proof.txt"}),
        text("Done."),
    )
    await relay.send_text(session_id, "write proof.txt")
    pending = await wait_pending(relay, runner, timeout=90)
    kinds = {s["kind"] for s in pending["suggestions"] if s.get("type") == "acp_option"}
    assert "allow_once" in kinds
    await relay.respond(pending["id"], "allow")
    await wait_message(relay, runner, "result", count=2, timeout=90)
    assert (runner.workdir / "proof.txt").read_text().strip() == "codex-ok"
    await wait_status(relay, runner, "idle")

    # Deny: the command does not run.
    model.add(tool_use("exec_command", {"cmd": "echo no > denied.txt"}))
    await relay.send_text(session_id, "write denied.txt")
    pending = await wait_pending(relay, runner, timeout=90)
    await relay.respond(pending["id"], "deny")
    await wait_message(relay, runner, "result", count=3, timeout=90)
    assert not (runner.workdir / "denied.txt").exists()
    # Codex ends the turn on a rejection rather than asking the model again.
    last = model.main_requests()[-1].body["messages"][-1]
    assert last["content"][0]["text"] == "write denied.txt"
    messages = await all_messages(relay, session_id)
    assert {"tool_call", "tool_result", "assistant_text", "result"} <= {m["kind"] for m in messages}
    await relay.end_session(session_id)
    assert await runner.wait_exit(60) == 0


async def test_interrupt_mid_turn_ends_the_turn_and_the_next_prompt_works(
    relay, model, start_codex
) -> None:
    runner = start_codex()
    await runner.wait_session_id()
    await interrupt_mid_turn_then_prompt(relay, model, runner)
