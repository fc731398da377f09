"""`tether permissions` and `tether attach` in a real terminal: tmux runs them in a pane,
`send-keys` types the answers and `capture-pane` reads the screen."""

from __future__ import annotations

import os
import secrets
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from tests.conftest import IN_CI
from tether.client import SyncRelayClient

pytestmark = pytest.mark.slow

TIMEOUT = 40.0


@pytest.fixture(autouse=True)
def _needs_tmux() -> None:
    if shutil.which("tmux") is None:
        if IN_CI:
            pytest.fail("tmux is not installed, and CI must drive the terminal commands")
        pytest.skip(
            "tmux is not installed (apt-get install -y tmux) so the terminal "
            "commands cannot be driven in a real terminal here"
        )


class Pane:
    """One tmux session on a private socket running one `tether` command; when the command
    exits the pane prints its exit code and stays, so the test can read both."""

    def __init__(
        self, env: dict[str, str], *args: str, width: int = 160, cwd: str | None = None
    ) -> None:
        self.socket = "tether-test-" + secrets.token_hex(4)
        self.env = {**env, "TERM": "xterm-256color", "COLUMNS": "", "LINES": ""}
        self.env = {k: v for k, v in self.env.items() if v}
        command = shlex.join([sys.executable, "-m", "tether", *args])
        # The shell outlives Ctrl-C (a trap with a command is not inherited, so the command
        # still gets SIGINT) to print the exit code.
        script = f"trap 'true' INT; {command}; echo EXIT=$?; sleep 600"
        if cwd is not None:
            script = f"cd {shlex.quote(cwd)}; {script}"
        self.tmux("new-session", "-d", "-s", "t", "-x", str(width), "-y", "60", "sh", "-c", script)

    def tmux(self, *args: str) -> str:
        done = subprocess.run(
            ["tmux", "-L", self.socket, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-J", "-t", "t", "-S", "-500")

    def wait_for(self, needle: str, timeout: float = TIMEOUT) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen()
            if needle in screen:
                return screen
            time.sleep(0.1)
        raise AssertionError(f"{needle!r} not on the screen:\n{self.screen()}")

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", "t", *keys)

    def type(self, text: str) -> None:
        self.tmux("send-keys", "-t", "t", "-l", text)
        self.keys("Enter")

    def close(self) -> None:
        subprocess.run(
            ["tmux", "-L", self.socket, "kill-server"],
            env=self.env,
            capture_output=True,
            timeout=30,
        )


@pytest.fixture
def panes() -> Iterator[list[Pane]]:
    made: list[Pane] = []
    yield made
    for pane in made:
        pane.close()


def test_permissions_in_a_terminal(
    env: dict[str, str], api: SyncRelayClient, panes: list[Pane]
) -> None:
    sid = api.create_session(title="terminal bot", cwd=os.path.expanduser("~/proj"))["id"]
    first = api.open_permission(
        sid,
        tool_name="Bash",
        input={"command": "rm -rf build"},
        description="clean the build directory",
    )
    pane = Pane(env, "permissions")
    panes.append(pane)
    screen = pane.wait_for("rm -rf build")
    assert "terminal bot" in screen and "~/proj" in screen
    assert "Bash wants to run a shell command" in screen
    assert "clean the build directory" in screen
    pane.wait_for("y  Yes")
    pane.type("y")
    pane.wait_for("✓ allowed: Bash in terminal bot")
    assert api.get_permission(first["id"])["status"] == "allowed"

    second = api.open_permission(
        sid,
        tool_name="Edit",
        input={
            "file_path": "/srv/app.py",
            "old_string": "DEBUG = True\n",
            "new_string": "DEBUG = False\n",
        },
    )
    pane.wait_for("+   1 │ DEBUG = False")
    pane.type("d")
    pane.wait_for("reason (optional")
    pane.type("not on a Friday")
    pane.wait_for("✓ denied: Edit")
    denied = api.get_permission(second["id"])
    assert denied["status"] == "denied" and denied["decision"]["message"] == "not on a Friday"

    third = api.open_permission(sid, tool_name="Bash", input={"command": "make deploy"})
    pane.wait_for("make deploy")
    api.respond(third["id"], "deny", message="from the phone")
    pane.wait_for("answered elsewhere, denied by the admin: from the phone")
    pane.type("q")
    assert "EXIT=0" in pane.wait_for("EXIT=")


def test_attach_in_a_terminal(env: dict[str, str], api: SyncRelayClient, panes: list[Pane]) -> None:
    sid = api.create_session(title="pair", cwd="/srv/pair")["id"]
    api.post_messages(
        sid,
        [
            {
                "role": "agent",
                "kind": "assistant_text",
                "content": {"text": "## Findings\n- the **cache** is stale\n- tests pass"},
            },
            {
                "role": "agent",
                "kind": "tool_call",
                "content": {
                    "call_id": "c1",
                    "name": "Read",
                    "input": {"file_path": "/srv/pair/x.py"},
                },
            },
        ],
    )
    pane = Pane(env, "attach", sid)
    panes.append(pane)
    screen = pane.wait_for("Read(/srv/pair/x.py)")
    assert "Findings" in screen and "the cache is stale" in screen
    assert "attached to pair" in screen

    pane.type("refresh the cache please")
    pane.wait_for("› refresh the cache please")
    assert [m["content"]["text"] for m in api.messages(sid) if m["kind"] == "user_text"] == [
        "refresh the cache please"
    ]

    request = api.open_permission(sid, tool_name="Bash", input={"command": "redis-cli FLUSHALL"})
    pane.wait_for("redis-cli FLUSHALL")
    pane.type("n too broad")
    pane.wait_for("✓ denied: Bash")
    assert api.get_permission(request["id"])["decision"]["message"] == "too broad"

    pane.keys("C-c")
    pane.wait_for("interrupting the turn")
    pane.wait_for("interrupt requested by")
    pane.keys("C-c")
    assert "EXIT=0" in pane.wait_for("EXIT=")


def test_attach_shows_a_running_turn_a_numbered_diff_and_matching_usage(
    env: dict[str, str], api: SyncRelayClient, panes: list[Pane]
) -> None:
    sid = api.create_session(title="busy", cwd="/srv/busy", model="m1")["id"]
    api.send_text(sid, "tidy the settings")
    agent = {"role": "agent"}
    usage = {"input_tokens": 1000, "cache_read_input_tokens": 2000, "output_tokens": 40}
    api.post_messages(
        sid,
        [
            {**agent, "kind": "usage", "content": {**usage, "cost_usd": 0.25}},
            {**agent, "kind": "result", "content": {"subtype": "success", "total_cost_usd": 0.25}},
        ],
    )
    api.send_text(sid, "and the next one")
    api.update_session(sid, status="running")
    pane = Pane(env, "attach", sid)
    panes.append(pane)
    screen = pane.wait_for("running for 0:")  # attached mid-turn: for how long
    # The turn's line and the status line say the same cost; input counts the cache.
    assert "■ turn success, $0.2500" in screen and "3.0k in / 40 out · $0.2500" in screen

    api.open_permission(
        sid,
        tool_name="Edit",
        input={
            "file_path": "/srv/busy/settings.py",
            "old_string": "A = 1\nDEBUG = True\nB = 2\n",
            "new_string": "A = 1\nDEBUG = False\nB = 2\n",
        },
    )
    screen = pane.wait_for("+   2 │ DEBUG = False")
    assert "- 2   │ DEBUG = True" in screen and "  1 1 │ A = 1" in screen
    pane.type("y")
    pane.wait_for("✓ allowed: Edit")
    pane.keys("Enter")  # an empty line: the status, with the turn's time
    assert pane.wait_for("/ 40 out · $0.2500 · running for").count("running for") >= 2
    pane.type("/quit")
    assert "EXIT=0" in pane.wait_for("EXIT=")


def test_an_acp_agents_reject_always_is_a_key(
    env: dict[str, str], api: SyncRelayClient, panes: list[Pane]
) -> None:
    """The web card's "Never" button, in the terminal: `N` sends a deny naming the agent's
    reject_always option (by its index, as the web does), with the reason asked for."""
    sid = api.create_session(title="acp", cwd="/proj")["id"]
    options = [
        ("allow_once", "Allow"),
        ("allow_always", "Allow always"),
        ("reject_once", "Reject"),
        ("reject_always", "Reject always"),
    ]
    request = api.open_permission(
        sid,
        tool_name="Write",
        input={"file_path": "/proj/a.txt", "content": "x"},
        suggestions=[
            {"type": "acp_option", "option_id": kind, "name": name, "kind": kind}
            for kind, name in options
        ],
    )
    pane = Pane(env, "permissions")
    panes.append(pane)
    screen = pane.wait_for("N  Reject always (N <reason> tells the agent why)")
    assert "n  Reject (n <reason>" in screen and "1  Allow always" in screen
    pane.type("N")
    pane.wait_for("reason (optional")
    pane.type("generated file")
    pane.wait_for("✓ denied; Reject always: Write")
    decision = api.get_permission(request["id"])["decision"]
    assert decision["behavior"] == "deny" and decision["remember"] == [3]
    assert decision["message"] == "generated file"
    pane.type("q")
    assert "EXIT=0" in pane.wait_for("EXIT=")


NPM_RULE = {
    "type": "addRules",
    "rules": [{"toolName": "Bash", "ruleContent": "npm test:*"}],
    "behavior": "allow",
    "destination": "localSettings",
}
QUESTION = {
    "questions": [
        {
            "question": "Which database?",
            "header": "DB",
            "options": [
                {"label": "SQLite", "description": "one file"},
                {"label": "PostgreSQL", "description": "a server"},
            ],
        }
    ]
}


@pytest.mark.parametrize("command", ["permissions", "attach"])
def test_one_answer_language_in_both_commands(
    command: str, env: dict[str, str], api: SyncRelayClient, panes: list[Pane]
) -> None:
    """The same keys on screen in `permissions` and `attach`: y, n, and a number per rule
    that says what it remembers (sent as that rule's index); a question is a form, and
    what is typed answers it instead of going to the agent as a prompt."""
    sid = api.create_session(title="same keys", cwd="/proj")["id"]
    pane = Pane(env, command, *([sid] if command == "attach" else []))
    panes.append(pane)
    pane.wait_for("attached to" if command == "attach" else "waiting for permission")
    first = api.open_permission(
        sid, tool_name="Bash", input={"command": "npm test"}, suggestions=[NPM_RULE]
    )
    screen = pane.wait_for("1  Yes, and don't ask again this session for `npm test:*`")
    assert "commands in /proj" in screen and "y  Yes" in screen and "n  No" in screen
    pane.type("1")
    pane.wait_for("✓ allowed; don't ask again this session for `npm test:*`")
    assert api.get_permission(first["id"])["decision"]["remember"] == [0]

    asked = api.open_permission(sid, tool_name="AskUserQuestion", input=QUESTION)
    screen = pane.wait_for("DB: Which database?")
    assert "2  PostgreSQL — a server" in screen and '"questions"' not in screen
    pane.type("2")
    pane.wait_for("✓ answered: Which database? → PostgreSQL")
    answered = api.get_permission(asked["id"])
    assert answered["decision"]["updated_input"]["answers"] == {"Which database?": "PostgreSQL"}
    assert not [m for m in api.messages(sid) if m["kind"] == "user_text"]  # no stray prompt
    pane.type("/quit" if command == "attach" else "q")
    assert "EXIT=0" in pane.wait_for("EXIT=")


def test_sessions_at_80_columns(
    env: dict[str, str], api: SyncRelayClient, panes: list[Pane]
) -> None:
    """One line per session at 80 columns, cut with an ellipsis, waiting ones first and
    saying what they ask."""
    calm = api.create_session(title="a calm session with a very long title " * 3, cwd="/srv")
    asking = api.create_session(title="asks", cwd="/home/dev/some/deep/project/dir")
    api.open_permission(
        asking["id"], tool_name="Bash", input={"command": "pytest -x tests/ " + "-k x " * 30}
    )
    pane = Pane(env, "sessions", width=80)
    panes.append(pane)
    screen = pane.wait_for("EXIT=0")
    rows = [line for line in screen.splitlines() if line.startswith("ses_")]
    assert [r.split()[0] for r in rows] == [asking["id"], calm["id"]]
    assert all(len(line) <= 80 for line in screen.splitlines())
    assert rows[0].split()[1] == "waiting" and "wants to run `p" in rows[0]
    assert rows[0].endswith("…")
    assert rows[1].split()[1] == "starting" and "…" in rows[1]
