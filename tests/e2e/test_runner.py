"""`tether run` end to end: the real claude binary, a real relay, a scripted model.

Each test plays the people's side through `tether.client` and checks what reached the
relay, what claude did on disk, and what the model was shown next.
"""

from __future__ import annotations

import os
import signal

import pytest

from tests.e2e.harness import (
    all_messages,
    in_thread,
    record_fixture,
    tool_result_text,
    tool_results,
    until,
    user_texts,
    wait_message,
    wait_pending,
    wait_status,
)
from tests.support.model_server import hold, text, tool_use

pytestmark = pytest.mark.slow


async def test_remote_prompt_is_answered_and_end_from_relay_stops_the_runner(
    relay, model, start_runner
) -> None:
    model.add(text("Hello from the model."))
    runner = start_runner("--title", "remote prompt")
    session_id = await runner.wait_session_id()
    session = await wait_status(relay, runner, "idle")
    assert session["title"] == "remote prompt"
    assert session["agent"] == "claude-code"

    prompt = await relay.send_text(session_id, "Say hello")
    [answer] = await wait_message(relay, runner, "assistant_text")
    assert answer["content"]["text"] == "Hello from the model."
    assert answer["seq"] > prompt["seq"]
    await wait_message(relay, runner, "result")
    session = await wait_status(relay, runner, "idle")

    # Claude's own session id and the agent's facts are in agent_state.
    state = session["agent_state"]
    [init] = await wait_message(relay, runner, "system")
    assert state["claude_session_id"] == init["content"]["claude_session_id"]
    assert state["model"] == init["content"]["model"]
    assert state["cwd"] == str(runner.workdir)
    assert state["permission_mode"] == "default"
    assert state["status"] == "idle"
    # The model saw exactly the person's words as the prompt.
    [request] = model.wait_main_requests(1)
    assert "Say hello" in user_texts(request.body)
    record_fixture("prompt", request.body)
    # Every message is stored once, in order, each with the raw event beside it.
    messages = await all_messages(relay, session_id)
    assert [m["seq"] for m in messages] == list(range(1, len(messages) + 1))
    assert len({m["id"] for m in messages}) == len(messages)
    assert all(
        m["raw"] is not None for m in messages if m["role"] == "agent" and m["kind"] != "status"
    )

    await relay.end_session(session_id, reason="done here")
    assert await runner.wait_exit() == 0
    session = await relay.get_session(session_id)
    assert session["status"] == "ended"
    assert session["agent_state"]["status"] == "ended"
    assert session_id in runner.output()
    assert f"/#/session/{session_id}" in runner.output()


async def test_write_allowed_denied_and_allowed_with_edited_input(
    relay, model, start_runner
) -> None:
    target = "notes.txt"
    runner = start_runner()
    await runner.wait_session_id()
    path = runner.workdir / target
    await wait_status(relay, runner, "idle")

    # 1. allowed as asked: the file is written with the model's content.
    model.add(tool_use("Write", {"file_path": str(path), "content": "first\n"}), text("Wrote it."))
    await relay.send_text(runner.session_id, "write the file")
    permission = await wait_pending(relay, runner)
    assert permission["tool_name"] == "Write"
    assert permission["input"] == {"file_path": str(path), "content": "first\n"}
    assert permission["tool_use_id"].startswith("toolu_")
    assert permission["title"]
    assert isinstance(permission["suggestions"], list)
    session = await wait_status(relay, runner, "waiting")
    assert session["agent_state"]["status"] == "waiting"
    await relay.respond(permission["id"], "allow")
    await wait_message(relay, runner, "result")
    assert path.read_text() == "first\n"
    await wait_status(relay, runner, "idle")

    # 2. denied with a message: nothing written, and the model is told why.
    model.add(
        tool_use("Write", {"file_path": str(path), "content": "second\n"}), text("Understood.")
    )
    await relay.send_text(runner.session_id, "overwrite it")
    permission = await wait_pending(relay, runner)
    await relay.respond(permission["id"], "deny", message="Not that file, please.")
    await wait_message(relay, runner, "result", count=2)
    assert path.read_text() == "first\n"
    requests = model.wait_main_requests(4)
    denial = [
        b for b in tool_results(requests[3].body) if b["tool_use_id"] == permission["tool_use_id"]
    ]
    assert denial and denial[0].get("is_error") is True
    assert "Not that file, please." in tool_result_text(denial[0])
    record_fixture("tool_denied", requests[3].body)
    [denied_result] = await wait_message(
        relay,
        runner,
        "tool_result",
        where=lambda m: m["content"]["call_id"] == permission["tool_use_id"],
    )
    assert denied_result["content"]["is_error"] is True
    await wait_status(relay, runner, "idle")

    # 3. allowed with the input edited by the person: the edited content is written.
    model.add(tool_use("Write", {"file_path": str(path), "content": "third\n"}), text("Done."))
    await relay.send_text(runner.session_id, "try again")
    permission = await wait_pending(relay, runner)
    await relay.respond(
        permission["id"],
        "allow",
        updated_input={"file_path": str(path), "content": "edited by a human\n"},
    )
    await wait_message(relay, runner, "result", count=3)
    assert path.read_text() == "edited by a human\n"
    record_fixture("tool_result", model.wait_main_requests(6)[5].body)
    calls = await wait_message(relay, runner, "tool_call", count=3)
    assert [c["content"]["name"] for c in calls] == ["Write"] * 3


async def test_interrupt_mid_turn_then_the_session_goes_on(relay, model, start_runner) -> None:
    model.add(hold("Thinking about it for a long time"))
    runner = start_runner("count to a million")
    await runner.wait_session_id()
    assert await until(
        lambda: in_thread(model.wait_holding, 0.2), 60, "the model to be mid-answer", runner
    )
    await wait_status(relay, runner, "running")
    await relay.interrupt(runner.session_id)
    [result] = await wait_message(relay, runner, "result", timeout=30)
    model.release()
    await wait_status(relay, runner, "idle")
    assert result["content"]["terminal_reason"] != "completed" or result["content"]["is_error"], (
        result["content"]
    )

    # The agent is still there and answers the next prompt.
    model.add(text("Still here."))
    await relay.send_text(runner.session_id, "are you there?")
    await wait_message(
        relay, runner, "assistant_text", where=lambda m: m["content"]["text"] == "Still here."
    )


async def test_interrupt_cancels_the_open_permission_request(relay, model, start_runner) -> None:
    runner = start_runner()
    await runner.wait_session_id()
    path = runner.workdir / "never.txt"
    model.add(tool_use("Write", {"file_path": str(path), "content": "no\n"}))
    await wait_status(relay, runner, "idle")
    await relay.send_text(runner.session_id, "write never.txt")
    permission = await wait_pending(relay, runner)
    await relay.interrupt(runner.session_id)
    resolved = await relay.get_permission(permission["id"], wait=30)
    assert resolved["status"] == "cancelled"
    await wait_message(relay, runner, "result")
    await wait_status(relay, runner, "idle")
    assert not path.exists()
    assert await relay.list_permissions(status="pending", session_id=runner.session_id) == []


async def test_unanswered_request_expires_and_the_model_is_told(relay, model, start_runner) -> None:
    runner = start_runner("--permission-timeout", "1")
    await runner.wait_session_id()
    path = runner.workdir / "late.txt"
    model.add(
        tool_use("Write", {"file_path": str(path), "content": "late\n"}),
        text("Nobody answered; I will wait."),
    )
    await wait_status(relay, runner, "idle")
    await relay.send_text(runner.session_id, "write late.txt")
    permission = await wait_pending(relay, runner)
    resolved = await relay.get_permission(permission["id"], wait=30)
    assert resolved["status"] == "expired"
    await wait_message(relay, runner, "result")
    assert not path.exists()
    [_, followup] = model.wait_main_requests(2)
    [block] = [
        b for b in tool_results(followup.body) if b["tool_use_id"] == permission["tool_use_id"]
    ]
    assert "timed out" in tool_result_text(block)


async def test_nothing_is_lost_while_the_relay_restarts(
    relay, relay_server, model, start_runner
) -> None:
    model.add(hold("Part one"))
    runner = start_runner("start a long job")
    session_id = await runner.wait_session_id()
    await until(lambda: in_thread(model.wait_holding, 0.2), 60, "the model mid-answer", runner)
    relay_server.stop()
    # The turn finishes while the relay is down: its events wait in the outbox.
    model.release()
    await until(
        lambda: in_thread(lambda: "turn success" in runner.output()),
        60,
        "the turn to end at the terminal",
        runner,
    )
    relay_server.start()
    # A prompt sent right after the relay came back, before the runner reconnected.
    model.add(text("Answer two"))
    await relay.send_text(session_id, "second question")
    await wait_message(
        relay, runner, "assistant_text", where=lambda m: m["content"]["text"] == "Answer two"
    )
    texts = [
        m["content"]["text"]
        for m in await all_messages(relay, session_id)
        if m["kind"] == "assistant_text"
    ]
    assert texts == ["Part one", "Answer two"]  # delivered once each, in order
    # The second turn's result is posted after its text, so wait for it (a doubled one
    # would make three).
    results = await wait_message(relay, runner, "result", count=2)
    assert len(results) == 2
    assert runner.proc is not None and runner.proc.poll() is None


async def _a_finished_conversation(relay, model, start_runner) -> tuple[str, str]:
    """A session whose one turn told Claude a number, ended: its id and Claude's own."""
    model.add(text("I will remember 4242."))
    first = start_runner("remember the number 4242", "--exit-when-done")
    session_id = await first.wait_session_id()
    assert await first.wait_exit() == 0
    ended = await relay.get_session(session_id)
    assert ended["status"] == "ended"
    claude_id = ended["agent_state"]["claude_session_id"]
    assert claude_id
    return session_id, claude_id


async def test_resume_continues_the_same_claude_conversation(relay, model, start_runner) -> None:
    session_id, claude_id = await _a_finished_conversation(relay, model, start_runner)

    model.add(text("It was 4242."))
    second = start_runner("--resume", session_id)
    assert await second.wait_session_id() == session_id
    await wait_status(relay, second, "idle")
    await relay.send_text(session_id, "which number?")
    await wait_message(
        relay, second, "assistant_text", where=lambda m: m["content"]["text"] == "It was 4242."
    )
    [_, request] = model.wait_main_requests(2)
    seen = "\n".join(user_texts(request.body))
    assert "remember the number 4242" in seen and "which number?" in seen
    record_fixture("resumed", request.body)
    session = await relay.get_session(session_id)
    assert session["agent_state"]["claude_session_id"] == claude_id
    # Ctrl-C stops the agent cleanly and ends the session.
    second.interrupt()
    assert await second.wait_exit() == 130
    assert (await relay.get_session(session_id))["status"] == "ended"


async def test_fork_continues_the_conversation_in_a_new_session(relay, model, start_runner) -> None:
    session_id, claude_id = await _a_finished_conversation(relay, model, start_runner)

    # The same conversation continues in a new relay session and a new Claude id.
    model.add(text("Forked, and it was 4242."))
    third = start_runner("--resume", session_id, "--fork", "and now?")
    forked_id = await third.wait_session_id()
    assert forked_id != session_id
    await wait_message(relay, third, "result")
    forked = await relay.get_session(forked_id)
    assert forked["metadata"] == {"forked_from": session_id}
    assert forked["agent_state"]["claude_session_id"] not in (None, claude_id)
    request = model.wait_main_requests(2)[1]
    assert "remember the number 4242" in "\n".join(user_texts(request.body))
    assert (await relay.get_session(session_id))["status"] == "ended"  # left as it was


async def test_killed_agent_ends_the_session_with_an_error(relay, model, start_runner) -> None:
    runner = start_runner()
    await runner.wait_session_id()
    session = await wait_status(relay, runner, "idle")
    pid = session["agent_state"]["pid"]
    assert isinstance(pid, int)
    os.kill(pid, signal.SIGKILL)
    [error] = await wait_message(relay, runner, "error")
    assert "exited unexpectedly" in error["content"]["message"]
    assert "stderr" in error["content"]
    assert await runner.wait_exit() == 1
    session = await relay.get_session(runner.session_id)
    assert session["status"] == "ended"
    assert session["agent_state"]["status"] == "ended"


async def test_a_crashed_runner_loses_nothing(relay, relay_server, model, start_runner) -> None:
    model.add(hold("Said before the crash"))
    first = start_runner("a job")
    session_id = await first.wait_session_id()
    await until(lambda: in_thread(model.wait_holding, 0.2), 60, "the model mid-answer", first)
    relay_server.stop()
    model.release()  # the turn ends while the relay is away: kept in the outbox
    await until(
        lambda: in_thread(lambda: "turn success" in first.output()),
        60,
        "the turn to end at the terminal",
        first,
    )
    assert first.proc is not None
    first.proc.kill()  # the runner dies with undelivered events
    first.proc.wait(10)
    relay_server.start()
    assert (await relay.get_session(session_id))["status"] != "ended"

    # The next runner on this machine delivers them, and ends the abandoned session.
    second = start_runner()
    await second.wait_session_id()
    texts = await wait_message(relay, first, "assistant_text")
    assert [m["content"]["text"] for m in texts] == ["Said before the crash"]
    await wait_message(relay, first, "result")
    [error] = await wait_message(relay, first, "error")
    assert "stopped unexpectedly" in error["content"]["message"]
    session = await wait_status(relay, first, "ended")
    assert session["agent_state"]["status"] == "ended"


async def test_a_killed_runner_shows_offline_and_a_queued_prompt_reaches_the_next(
    relay, model, start_runner
) -> None:
    model.add(text("Hi."))
    first = start_runner("hello")
    session_id = await first.wait_session_id()
    await wait_message(relay, first, "result")
    await wait_status(relay, first, "idle")

    async def online() -> bool:  # the runner's event stream holds the lease
        return (await relay.get_session(session_id))["agent_online"] is True

    await until(online, 30, "the runner to hold its lease")
    assert first.proc is not None
    first.proc.kill()  # kill -9: no goodbye
    first.proc.wait(10)

    async def offline() -> bool:
        return (await relay.get_session(session_id))["agent_online"] is False

    await until(offline, 30, "the session to say its agent is offline")
    # Queued, not refused: the next runner for this session hears it.
    await relay.send_text(session_id, "are you back?")
    model.add(text("Back, and I heard you."))
    second = start_runner("--resume", session_id)
    assert await second.wait_session_id() == session_id
    await wait_message(
        relay, second, "assistant_text", where=lambda m: m["content"]["text"].startswith("Back")
    )
    assert "are you back?" in user_texts(model.wait_main_requests(1)[-1].body)
    await until(online, 30, "the next runner to hold the lease")
