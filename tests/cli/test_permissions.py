"""`tether permissions` with plain line prompts (stdin and stdout are pipes), against a
real relay: answering, queueing, answers from elsewhere, cancellations, races, reconnects
and refusals."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.cli.support import Live, cli_env
from tests.client.support import make_token
from tests.support import forkserver
from tests.support.server import TetherServer, refused_port, reserve_port
from tether.client import SyncRelayClient


@pytest.fixture
def handler(env: dict[str, str]) -> Iterator[Live]:
    live = Live(env, "permissions")
    yield live
    live.stop()


def bash(api: SyncRelayClient, sid: str, command: str) -> dict:
    return api.open_permission(
        sid, tool_name="Bash", input={"command": command}, description=f"because {command}"
    )


def test_answers_a_queue_of_requests(handler: Live, api: SyncRelayClient) -> None:
    session = api.create_session(title="build bot", cwd="/srv/build")
    sid = session["id"]
    early = bash(api, sid, "make clean")  # pending before the handler connected
    handler.wait_for("waiting for permission requests")
    shown = handler.wait_for(f"permission request {early['id']}")
    assert "session: build bot  cwd: /srv/build" in handler.lines[shown + 1]
    handler.wait_for("$ make clean", after=shown)
    second = api.open_permission(
        sid,
        tool_name="Write",
        input={
            "file_path": "/srv/build/notes.txt",
            "content": "\n".join(f"l{i}" for i in range(60)),
        },
    )
    third = api.open_permission(
        sid,
        tool_name="Edit",
        input={"file_path": "/srv/build/app.py", "old_string": "x = 1\n", "new_string": "x = 2\n"},
        suggestions=[{"type": "setMode", "mode": "acceptEdits", "destination": "session"}],
    )

    handler.send("allow")
    handler.wait_for("✓ allowed: Bash in build bot")
    at = handler.wait_for(f"permission request {second['id']} (2 waiting)")
    handler.wait_for("write /srv/build/notes.txt (60 lines)", after=at)
    handler.wait_for("answer (2 requests waiting)", after=at)
    handler.wait_for("… 40 more lines", after=at)  # a long input is folded
    handler.send("d not in that directory")
    handler.wait_for("✓ denied: Write")
    at = handler.wait_for(f"permission request {third['id']}")
    handler.wait_for("+   1 │ x = 2", after=at)  # an Edit reads as a numbered diff
    handler.wait_for("  1  Yes, allow all edits this session", after=at)  # the rule, in words
    handler.wait_for("answer (1 request waiting)", after=at)
    handler.send("huh?")
    handler.wait_for("answer with one of the keys shown", after=at)
    handler.send("1")
    handler.wait_for("✓ allowed; allow all edits this session: Edit")

    assert api.get_permission(early["id"])["status"] == "allowed"
    denied = api.get_permission(second["id"])
    assert denied["status"] == "denied" and denied["decision"]["message"] == "not in that directory"
    always = api.get_permission(third["id"])
    assert always["status"] == "allowed" and always["decision"]["remember"] == [0]
    handler.send("q")
    assert handler.wait() == 0


def test_requests_resolved_elsewhere_disappear_with_a_note(
    handler: Live, api: SyncRelayClient
) -> None:
    sid = api.create_session(title="elsewhere")["id"]
    handler.wait_for("waiting for permission requests")
    first = bash(api, sid, "deploy")
    second = bash(api, sid, "rollback")
    handler.wait_for(f"permission request {first['id']}")
    api.respond(first["id"], "allow")  # answered on the phone
    handler.wait_for("Bash request in elsewhere: answered elsewhere, allowed by the admin")
    handler.wait_for(f"permission request {second['id']}")
    api.cancel_permission(second["id"], reason="the agent moved on")
    handler.wait_for("cancelled by the agent (the agent moved on)")
    handler.wait_for("waiting for permission requests", after=len(handler.lines) - 2)
    # A request whose answer crosses one from elsewhere: whichever wins, the handler stays
    # calm and goes on.
    third = bash(api, sid, "race")
    handler.wait_for(f"permission request {third['id']}")
    api.respond(third["id"], "deny")
    handler.send("a")
    fourth = bash(api, sid, "after the race")
    handler.wait_for(f"permission request {fourth['id']}")
    assert "someone was quicker" in handler.text or "answered elsewhere, denied" in handler.text
    assert "error" not in handler.text.lower()
    assert api.get_permission(third["id"])["status"] == "denied"


def test_skip_moves_a_request_to_the_back(handler: Live, api: SyncRelayClient) -> None:
    sid = api.create_session(title="skip")["id"]
    first = bash(api, sid, "one")
    second = bash(api, sid, "two")
    handler.wait_for(f"permission request {first['id']}")
    handler.wait_for("s later · q quit")
    handler.send("s")
    handler.wait_for(f"permission request {second['id']}")
    handler.send("a")
    handler.wait_for("✓ allowed")
    handler.wait_for(f"permission request {first['id']}", after=handler.wait_for("✓ allowed"))
    assert api.get_permission(first["id"])["status"] == "pending"


def test_only_one_session_with_session(env: dict[str, str], api: SyncRelayClient) -> None:
    mine = api.create_session(title="mine")["id"]
    other = api.create_session(title="other")["id"]
    live = Live(env, "permissions", "--session", mine)
    try:
        live.wait_for("for session mine")
        bash(api, other, "not for me")
        wanted = bash(api, mine, "for me")
        live.wait_for(f"permission request {wanted['id']}")
        assert "not for me" not in live.text
    finally:
        live.stop()


def test_reconnects_by_itself_and_says_so(
    server: TetherServer, handler: Live, api: SyncRelayClient
) -> None:
    sid = api.create_session(title="outage")["id"]
    handler.wait_for("waiting for permission requests")
    server.restart()
    handler.wait_for("reconnecting")
    handler.wait_for("reconnected", timeout=60)
    request = bash(api, sid, "after restart")
    handler.wait_for(f"permission request {request['id']}")
    handler.send("a")
    handler.wait_for("✓ allowed")
    assert handler.proc.poll() is None


def test_no_reconnect_exits_non_zero(server: TetherServer, env: dict[str, str]) -> None:
    live = Live(env, "permissions", "--no-reconnect")
    try:
        live.wait_for("waiting for permission requests")
        server.stop()
        assert live.wait() == 1
        assert "error: cannot reach the relay" in live.text
        assert "Traceback" not in live.text
    finally:
        live.stop()


def test_end_of_input_leaves_requests_to_others(env: dict[str, str], api: SyncRelayClient) -> None:
    sid = api.create_session(title="eof")["id"]
    request = bash(api, sid, "ls")
    live = Live(env, "permissions")
    try:
        live.wait_for(f"permission request {request['id']}")
        live.close_stdin()
        assert live.wait() == 0
        assert "input ended" in live.text
        assert api.get_permission(request["id"])["status"] == "pending"
    finally:
        live.stop()


def test_a_token_revoked_while_running_ends_it_at_the_next_connect(
    server: TetherServer, env: dict[str, str], api: SyncRelayClient
) -> None:
    token = make_token(server, "client", "laptop")
    token_id = token.split("_")[1]
    live = Live({**env, "TETHER_TOKEN": token}, "permissions")
    try:
        live.wait_for("as laptop (client)")
        live.wait_for("waiting for permission requests")
        revoked = forkserver.run(
            ["token", "revoke", token_id, "--data-dir", str(server.data_dir)],
            server.env(),
            timeout=60,
        )
        assert revoked.returncode == 0, revoked.stderr
        server.restart()  # the open stream ends; the reconnect is refused
        assert live.wait(60) == 1
        assert "error: the relay at" in live.text and "refused the token" in live.text
        assert live.text.count("reconnecting") <= 1  # no retry storm
        assert "Traceback" not in live.text
    finally:
        live.stop()


def test_waits_for_a_relay_that_is_not_up_yet(server_factory, tmp_path) -> None:
    """Started before its relay, it says so and connects once the relay is up, with stdout
    a pipe and no PYTHONUNBUFFERED: every line (the prompt too) arrives as it is written."""
    held = reserve_port()  # refuses connections until the server below takes the port
    port = held.getsockname()[1]
    (tmp_path / "cli").mkdir()
    env = cli_env(f"http://127.0.0.1:{port}", "test-admin-early", tmp_path / "cli")
    env.pop("PYTHONUNBUFFERED")
    live = Live(env, "permissions")
    try:
        live.wait_for("lost the relay at")
        assert live.proc.poll() is None
        held.close()
        server = server_factory(port=port, token="test-admin-early")
        live.wait_for("reconnected", timeout=60)
        with SyncRelayClient(server.url, server.token) as api:
            sid = api.create_session(title="late relay")["id"]
            request = bash(api, sid, "echo late")
            live.wait_for(f"permission request {request['id']}")
            live.wait_for("  y  Yes")  # the prompt, before any answer is given
            live.send("a")
            live.wait_for("✓ allowed")
            assert api.get_permission(request["id"])["status"] == "allowed"
    finally:
        held.close()
        live.stop()


def test_no_reconnect_exits_at_once_when_the_relay_is_down(tmp_path) -> None:
    (tmp_path / "cli").mkdir()
    env = cli_env(f"http://127.0.0.1:{refused_port()}", "test-admin-none", tmp_path / "cli")
    done = forkserver.run(["permissions", "--no-reconnect"], env, timeout=60)
    assert done.returncode == 1
    assert "cannot reach the relay" in done.stderr + done.stdout


def test_a_question_is_answered_as_a_form(handler: Live, api: SyncRelayClient) -> None:
    sid = api.create_session(title="asker")["id"]
    handler.wait_for("waiting for permission requests")
    request = api.open_permission(
        sid,
        tool_name="AskUserQuestion",
        input={
            "questions": [
                {"question": "Which db?", "options": [{"label": "sqlite"}, {"label": "pg"}]},
                {"question": "Why?", "options": []},
            ]
        },
    )
    at = handler.wait_for("AskUserQuestion — ask you 2 questions")
    handler.wait_for("Which db?  (question 1 of 2)", after=at)
    assert '"questions"' not in handler.text  # no raw JSON
    handler.send("2")
    handler.wait_for("Why?  (question 2 of 2)", after=at)
    handler.send("it scales")
    handler.wait_for("✓ answered: Which db? → pg; Why? → it scales")
    done = api.get_permission(request["id"])
    assert done["status"] == "allowed"
    assert done["decision"]["updated_input"]["answers"] == {"Which db?": "pg", "Why?": "it scales"}


def test_a_long_command_expands_with_e(handler: Live, api: SyncRelayClient) -> None:
    sid = api.create_session(title="long")["id"]
    handler.wait_for("waiting for permission requests")
    lines = "\n".join(f"echo step{i}" for i in range(30))
    api.open_permission(
        sid, tool_name="Bash", input={"command": lines + " && rm -rf /" + "x" * 500}
    )
    at = handler.wait_for("… 10 more lines")
    assert "step29" not in handler.text
    handler.wait_for("e show it all", after=at)
    handler.send("e")
    handler.wait_for("rm -rf /" + "x" * 500, after=at)
    handler.send("n")
    handler.wait_for("✓ denied: Bash")
