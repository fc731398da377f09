"""The terminal viewers on the host read encrypted sessions: `tether sessions` shows the
title, `tether attach` the transcript (and seals what is typed), `tether permissions` the
request; a message that does not open is shown as tampered, and a host without the key
sees the session as locked."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.cli.support import Live, cli_env, tether
from tests.encryption.database import move_message
from tests.support.server import TetherServer
from tether.client import RelayClient
from tether.e2e.keys import HostKeys
from tether.e2e.sessions import SessionCipher
from tether.runner import encryption

MARKER = "MARKER-c41d"


def host_env(server: TetherServer, data_dir: Path) -> dict[str, str]:
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "config.yaml").write_text("{}\n")
    return cli_env(server.url, server.token, data_dir)


async def encrypted_session(server: TetherServer, keys: HostKeys, title: str, ids: str = "a"):
    async with RelayClient(server.url, server.token) as relay:
        session, cipher = await encryption.create_session(
            relay, keys, title=title, cwd="/srv/secret"
        )
        await relay.post_messages(
            session["id"],
            [
                cipher.seal_message(
                    {
                        "id": f"{ids}1",
                        "role": "agent",
                        "kind": "assistant_text",
                        "content": {"text": f"found {MARKER} ({ids}1)"},
                    }
                ),
                cipher.seal_message(
                    {
                        "id": f"{ids}2",
                        "role": "agent",
                        "kind": "assistant_text",
                        "content": {"text": "second"},
                    }
                ),
            ],
        )
        return session, cipher


async def open_request(server: TetherServer, cipher: SessionCipher) -> dict:
    async with RelayClient(server.url, server.token) as relay:
        body = {"tool_name": "Bash", "tool_use_id": "tu1", "input": {"command": f"rm {MARKER}"}}
        return await relay.open_permission(cipher.session_id, **cipher.seal_permission(body))


def test_sessions_attach_and_permissions_decrypt_on_the_host(
    server: TetherServer, tmp_path: Path
) -> None:
    env = host_env(server, tmp_path / "host")
    keys = HostKeys(tmp_path / "host")
    session, cipher = asyncio.run(encrypted_session(server, keys, f"{MARKER} title"))
    sid = session["id"]

    listed = tether(env, "sessions")
    assert f"{MARKER} title" in listed.stdout, listed.stdout
    # Another machine (no key) sees that the session is there and locked.
    elsewhere = tether(host_env(server, tmp_path / "elsewhere"), "sessions")
    assert "no key on this host" in elsewhere.stdout and MARKER not in elsewhere.stdout

    live = Live(env, "attach", sid)
    try:
        live.wait_for(f"attached to {MARKER} title")
        live.wait_for(f"found {MARKER}")
        live.send(f"please keep {MARKER} private")
        live.wait_for(f"please keep {MARKER} private")
        request = asyncio.run(open_request(server, cipher))
        live.wait_for(f"permission request {request['id']}")
        live.wait_for(f"rm {MARKER}")
    finally:
        live.stop()

    async def stored_prompt() -> dict:
        async with RelayClient(server.url, server.token) as relay:
            return next(m for m in await relay.messages(sid) if m["role"] == "user")

    prompt = asyncio.run(stored_prompt())
    assert MARKER not in str(prompt)
    assert cipher.open_message(prompt)["content"] == {"text": f"please keep {MARKER} private"}

    waiting = Live(env, "permissions")
    try:
        waiting.wait_for(f"rm {MARKER}")
        waiting.send(f"d not {MARKER}")
        waiting.wait_for("✓ denied: Bash")
    finally:
        waiting.stop()

    async def decided() -> dict:
        async with RelayClient(server.url, server.token) as relay:
            return await relay.get_permission(request["id"])

    answered = asyncio.run(decided())
    assert answered["status"] == "denied" and MARKER not in str(answered)
    opened = cipher.open_permission(answered)["decision"]
    assert opened["message"] == f"not {MARKER}" and not opened.get("tampered")

    # A message moved by editing the database is shown as tampered, not rendered.
    other, _ = asyncio.run(encrypted_session(server, keys, "other", ids="b"))
    asyncio.run(move_message(server, "a1", other["id"], 3))
    moved = Live(env, "attach", other["id"], "--viewer-only")
    try:
        moved.wait_for("tampered")
        moved.wait_for("second")
        assert "(a1)" not in moved.text and "(b1)" in moved.text
    finally:
        moved.stop()
