"""What only the runner knows, added to a turn's messages: how long the turn waited for a
person (the spans when a permission request was pending, as `waiting_ms` on the result, so
viewers can say "took 2 s (+40 s waiting for you)"), and who interrupted it (on the
agent's interrupt notice and the result, so it is not shown as the person's words)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from tests.encryption.scripted_agent import ScriptedAgent
from tests.encryption.test_encrypted_session import until
from tether.client import RelayClient
from tether.runner.runner import RunConfig, Runner


class AskingAgent(ScriptedAgent):
    """One turn: ask to run a command, then end the turn with a result that, like an ACP
    agent's, reports no duration of its own."""

    def __init__(self) -> None:
        super().__init__("unused")

    async def prompt(self, text: str) -> None:
        asyncio.get_running_loop().create_task(self._ask())

    async def _ask(self) -> None:
        host = self.host
        assert host is not None
        resolved = await host.ask_permission(
            {"tool_name": "Bash", "tool_use_id": "tu1", "input": {"command": "make"}}
        )
        if resolved["status"] == "cancelled":  # interrupted: Claude Code's notice
            notice = {"text": "[Request interrupted by user for tool use]", "interrupt": True}
            host.publish([{"id": "n1", "role": "agent", "kind": "user_text", "content": notice}])
        host.publish(
            [{"id": "r1", "role": "agent", "kind": "result", "content": {"subtype": "success"}}]
        )
        host.turn_ended()


async def until_message(relay: RelayClient, session_id: str, kind: str) -> dict[str, Any]:
    async def found() -> dict[str, Any] | None:
        messages = await relay.messages(session_id)
        return next((m for m in messages if m["kind"] == kind and m["role"] == "agent"), None)

    return await until(found)


async def test_a_turns_result_counts_the_time_it_waited_for_a_person(
    server, tmp_path: Path
) -> None:
    config = RunConfig(cwd=tmp_path, data_dir=tmp_path, prompt="build", agent=AskingAgent())
    async with RelayClient(server.url, server.token) as relay:
        runner = Runner(relay, config)
        run = asyncio.create_task(runner.run())
        [request] = await until(lambda: relay.list_permissions(status="pending"))
        await asyncio.sleep(0.2)  # the person reads the card before answering
        await relay.respond(request["id"], "allow")

        content = (await until_message(relay, request["session_id"], "result"))["content"]
        assert content["subtype"] == "success" and "interrupted_by" not in content
        # The wait is inside the turn: at least the time the card stood, at most all of it.
        assert 0 < content["waiting_ms"] <= content["duration_ms"]
        await relay.end_session(request["session_id"])
        assert await run == 0


async def test_an_interrupt_is_said_with_who_sent_it(server, tmp_path: Path) -> None:
    config = RunConfig(cwd=tmp_path, data_dir=tmp_path, prompt="build", agent=AskingAgent())
    async with RelayClient(server.url, server.token) as relay:
        run = asyncio.create_task(Runner(relay, config).run())
        [request] = await until(lambda: relay.list_permissions(status="pending"))
        session_id = request["session_id"]
        await relay.interrupt(session_id)
        notice = await until_message(relay, session_id, "user_text")
        assert notice["content"]["interrupt"] is True
        assert notice["content"]["interrupted_by"] == "TETHER_TOKEN"  # the test's token
        result = await until_message(relay, session_id, "result")
        assert result["content"]["interrupted_by"] == "TETHER_TOKEN"
        await relay.end_session(session_id)
        assert await run == 0
