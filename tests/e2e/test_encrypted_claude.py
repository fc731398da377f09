"""The real Claude Code through `tether run` with `encryption: on`, against a relay that
requires it: the host's viewers read the prompt, the permission request (the file's
content is in its input) and the reply, `tether attach` shows them, and the relay's
SQLite database holds no byte of the marker from the prompt, the tool input or the file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.support import Live, cli_env
from tests.e2e.harness import all_messages, wait_message, wait_pending, wait_status
from tests.encryption.database import everything
from tests.encryption.support import sealed_relay
from tests.support.model_server import text, tool_use
from tests.support.server import TetherServer
from tether.e2e.keys import HostKeys
from tether.e2e.sessions import SessionCipher

pytestmark = pytest.mark.slow
MARKER = "MARKER-5e1f77"


@pytest.fixture
def relay_server(tmp_path: Path) -> Iterator[TetherServer]:
    with sealed_relay(tmp_path / "relay") as server:
        yield server


async def test_claude_code_encrypted_end_to_end(relay, relay_server, model, start_runner) -> None:
    runner = start_runner("--title", f"{MARKER} title", env={"TETHER_ENCRYPTION": "on"})
    session_id = await runner.wait_session_id()
    await wait_status(relay, runner, "idle")
    host_dir = runner.root / "runner-data"
    keys = HostKeys(host_dir)
    session = await relay.get_session(session_id)
    cipher = SessionCipher.for_session(session, keys.private_key, keys.recipient)
    assert cipher is not None
    assert cipher.open_session(session)["title"] == f"{MARKER} title"

    path = runner.workdir / "secret.txt"
    model.add(
        tool_use("Write", {"file_path": str(path), "content": f"{MARKER} in the file\n"}),
        text(f"Wrote {MARKER}."),
    )
    prompt = {"id": "p1", "role": "user", "kind": "user_text"}
    prompt["content"] = {"text": f"write {MARKER} to a file"}
    await relay.post_messages(session_id, [cipher.seal_message(prompt)])
    request = cipher.open_permission(await wait_pending(relay, runner))
    assert request["tool_name"] == "Write"
    assert request["input"]["content"] == f"{MARKER} in the file\n"
    answer = cipher.seal_answer(request["id"], {"behavior": "allow"})
    await relay.respond(request["id"], "allow", updated_input=answer["updated_input"])
    await wait_message(relay, runner, "result")
    assert path.read_text() == f"{MARKER} in the file\n"

    messages = [cipher.open_message(m) for m in await all_messages(relay, session_id)]
    assert not any(m.get("tampered") for m in messages)
    replies = [m["content"]["text"] for m in messages if m["kind"] == "assistant_text"]
    assert f"Wrote {MARKER}." in replies
    assert model.wait_main_requests(1)  # the model (and only it) saw the plaintext

    (host_dir / "config.yaml").write_text("{}\n")
    attach = Live(cli_env(relay_server.url, relay_server.token, host_dir), "attach", session_id)
    try:
        attach.wait_for(f"attached to {MARKER} title")
        attach.wait_for(f"write {MARKER} to a file")
        attach.wait_for(f"Wrote {MARKER}.")
    finally:
        attach.stop()

    await relay.end_session(session_id)
    assert await runner.wait_exit() == 0
    stored = await everything(relay_server)
    assert session_id in stored and MARKER not in stored
