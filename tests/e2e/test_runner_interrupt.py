"""An allowed tool that is then interrupted, with the real claude binary: Claude Code
answers it with "The user doesn't want to proceed with this tool use", which the runner
marks as interrupted; its interrupt notice names who interrupted; and the turn's result
counts the time the request stood unanswered apart from the work."""

from __future__ import annotations

import asyncio

import pytest

from tests.e2e.harness import until, wait_message, wait_pending, wait_status
from tests.support.model_server import tool_use

pytestmark = pytest.mark.slow


async def test_an_allowed_then_interrupted_tool_reads_interrupted(
    relay, model, start_runner
) -> None:
    runner = start_runner()
    await runner.wait_session_id()
    await wait_status(relay, runner, "idle")
    started = runner.workdir / "started.flag"
    model.add(tool_use("Bash", {"command": f"touch {started} && sleep 60"}))
    await relay.send_text(runner.session_id, "wait a minute")
    permission = await wait_pending(relay, runner)
    await asyncio.sleep(0.2)  # the person reads the card
    await relay.respond(permission["id"], "allow")
    assert await until(lambda: asyncio.sleep(0, started.exists()), 60, "the command to run", runner)
    await relay.interrupt(runner.session_id)

    [result] = await wait_message(relay, runner, "result", timeout=30)
    [stopped] = await wait_message(
        relay,
        runner,
        "tool_result",
        where=lambda m: m["content"]["call_id"] == permission["tool_use_id"],
    )
    assert "doesn't want to proceed" in str(stopped["content"]["output"])  # Claude's words
    assert stopped["content"]["interrupted"] is True
    [notice] = await wait_message(
        relay, runner, "user_text", where=lambda m: m["content"].get("interrupt") is True
    )
    assert notice["role"] == "agent" and notice["content"]["interrupted_by"]
    assert result["content"]["interrupted_by"] == notice["content"]["interrupted_by"]
    assert 0 < result["content"]["waiting_ms"] <= result["content"]["duration_ms"]
