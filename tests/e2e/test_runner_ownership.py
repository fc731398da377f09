"""`tether run` with its own agent token: it creates and drives its session as before,
and `--resume` of a session another token created is refused with a clear error."""

from __future__ import annotations

import pytest

from tests.e2e.harness import wait_message, wait_status
from tests.relay.support import make_token
from tests.support.model_server import text

pytestmark = pytest.mark.slow


async def test_runner_with_an_agent_token_owns_its_session(
    relay, relay_server, model, start_runner
) -> None:
    agent = make_token(relay_server, "agent", "laptop-runner")
    model.add(text("Hi from an agent token."))
    runner = start_runner("--title", "owned", env={"TETHER_TOKEN": agent})
    session_id = await runner.wait_session_id()
    await wait_status(relay, runner, "idle")
    await relay.send_text(session_id, "hello")
    [answer] = await wait_message(relay, runner, "assistant_text")
    assert answer["content"]["text"] == "Hi from an agent token."
    assert answer["author"] == "laptop-runner"

    # A session the admin made is not this agent token's to resume.
    foreign = await relay.create_session(title="not yours")
    other = start_runner("--resume", foreign["id"], env={"TETHER_TOKEN": agent})
    assert await other.wait_exit() != 0
    out = other.output()
    assert f"cannot resume session {foreign['id']}" in out
    assert "created by another token" in out and "Traceback" not in out
