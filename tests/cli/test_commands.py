"""`tether sessions`, `send`, `interrupt`, `mode` and `end` as subprocesses against a real
relay: their output, their exit codes, and one clear line for every way they can fail."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.support import cli_env, one_line_error, tether
from tests.client.support import make_token
from tests.support.server import TetherServer, refused_port
from tether.client import SyncRelayClient


def test_sessions_table_and_json(env: dict[str, str], api: SyncRelayClient) -> None:
    empty = tether(env, "sessions")
    assert empty.returncode == 0 and "no sessions" in empty.stdout
    first = api.create_session(title="fix the build", cwd="/srv/app")
    second = api.create_session(title="write docs", cwd="/srv/docs")
    api.open_permission(second["id"], tool_name="Bash", input={"command": "make"})
    api.end_session(first["id"])

    table = tether(env, "sessions")
    assert table.returncode == 0, table.stderr
    rows = table.stdout.splitlines()
    assert rows[0].split() == ["ID", "STATUS", "ACTIVE", "TITLE", "CWD", "ASKS"]
    by_id = {row.split()[0]: row for row in rows[1:]}
    assert list(by_id) == [second["id"], first["id"]]  # the one that waits comes first
    assert "write docs" in by_id[second["id"]] and "/srv/docs" in by_id[second["id"]]
    assert by_id[second["id"]].split()[1] == "waiting"
    assert by_id[second["id"]].endswith("wants to run `make`")
    assert "ended" in by_id[first["id"]]

    listed = json.loads(tether(env, "sessions", "--json").stdout)
    assert [s["id"] for s in listed] == [s["id"] for s in api.list_sessions()]
    assert {s["id"]: s["pending_permissions"] for s in listed}[second["id"]] == 1
    active = json.loads(tether(env, "sessions", "--json", "--status", "active").stdout)
    assert [s["id"] for s in active] == [second["id"]]


def test_send_interrupt_mode_end(env: dict[str, str], api: SyncRelayClient) -> None:
    session = api.create_session(title="steer me")
    sid = session["id"]
    sent = tether(env, "send", sid, "please run the tests")
    assert sent.returncode == 0, sent.stderr
    assert sent.stdout.strip() == f"sent to {sid} (steer me) as message #1"
    # A unique start of the id is enough, with or without the ses_ prefix.
    piped = tether(env, "send", sid[4:10], "-", input="from stdin\n")
    assert piped.returncode == 0, piped.stderr
    texts = [m["content"]["text"] for m in api.messages(sid)]
    assert texts == ["please run the tests", "from stdin\n"]
    assert {m["kind"] for m in api.messages(sid)} == {"user_text"}

    stopped = tether(env, "interrupt", sid)
    assert stopped.returncode == 0 and "stop its turn" in stopped.stdout
    events = api.events(session_id=sid, since=0)
    controls = []
    for event in events:
        if event.type == "control":
            controls.append(event.data)
            break
    events.close()
    assert controls[0]["action"] == "interrupt"
    idle = api.create_session(title="resting", status="idle")["id"]
    nothing = tether(env, "interrupt", idle)
    assert nothing.stdout.strip() == f"nothing to interrupt: {idle} (resting) is idle"

    changed = tether(env, "mode", sid, "plan")
    assert changed.returncode == 0 and "now in plan mode" in changed.stdout
    assert api.get_session(sid)["permission_mode"] == "plan"
    wrong = tether(env, "mode", sid, "yolo")
    assert wrong.returncode == 2 and "acceptEdits" in wrong.stderr

    request = api.open_permission(sid, tool_name="Bash", input={"command": "ls"})
    ended = tether(env, "end", sid, "--reason", "done for today")
    assert ended.returncode == 0 and ended.stdout.strip() == f"ended {sid} (steer me)"
    assert api.get_session(sid)["status"] == "ended"
    assert api.get_permission(request["id"])["status"] == "cancelled"
    late = one_line_error(tether(env, "interrupt", sid))
    assert "ended" in late


@pytest.mark.parametrize(
    "command",
    [
        ["send", "{id}", "hi"],
        ["interrupt", "{id}"],
        ["mode", "{id}", "plan"],
        ["end", "{id}"],
        ["attach", "{id}"],
        ["permissions", "--session", "{id}"],
    ],
)
def test_an_unknown_session_is_one_line(
    env: dict[str, str], api: SyncRelayClient, command: list[str]
) -> None:
    api.create_session(title="a")
    api.create_session(title="b")
    done = tether(env, *[c.replace("{id}", "ses_nope") for c in command])
    assert "no session 'ses_nope'" in one_line_error(done)
    assert done.returncode == 1
    # "ses_" alone starts both ids: ambiguous, and said so.
    ambiguous = tether(env, *[c.replace("{id}", "ses_") for c in command])
    assert "matches several sessions" in one_line_error(ambiguous)


@pytest.mark.parametrize(
    "command",
    [
        ["sessions"],
        ["send", "x", "hi"],
        ["interrupt", "x"],
        ["mode", "x", "plan"],
        ["end", "x"],
        ["attach", "x"],
        ["permissions"],
        ["connect"],
    ],
)
def test_a_refused_token_and_an_unreachable_relay_are_one_line(
    server: TetherServer, tmp_path: Path, command: list[str]
) -> None:
    (tmp_path / "cli").mkdir()
    refused = tether(cli_env(server.url, "tth_wrong", tmp_path / "cli"), *command)
    line = one_line_error(refused)
    assert "refused the token" in line and "tth_wrong" not in line

    nowhere = f"http://127.0.0.1:{refused_port()}"
    # `tether permissions` waits for a relay that is not up yet, unless told not to.
    waits = command[0] in ("permissions", "connect")
    down = tether(
        cli_env(nowhere, server.token, tmp_path / "cli"),
        *command,
        *(["--no-reconnect"] if waits else []),
    )
    assert f"cannot reach the relay at {nowhere}" in one_line_error(down)


def test_no_token_anywhere_says_where_to_get_one(server: TetherServer, tmp_path: Path) -> None:
    (tmp_path / "cli").mkdir()
    done = tether(cli_env(server.url, None, tmp_path / "cli"), "sessions")
    assert "no token" in one_line_error(done)


def test_a_viewer_token_may_look_but_not_steer(
    server: TetherServer, env: dict[str, str], api: SyncRelayClient
) -> None:
    sid = api.create_session(title="watched")["id"]
    viewer_env = {**env, "TETHER_TOKEN": make_token(server, "viewer", "tv")}
    assert tether(viewer_env, "sessions").returncode == 0
    line = one_line_error(tether(viewer_env, "send", sid, "hi"))
    assert "not allowed" in line and "viewer" in line


def test_flags_override_the_environment(
    server: TetherServer, tmp_path: Path, api: SyncRelayClient
) -> None:
    (tmp_path / "cli").mkdir()
    env = cli_env(f"http://127.0.0.1:{refused_port()}", "tth_wrong", tmp_path / "cli")
    done = tether(env, "sessions", "--json", "--url", server.url, "--token", server.token)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []


def test_run_help_wraps_whole_sentences_at_80_columns(
    env: dict[str, str], api: SyncRelayClient
) -> None:
    done = tether({**env, "COLUMNS": "80"}, "run", "--help")
    assert done.returncode == 0, done.stderr
    lines = [line.strip() for line in done.stdout.splitlines()]
    assert all(len(line) <= 80 for line in done.stdout.splitlines())
    # Paragraphs are rewrapped at the terminal's width, not cut where the source was.
    assert "People send prompts, interrupt" in done.stdout
    assert "People" not in lines and "gemini" not in lines
