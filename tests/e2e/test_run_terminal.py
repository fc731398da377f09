"""`tether run` in a real terminal (tmux) answers its own agent's permission requests, as
Claude Code does, while any other device may still answer first."""

from __future__ import annotations

import pytest

from tests.cli.test_tmux import Pane
from tests.e2e.harness import RunnerProcess, wait_message, wait_pending
from tests.support.model_server import text, tool_use

pytestmark = pytest.mark.slow


def run_pane(runner: RunnerProcess, *args: str) -> Pane:
    """`tether run` in a tmux pane, with the runner's environment (claude, the model)."""
    runner.workdir.mkdir(parents=True, exist_ok=True)
    (runner.root / "home").mkdir(parents=True, exist_ok=True)
    (runner.root / "runner-config.yaml").write_text("")
    return Pane(runner.env(), "run", "--cwd", str(runner.workdir), *args, cwd=str(runner.workdir))


async def test_run_asks_here_and_a_phone_may_answer_first(
    tmp_path, relay, relay_server, model
) -> None:
    runner = RunnerProcess(relay_server, model, tmp_path / "agent")
    path = runner.workdir / "notes.txt"
    model.add(tool_use("Write", {"file_path": str(path), "content": "hello\n"}), text("Wrote it."))
    pane = run_pane(runner, "write the notes")
    try:
        screen = pane.wait_for("y  Yes", timeout=90)  # the request, asked right here
        assert "notes.txt" in screen and "n  No" in screen
        pane.type("y")
        pane.wait_for("✓ allowed: Write")
        pane.wait_for("Wrote it.")
        assert path.read_text() == "hello\n"

        # The next one is answered from elsewhere first: the question here goes away.
        runner.session_id = next(
            line.strip() for line in pane.screen().splitlines() if line.startswith("ses_")
        )
        model.add(tool_use("Write", {"file_path": str(path), "content": "bye\n"}), text("Ok."))
        await relay.send_text(runner.session_id, "overwrite it")
        permission = await wait_pending(relay, runner)
        pane.wait_for("bye")
        await relay.respond(permission["id"], "deny", message="not now")
        pane.wait_for("answered elsewhere, denied")
        await wait_message(relay, runner, "result", count=2)
        assert path.read_text() == "hello\n"
    finally:
        pane.close()
