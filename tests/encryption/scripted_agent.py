"""An agent for the runner's seam that plays one scripted turn: it replies, asks to run
a command, and reports what it ran (the person's edited input, when there is one). Enough
to push every kind of sealed data through a real runner and relay."""

from __future__ import annotations

import asyncio
from typing import Any

from tether.runner.seam import Host


class ScriptedAgent:
    name = "scripted"
    resume_key = "scripted_id"

    def __init__(self, marker: str) -> None:
        self.marker = marker
        self.host: Host | None = None
        self.prompts: list[str] = []
        self._stopped = asyncio.Event()
        self._turn = 0

    async def start(self, host: Host, resume: str | None) -> dict[str, Any]:
        self.host = host
        return {"scripted_id": "s1"}

    async def pump(self) -> None:
        await self._stopped.wait()

    async def prompt(self, text: str) -> None:
        assert self.host is not None
        self._turn += 1
        self.prompts.append(text)
        turn = self._turn
        asyncio.get_running_loop().create_task(self._play(turn, text))

    async def _play(self, turn: int, text: str) -> None:
        host = self.host
        assert host is not None
        host.publish(
            [
                {
                    "id": f"t{turn}-reply",
                    "role": "agent",
                    "kind": "assistant_text",
                    "content": {"text": f"I read {self.marker} in the file."},
                    "raw": {"file": f"contents with {self.marker}"},
                }
            ]
        )
        command = f"echo {self.marker}"
        resolved = await host.ask_permission(
            {
                "tool_name": "Bash",
                "tool_use_id": f"tu{turn}",
                "input": {"command": command},
                "title": f"Run {command}",
            }
        )
        decision = resolved.get("decision") or {}
        ran = (decision.get("updated_input") or {}).get("command", command)
        host.publish(
            [
                {
                    "id": f"t{turn}-ran",
                    "role": "agent",
                    "kind": "tool_result",
                    "content": {
                        "call_id": f"tu{turn}",
                        "output": f"{decision.get('behavior')}: {ran}",
                        "is_error": False,
                    },
                }
            ]
        )
        host.turn_ended()

    async def interrupt(self) -> None:
        pass

    async def set_mode(self, mode: str) -> None:
        pass

    async def stop(self) -> None:
        self._stopped.set()

    def stderr_tail(self) -> str:
        return ""
