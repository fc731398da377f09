"""`tether run` as the first tether command on a machine: it makes a new install, so the
session is encrypted (the relay stores ciphertext) and the host's own `tether attach` and
`tether sessions` read it in the clear. The agent is the scripted ACP agent."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.support import Live, new_machine_env, tether
from tests.e2e.test_acp import FAKE
from tests.encryption.database import everything
from tests.support.server import TetherServer
from tether.client import RelayClient

pytestmark = pytest.mark.slow
MARKER = "MARKER-5e7a"


def test_a_first_tether_run_encrypts_and_the_host_reads_it(
    server: TetherServer, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    env = {
        **new_machine_env(server.url, server.token, home),
        "FAKE_ACP_LOG": str(tmp_path / "agent.log"),
    }
    project = tmp_path / f"project-{MARKER}"
    project.mkdir()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tether",
            "run",
            "--agent",
            "acp",
            "--title",
            f"{MARKER} title",
            "--exit-when-done",
            f"hello {MARKER}",
            "--",
            sys.executable,
            str(FAKE),
        ],
        env=env,
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "new install: end-to-end encryption is on" in done.stderr
    config = home / ".config" / "tether" / "config.yaml"
    assert "encryption: on" in config.read_text()
    assert (home / ".local" / "share" / "tether" / "e2e" / "host.key").exists()
    [sid] = [line for line in done.stdout.split() if line.startswith("ses_")][:1]

    # The relay holds the session, and nothing of the prompt, title or directory.
    stored = asyncio.run(everything(server))
    assert sid in stored and MARKER not in stored

    async def session() -> dict:
        async with RelayClient(server.url, server.token) as relay:
            return await relay.get_session(sid)

    assert asyncio.run(session())["metadata"]["e2e"]["keys"]

    # This machine's terminal commands open it with the host key made by the run.
    listed = tether(env, "sessions")
    assert f"{MARKER} title" in listed.stdout, listed.stdout + listed.stderr
    live = Live(env, "attach", sid, "--viewer-only")
    try:
        live.wait_for(f"{MARKER} title")
        live.wait_for(f"hello {MARKER}")
        live.wait_for("Hello from the fake agent.")
    finally:
        live.stop()
