"""The older confirmation contract against the real thing: ccproxy-api's terminal permission
handler, unmodified, in a tmux pane, shows tether's requests, answers them, and dismisses
the ones answered elsewhere.

ccproxy-api lives in a venv of its own (`.venv-ccproxy`, made by scripts/test): it pins
newer FastAPI/Starlette than tether runs on. Set TETHER_TEST_CCPROXY_PYTHON to use another.
"""

from __future__ import annotations

import os
import secrets
import shutil
import time
from pathlib import Path

import pytest

from tests.cli.test_tmux import Pane
from tests.conftest import IN_CI
from tests.support.server import TetherServer
from tether.client import SyncRelayClient

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
LAUNCHER = ROOT / "tests" / "support" / "ccproxy_handler.py"
TIMEOUT = 40.0  # as for the other terminal tests


def ccproxy_python() -> str:
    python = os.environ.get("TETHER_TEST_CCPROXY_PYTHON") or str(
        ROOT / ".venv-ccproxy" / "bin" / "python"
    )
    found = Path(python).exists() and shutil.which("tmux") is not None
    if not found:
        message = "ccproxy-api's venv (.venv-ccproxy, made by scripts/test) or tmux is missing"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return python


class HandlerPane(Pane):
    """ccproxy's handler in a tmux pane (it draws a Textual dialog and reads single keys, so
    it needs a terminal)."""

    def __init__(self, python: str, server: TetherServer, home: Path) -> None:
        self.socket = "tether-ccproxy-" + secrets.token_hex(4)
        # Its own HOME: ccproxy reads (and warns about) ~/.config/ccproxy.
        self.env = {**os.environ, "HOME": str(home), "TERM": "xterm-256color"}
        command = (
            f"{python} {LAUNCHER} --api-url {server.url} --auth-token {server.token}; "
            "echo EXIT=$?; sleep 600"
        )
        self.tmux("new-session", "-d", "-s", "t", "-x", "140", "-y", "50", "sh", "-c", command)


def wait_status(api: SyncRelayClient, pid: str, status: str) -> dict:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        request = api.get_permission(pid)
        if request["status"] == status:
            return request
        time.sleep(0.1)
    raise AssertionError(f"{pid} never became {status}: {api.get_permission(pid)}")


def test_ccproxy_terminal_handler_shows_answers_and_dismisses(
    server: TetherServer, tmp_path: Path
) -> None:
    python = ccproxy_python()
    pane = HandlerPane(python, server, tmp_path)
    try:
        with SyncRelayClient(server.url, server.token) as api:
            sid = api.create_session(title="ccproxy")["id"]
            pane.wait_for("Connected to confirmation stream")
            # Shown (non-string input values too: its model takes a map of strings)...
            first = api.open_permission(
                sid, tool_name="Bash", input={"command": "make test", "timeout": 30}
            )
            pane.wait_for("command: make test")
            pane.wait_for("timeout: 30")
            # ...and answered, from its own keys, through POST /permissions/{id}/respond.
            pane.keys("y")
            allowed = wait_status(api, first["id"], "allowed")
            assert allowed["decision"]["behavior"] == "allow"
            pane.wait_for("ALLOWED")

            # Answered elsewhere while it is on screen: the dialog is dismissed, and it says
            # which way (it reads `allowed` from the resolved event).
            second = api.open_permission(sid, tool_name="Write", input={"file_path": "/tmp/a"})
            pane.wait_for("file_path: /tmp/a")
            api.respond(second["id"], "allow")
            pane.wait_for("APPROVED BY ANOTHER HANDLER")
            third = api.open_permission(sid, tool_name="Edit", input={"file_path": "/tmp/b"})
            pane.wait_for("file_path: /tmp/b")
            api.respond(third["id"], "deny", message="not now")
            pane.wait_for("DENIED BY ANOTHER HANDLER")
            time.sleep(1)  # it must not answer a request it was told is resolved
            assert api.get_permission(third["id"])["decision"]["message"] == "not now"
            assert "permission_request_missing_id" not in pane.screen()
    finally:
        pane.close()
