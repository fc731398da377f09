"""Claude Code as a runner agent: claude-agent-sdk behind the agent seam.

The SDK owns the stdio control protocol; this class starts the client, reads its raw
stream into the relay's kinds (`normalize`), and turns can_use_tool into the host's
permission flow (`permissions`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from pathlib import Path
from typing import Any

from claude_agent_sdk import ClaudeSDKClient
from claude_agent_sdk.types import ToolPermissionContext

from tether.runner import permissions
from tether.runner.agent import AgentSpec, StderrTail, agent_pid, build_options, raw_messages
from tether.runner.normalize import normalize
from tether.runner.seam import AgentExited, Host


class ClaudeAgent:
    name = "claude-code"
    resume_key = "claude_session_id"

    def __init__(
        self,
        cwd: Path,
        *,
        permission_mode: str | None = None,
        fork: bool = False,
        gateway: str | None = None,
        claude_args: list[str] | None = None,
        env: dict[str, str] | None = None,
        permission_timeout: float | None = None,
        mcp_servers: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        self.cwd = cwd
        self.permission_mode = permission_mode
        self.fork = fork
        self.gateway = gateway
        self.claude_args = list(claude_args or [])
        self.env = dict(env or {})
        self.permission_timeout = permission_timeout
        self.mcp_servers = dict(mcp_servers or {})
        self.stderr = StderrTail()
        self._client: ClaudeSDKClient | None = None
        self._host: Host | None = None
        self._last_init: dict[str, Any] | None = None
        self._in_turn = False

    async def start(self, host: Host, resume: str | None) -> dict[str, Any]:
        self._host = host
        spec = AgentSpec(
            cwd=self.cwd,
            permission_mode=self.permission_mode,
            resume=resume,
            fork=self.fork,
            gateway=self.gateway,
            claude_args=self.claude_args,
            env=self.env,
            mcp_servers=self.mcp_servers,
        )
        self._client = ClaudeSDKClient(build_options(spec, self._can_use_tool, self.stderr))
        await self._client.connect()
        return {
            "agent": self.name,
            "cwd": str(self.cwd),
            "permission_mode": self.permission_mode or "default",
            "claude_session_id": resume,
            "mcp_servers": list(self.mcp_servers),
            "edits_input": True,  # an allow may carry changed input (updatedInput)
            "pid": agent_pid(self._client),
            "runner_pid": os.getpid(),
            "host": socket.gethostname(),
        }

    async def pump(self) -> None:
        assert self._client is not None
        failure: str | None = None
        try:
            async for raw in raw_messages(self._client):
                self._on_raw(raw)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the agent died; say how
            failure = str(exc)
        returncode = _returncode(self._client)
        reason = "Claude Code exited unexpectedly"
        if returncode is not None:
            reason += (
                f" (killed by signal {-returncode})"
                if returncode < 0
                else f" (exit code {returncode})"
            )
        raise AgentExited(reason, stderr=self.stderr.text(), exit_code=returncode, detail=failure)

    def _on_raw(self, raw: dict[str, Any]) -> None:
        assert self._host is not None
        kind = raw.get("type")
        is_init = kind == "system" and raw.get("subtype") == "init"
        if is_init:
            # Re-read every time: resume, fork and /clear mint new ids.
            state = {
                "claude_session_id": raw.get("session_id"),
                "model": raw.get("model"),
                "cwd": raw.get("cwd"),
                "tools": raw.get("tools") or [],
                "claude_code_version": raw.get("claude_code_version"),
            }
            if raw.get("permissionMode"):
                state["permission_mode"] = raw["permissionMode"]
            self._host.update_state(state, model=raw.get("model"))
        elif kind == "conversation_reset":
            self._host.update_state({"claude_session_id": raw.get("new_conversation_id")})
        messages = normalize(raw)
        if is_init:
            # Claude repeats init at every turn; viewers need it only when it changed.
            if messages and messages[0]["content"] == self._last_init:
                return
            self._last_init = messages[0]["content"] if messages else None
        self._host.publish(messages)
        if kind == "result":
            self._in_turn = False
            self._host.turn_ended()

    async def prompt(self, text: str) -> None:
        assert self._client is not None
        self._in_turn = True
        await self._client.query(text)

    async def interrupt(self) -> None:
        if self._client is not None and self._in_turn:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._client.interrupt(), 10)

    async def set_mode(self, mode: str) -> None:
        if self._client is not None:
            await asyncio.wait_for(self._client.set_permission_mode(mode), 10)  # type: ignore[arg-type]

    async def stop(self) -> None:
        if self._client is not None:
            # Closing stdin lets claude flush its transcript before it exits (SDK: ≤ 20 s).
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._client.disconnect(), 30)

    def stderr_tail(self) -> str:
        return self.stderr.text()

    async def _can_use_tool(
        self, tool_name: str, tool_input: dict[str, Any], context: ToolPermissionContext
    ) -> permissions.PermissionResult:
        assert self._host is not None
        body = permissions.request_body(tool_name, tool_input, context, self.permission_timeout)
        resolved = await self._host.ask_permission(body)
        return permissions.to_result(resolved, tool_name, tool_input, context.suggestions)


def _returncode(client: ClaudeSDKClient) -> int | None:
    process = getattr(getattr(client, "_transport", None), "_process", None)
    return getattr(process, "returncode", None)
