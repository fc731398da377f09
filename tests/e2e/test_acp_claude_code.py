"""The real `@zed-industries/claude-code-acp` (from `scripts/test`, in `.cache/npm`) under
`tether run --agent claude-acp`, its model calls answered by a scripted Anthropic
upstream: a write it asks about becomes a relay permission request, Allow writes the file
through our fs/write_text_file, Deny leaves the disk alone and the model is told."""

from __future__ import annotations

import json

import pytest

from tests.e2e.harness import (
    all_messages,
    in_thread,
    wait_message,
    wait_pending,
    wait_status,
)
from tests.e2e.npm_agents import interrupt_mid_turn_then_prompt, path_with
from tests.support.model_server import text, tool_use

pytestmark = pytest.mark.slow


@pytest.fixture
def start_adapter(start_runner):

    def start(*args: str):
        path = path_with("claude-code-acp")
        # As root the adapter offers bypassPermissions only with IS_SANDBOX set, and then
        # the claude it starts refuses to run as root: run it as a user would.
        env = {"PATH": path, "IS_SANDBOX": ""}
        return start_runner("--agent", "claude-acp", *args, env=env)

    return start


async def test_claude_code_acp_asks_and_allow_writes_the_file(relay, model, start_adapter) -> None:
    runner = start_adapter()
    session_id = await runner.wait_session_id()
    session = await wait_status(relay, runner, "idle", timeout=90)
    assert session["agent"] == "claude-code"
    assert session["agent_state"]["acp_session_id"]
    target = runner.workdir / "hello.txt"
    model.add(
        # With our fs capability the adapter swaps Write for its own tool on fs/write.
        tool_use("mcp__acp__Write", {"file_path": str(target), "content": "hi from claude\n"}),
        text("Wrote it."),
    )
    await relay.send_text(session_id, "write hello.txt")
    pending = await wait_pending(relay, runner, timeout=90)
    kinds = {s["kind"] for s in pending["suggestions"] if s.get("type") == "acp_option"}
    assert {"allow_once", "reject_once"} <= kinds
    assert not target.exists()
    await relay.respond(pending["id"], "allow")
    await wait_message(relay, runner, "result", timeout=90)
    assert target.read_text() == "hi from claude\n"
    [answer] = await wait_message(relay, runner, "assistant_text", lambda m: "Wrote" in str(m))
    assert answer["content"]["text"] == "Wrote it."
    messages = await all_messages(relay, session_id)
    assert {"tool_call", "tool_result", "assistant_text", "result"} <= {m["kind"] for m in messages}
    requests = await in_thread(model.wait_main_requests, 2)
    assert "tool_result" in json.dumps(requests[-1].body["messages"][-1])
    await wait_status(relay, runner, "idle")

    # Deny: nothing is written; the adapter refuses the tool and stops the turn (its
    # deny interrupts, like Claude Code's own), so the model is not called again.
    denied = runner.workdir / "denied.txt"
    model.add(tool_use("mcp__acp__Write", {"file_path": str(denied), "content": "no\n"}))
    await relay.send_text(session_id, "write denied.txt")
    pending = await wait_pending(relay, runner, timeout=90)
    await relay.respond(pending["id"], "deny")
    await wait_message(relay, runner, "result", count=2, timeout=90)
    assert not denied.exists()
    messages = await all_messages(relay, session_id)
    failed = [m for m in messages if m["kind"] == "tool_result" and m["content"]["is_error"]]
    assert failed, [(m["kind"], m["content"]) for m in messages[-8:]]
    assert len(model.main_requests()) == 3
    await relay.end_session(session_id)
    assert await runner.wait_exit(60) == 0


async def test_interrupt_mid_turn_ends_the_turn_and_the_next_prompt_works(
    relay, model, start_adapter
) -> None:
    runner = start_adapter()
    await runner.wait_session_id()
    await interrupt_mid_turn_then_prompt(relay, model, runner)
