"""A session run with `encryption: on` through a real runner and a relay that requires
it, on both databases: the host's viewer reads the transcript, the permission request
and its edited answer, while the database holds none of the marker; a message moved into
another session by editing the database opens as tampered."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.encryption.database import everything, move_message
from tests.encryption.scripted_agent import ScriptedAgent
from tether.client import RelayClient, ValidationFailed
from tether.e2e.keys import HostKeys
from tether.e2e.sessions import SessionCipher
from tether.runner import encryption
from tether.runner.runner import RunConfig, Runner

MARKER = "MARKER-7f3a9c"


async def until(probe, timeout: float = 20.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        found = await probe()
        if found:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError("timed out")


async def test_an_encrypted_session_is_read_by_the_host_and_not_by_the_relay(
    server_factory, tmp_path: Path
) -> None:
    server = server_factory(extra_env={"TETHER_ENCRYPTION": "required"})
    host_dir = tmp_path / "host"
    keys = HostKeys(host_dir)
    config = RunConfig(
        cwd=tmp_path,
        data_dir=host_dir,
        prompt=f"look for {MARKER}",
        title=f"{MARKER} title",
        encryption="on",
        agent=ScriptedAgent(MARKER),
    )
    async with RelayClient(server.url, server.token) as relay:
        runner = Runner(relay, config)
        run = asyncio.create_task(runner.run())

        async def pending() -> list[dict[str, Any]]:
            return await relay.list_permissions(status="pending")

        [request] = await until(pending)
        session = await relay.get_session(request["session_id"])
        assert session["title"] == "(encrypted)" and session["cwd"] == ""
        cipher = SessionCipher.for_session(session, keys.private_key, keys.recipient)
        assert cipher is not None
        assert cipher.open_session(session)["title"] == f"{MARKER} title"
        opened = cipher.open_permission(request)
        assert opened["input"] == {"command": f"echo {MARKER}"}
        assert opened["title"] == f"Run echo {MARKER}" and opened["tool_name"] == "Bash"

        # The relay requires encryption: a plaintext edit is refused, a sealed one taken.
        with pytest.raises(ValidationFailed, match="updated_input"):
            await relay.respond(request["id"], "allow", updated_input={"command": "ls"})
        with pytest.raises(ValidationFailed, match="content"):
            await relay.send_text(session["id"], "plain words")
        edited = {"command": f"echo {MARKER} edited"}
        sealed = cipher.seal_answer(request["id"], {"behavior": "allow", "updated_input": edited})
        await relay.respond(request["id"], "allow", updated_input=sealed["updated_input"])

        async def transcript() -> list[dict[str, Any]] | None:
            messages = [cipher.open_message(m) for m in await relay.messages(session["id"])]
            return messages if any(m["id"] == "t1-ran" for m in messages) else None

        messages = await until(transcript)
        by_id = {m["id"]: m for m in messages}
        assert not any(m.get("tampered") for m in messages)
        assert by_id["t1-reply"]["content"] == {"text": f"I read {MARKER} in the file."}
        assert by_id["t1-reply"]["raw"] == {"file": f"contents with {MARKER}"}
        assert by_id["t1-ran"]["content"]["output"] == f"allow: echo {MARKER} edited"
        prompt = next(m for m in messages if m["kind"] == "user_text")
        assert prompt["content"] == {"text": f"look for {MARKER}"}
        answered = cipher.open_permission(await relay.get_permission(request["id"]))
        assert answered["decision"]["updated_input"] == edited

        # An allow the relay makes up (no sealed decision) is a deny to the runner.
        again = {"id": "p2", "role": "user", "kind": "user_text", "content": {"text": "again"}}
        await relay.post_messages(session["id"], [cipher.seal_message(again)])

        async def second() -> list[dict[str, Any]]:
            return [p for p in await pending() if p["id"] != request["id"]]

        [forged] = await until(second)
        await relay.respond(forged["id"], "allow")

        async def refused() -> dict[str, Any] | None:
            messages = [cipher.open_message(m) for m in await relay.messages(session["id"])]
            return next((m for m in messages if m["id"] == "t2-ran"), None)

        assert (await until(refused))["content"]["output"] == f"deny: echo {MARKER}"

        await relay.end_session(session["id"])
        assert await run == 0

        # The relay, its database and the runner's outbox hold no plaintext.
        stored = await everything(server)
        assert session["id"] in stored and MARKER not in stored
        outbox = b"".join(p.read_bytes() for p in host_dir.rglob("*") if p.is_file())
        assert MARKER.encode() not in outbox

        # Someone with the database moves a message into another session.
        other, other_cipher = await encryption.create_session(
            relay, keys, title="another", cwd="/elsewhere"
        )
        await move_message(server, "t1-reply", other["id"], 1)
        [moved] = await relay.messages(other["id"])
        shown = other_cipher.open_message(moved)
        assert shown["tampered"] and MARKER not in str(shown)
        # Nor does it open with the session key it was sealed with, in its new place.
        assert cipher.open_message(moved)["tampered"]


async def test_a_relay_requiring_encryption_refuses_a_plaintext_session(server_factory) -> None:
    server = server_factory(extra_env={"TETHER_ENCRYPTION": "required"})
    async with RelayClient(server.url, server.token) as relay:
        with pytest.raises(ValidationFailed, match=r"metadata\.e2e"):
            await relay.create_session(title="plain")
