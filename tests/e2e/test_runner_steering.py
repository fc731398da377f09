"""Steering a running `tether run` from the relay: queued prompts, permission modes,
"always allow", AskUserQuestion, and the command's own refusals."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.e2e.harness import (
    in_thread,
    tool_result_text,
    tool_results,
    until,
    user_texts,
    wait_message,
    wait_pending,
    wait_status,
)
from tests.support.model_server import hold, text, tool_use
from tests.support.server import refused_port
from tether.protocol import PERMISSION_MODES

pytestmark = pytest.mark.slow


async def test_prompt_sent_mid_turn_waits_for_the_turn(relay, model, start_runner) -> None:
    model.add(hold("First answer"), text("Second answer"))
    # --gateway is what claude uses for its model calls: the inherited address is dead.
    runner = start_runner(
        "first question",
        "--gateway",
        model.url,
        env={"ANTHROPIC_BASE_URL": f"http://127.0.0.1:{refused_port()}"},
    )
    await runner.wait_session_id()
    assert await until(
        lambda: in_thread(model.wait_holding, 0.2), 60, "the model mid-answer", runner
    )
    await relay.send_text(runner.session_id, "second question")
    [queued] = await wait_message(
        relay, runner, "status", where=lambda m: m["content"]["status"] == "queued"
    )
    assert "wait" in queued["content"]["text"]

    async def one_queued() -> bool:
        session = await relay.get_session(runner.session_id)
        return session["agent_state"]["queued"] == 1

    await until(one_queued, 30, "agent_state.queued == 1", runner)
    assert len(model.main_requests()) == 1  # not sent to claude mid-turn
    model.release()
    await wait_message(relay, runner, "result", count=2)
    first, second = model.wait_main_requests(2)
    assert user_texts(first.body)[-1] == "first question"
    assert user_texts(second.body)[-1] == "second question"
    session = await wait_status(relay, runner, "idle")
    assert session["agent_state"]["queued"] == 0


async def test_permission_mode_from_the_relay_and_always_allow(relay, model, start_runner) -> None:
    runner = start_runner()
    await runner.wait_session_id()
    await wait_status(relay, runner, "idle")
    one, two, three = (runner.workdir / name for name in ("one.txt", "two.txt", "three.txt"))

    # "Always allow" applies Claude's suggestion (accept edits for this session).
    model.add(
        tool_use("Write", {"file_path": str(one), "content": "1\n"}),
        text("ok"),
        tool_use("Write", {"file_path": str(two), "content": "2\n"}),
        text("ok"),
    )
    await relay.send_text(runner.session_id, "write one")
    permission = await wait_pending(relay, runner)
    assert any(s.get("type") == "setMode" for s in permission["suggestions"])
    await relay.respond(permission["id"], "allow", remember=True)
    await wait_message(relay, runner, "result")
    await relay.send_text(runner.session_id, "write two")
    await wait_message(relay, runner, "result", count=2)
    assert one.read_text() == "1\n" and two.read_text() == "2\n"
    asked = await relay.list_permissions(status=None, session_id=runner.session_id)
    assert len(asked) == 1

    # A mode change from the relay reaches the running agent: "always allow" left Claude in
    # acceptEdits, so only a mode really applied to it makes the next Write ask again.
    await relay.set_permission_mode(runner.session_id, "plan")

    async def mode_applied():
        session = await relay.get_session(runner.session_id)
        return session["agent_state"]["permission_mode"] == "plan"

    await until(mode_applied, 30, "the plan mode in agent_state", runner)
    await relay.set_permission_mode(runner.session_id, "default")
    await until(lambda: _mode_is(relay, runner, "default"), 30, "default mode", runner)
    model.add(tool_use("Write", {"file_path": str(three), "content": "3\n"}), text("ok"))
    await relay.send_text(runner.session_id, "write three")
    permission = await wait_pending(relay, runner)  # default mode asks again
    await relay.respond(permission["id"], "deny", message="not now")
    await wait_message(relay, runner, "result", count=3)
    assert not three.exists()
    # Claude's own init (published when it changed, not at every turn) shows the modes it
    # was really in: default, acceptEdits from "always allow", default from the relay.
    inits = await wait_message(relay, runner, "system")
    assert [m["content"]["permission_mode"] for m in inits] == ["default", "acceptEdits", "default"]


async def test_ask_user_question_is_answered_from_the_relay(relay, model, start_runner) -> None:
    question = {
        "questions": [
            {
                "question": "Which color should the button be?",
                "header": "Color",
                "options": [
                    {"label": "red", "description": "warm"},
                    {"label": "blue", "description": "cool"},
                ],
                "multiSelect": False,
            }
        ]
    }
    model.add(tool_use("AskUserQuestion", question), text("Blue it is."))
    runner = start_runner("style the button")
    await runner.wait_session_id()
    permission = await wait_pending(relay, runner)
    assert permission["tool_name"] == "AskUserQuestion"
    assert permission["input"]["questions"][0]["question"] == question["questions"][0]["question"]
    await relay.respond(permission["id"], "allow", message="blue")
    await wait_message(relay, runner, "result")
    _, followup = model.wait_main_requests(2)
    [answer] = [
        b for b in tool_results(followup.body) if b["tool_use_id"] == permission["tool_use_id"]
    ]
    assert "blue" in tool_result_text(answer)
    assert not answer.get("is_error")


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tether", "run", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--fork"], "--fork needs --resume"),
        (["--permission-mode", "yolo"], "--permission-mode must be one of"),
        (["--cwd", "/no/such/dir"], "is not a directory"),
        (["--permission-timeout", "0"], "must be a positive"),
        (["hello", "--", "--max-turns", "1", "--max-turns", "2"], "given twice"),
        (["--", "stray"], "unexpected claude argument"),
    ],
)
def test_bad_options_fail_in_one_line(args: list[str], says: str) -> None:
    result = run_cli("--token", "x", *args)
    assert result.returncode != 0
    assert says in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("mode", PERMISSION_MODES)
def test_run_takes_every_mode_the_relay_takes(mode: str) -> None:
    # Past the mode check, the next check (--cwd) is what fails: the mode was accepted, as
    # `tether mode ID MODE` and the relay accept it.
    result = run_cli("--token", "x", "--permission-mode", mode, "--cwd", "/no/such/dir")
    assert result.returncode == 1
    assert "is not a directory" in result.stderr, result.stderr


def test_unreachable_relay_and_unknown_session(relay_server, tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TETHER_")}
    env.update(HOME=str(tmp_path), TETHER_DATA_DIR=str(tmp_path))
    down = run_cli("--url", f"http://127.0.0.1:{refused_port()}", "--token", "x", env=env)
    assert down.returncode == 1 and "cannot reach the relay" in down.stderr
    unknown = run_cli(
        "--url", relay_server.url, "--token", relay_server.token, "--resume", "ses_nope", env=env
    )
    assert unknown.returncode == 1 and "no session ses_nope" in unknown.stderr
    refused = run_cli("--url", relay_server.url, "--token", "tth_bad_token", env=env)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr


async def _mode_is(relay, runner, mode: str) -> bool:
    session = await relay.get_session(runner.session_id)
    return session["agent_state"]["permission_mode"] == mode
