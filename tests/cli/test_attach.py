"""`tether attach` with stdin and stdout as pipes, against a real relay: history then
live, prompts, inline permission answers, and a viewer that rides out a relay restart."""

from __future__ import annotations

import signal

from tests.cli.support import Live
from tests.support.server import TetherServer
from tether.client import SyncRelayClient


def agent_says(api: SyncRelayClient, sid: str, *messages: dict) -> None:
    api.post_messages(sid, [{"role": "agent", **m} for m in messages])


def text(kind: str, value: str) -> dict:
    return {"kind": kind, "content": {"text": value}}


def test_history_then_live_and_steering(env: dict[str, str], api: SyncRelayClient) -> None:
    sid = api.create_session(title="attach me", cwd="/srv/app")["id"]
    agent_says(
        api,
        sid,
        {"kind": "system", "content": {"model": "claude-test", "cwd": "/srv/app"}},
        text("thinking", "let me look\nat the files\nfirst\nand more\nand more"),
        text("assistant_text", "# Plan\nI will **list** the files."),
        {
            "kind": "tool_call",
            "content": {"call_id": "c1", "name": "Bash", "input": {"command": "ls -la /srv/app"}},
        },
        {
            "kind": "tool_result",
            "content": {"call_id": "c1", "is_error": False, "output": "a.py\nb.py\nc.py\nd.py"},
        },
        {"kind": "usage", "content": {"input_tokens": 1200, "output_tokens": 34}},
        {"kind": "result", "content": {"subtype": "success", "is_error": False}},
    )
    live = Live(env, "attach", sid)
    try:
        live.wait_for("attached to attach me")
        live.wait_for("· claude-test started in /srv/app")
        live.wait_for("let me look")
        live.wait_for("I will list the files.")  # Markdown, rendered
        live.wait_for("⏺ Bash(ls -la /srv/app)")
        at = live.wait_for("⎿ a.py")
        live.wait_for("… 2 more lines", after=at)  # a tool result folded to two lines
        live.wait_for("[claude-test · mode default · 1.2k in / 34 out")
        assert "and more" not in live.text  # thinking folded too

        agent_says(api, sid, text("assistant_text", "live words"))
        live.wait_for("live words")
        live.send("please also run the tests")
        live.wait_for("› please also run the tests")
        prompts = [m for m in api.messages(sid) if m["kind"] == "user_text"]
        assert [m["content"]["text"] for m in prompts] == ["please also run the tests"]

        request = api.open_permission(sid, tool_name="Bash", input={"command": "pytest -x"})
        at = live.wait_for(f"permission request {request['id']}")
        live.wait_for("$ pytest -x", after=at)
        live.send("y")
        live.wait_for("✓ allowed: Bash")
        assert api.get_permission(request["id"])["status"] == "allowed"

        live.send("/mode acceptEdits")
        live.wait_for("mode acceptEdits")
        assert api.get_session(sid)["permission_mode"] == "acceptEdits"
        # Ctrl-C interrupts the turn; a second one detaches.
        live.proc.send_signal(signal.SIGINT)
        live.wait_for("interrupting the turn")
        live.wait_for("interrupt requested by")
        live.proc.send_signal(signal.SIGINT)
        assert live.wait() == 0
    finally:
        live.stop()


def test_a_session_that_ends_detaches(env: dict[str, str], api: SyncRelayClient) -> None:
    sid = api.create_session(title="short")["id"]
    live = Live(env, "attach", sid)
    try:
        live.wait_for("attached to short")
        live.wait_for("/quit")
        api.end_session(sid)
        live.wait_for("the session ended")
        assert live.wait() == 0
    finally:
        live.stop()


def test_viewer_only_sends_nothing_and_rides_out_a_restart(
    server: TetherServer, env: dict[str, str], api: SyncRelayClient
) -> None:
    sid = api.create_session(title="watch only")["id"]
    agent_says(api, sid, text("assistant_text", "before the outage"))
    live = Live(env, "attach", "--viewer-only", sid)
    try:
        live.wait_for("viewer only")
        live.wait_for("before the outage")
        live.send("this must not be sent")
        request = api.open_permission(sid, tool_name="Bash", input={"command": "ls"})
        live.wait_for(f"permission request {request['id']}")
        live.send("y")
        server.stop()
        live.wait_for("reconnecting")
        server.start()
        agent_says(api, sid, text("assistant_text", "after the outage"))
        live.wait_for("reconnected", timeout=90)
        live.wait_for("after the outage", timeout=60)
        assert "answer with" not in live.text
        assert [m["kind"] for m in api.messages(sid)] == ["assistant_text"] * 2
        assert api.get_permission(request["id"])["status"] == "pending"
        live.proc.send_signal(signal.SIGINT)  # a viewer detaches on the first Ctrl-C
        assert live.wait() == 0
    finally:
        live.stop()


def test_line_mode_output_reaches_a_pipe_at_once(env: dict[str, str], api: SyncRelayClient) -> None:
    """stdout a pipe and no PYTHONUNBUFFERED: the permission prompt is on the pipe before
    it is answered, so a script can read it and then answer."""
    sid = api.create_session(title="piped")["id"]
    request = api.open_permission(sid, tool_name="Bash", input={"command": "make"})
    live = Live({k: v for k, v in env.items() if k != "PYTHONUNBUFFERED"}, "attach", sid)
    try:
        live.wait_for(f"permission request {request['id']}")
        live.wait_for("  y  Yes")
        live.send("y")
        live.wait_for("allowed")
        assert api.get_permission(request["id"])["status"] == "allowed"
    finally:
        live.stop()


def test_authorship_comes_from_the_role(env: dict[str, str], api: SyncRelayClient) -> None:
    sid = api.create_session(title="who said it")["id"]
    api.post_messages(
        sid,
        [
            {"role": "user", "kind": "user_text", "content": {"text": "a person asks"}},
            # The agent's own "user" frame (a subagent's prompt) is not a person speaking.
            {"role": "agent", "kind": "user_text", "content": {"text": "subagent task"}},
        ],
    )
    live = Live(env, "attach", "--viewer-only", sid)
    try:
        live.wait_for("› a person asks")
        live.wait_for("↳ subagent task")
        assert "› subagent task" not in live.text
    finally:
        live.stop()


def test_attach_says_when_the_agent_goes_offline(env: dict[str, str], api: SyncRelayClient) -> None:
    """The runner's stream ends (as with kill -9): attach says the agent is offline, and a
    prompt typed then is queued for when it returns."""
    sid = api.create_session(title="fragile", status="idle")["id"]
    runner = api.events(session_id=sid, runner=True)
    assert next(runner).data["agent_online"] is True  # the runner holds the lease
    live = Live(env, "attach", sid)
    try:
        live.wait_for("attached to fragile")
        runner.close()
        live.wait_for("agent offline: its runner is gone")
        live.send("still there?")
        live.wait_for("queued: the agent is offline")
        assert [m["content"]["text"] for m in api.messages(sid)] == ["still there?"]
    finally:
        live.stop()
