"""The agent seam: what the runner needs of an agent, and what it offers one.

The runner (relay bridge, outbox, prompt queue, permission flow) is written once against
`Agent`; Claude Code through claude-agent-sdk (`runner.claude`) and any Agent Client
Protocol agent (`runner.acp`) implement it. An agent speaks to the runner only through
`Host`: it hands over normalized relay messages and state, and asks permissions.
"""

from __future__ import annotations

from typing import Any, Protocol


class AgentExited(Exception):
    """The agent's process ended on its own: why, and what it left (stderr tail, code)."""

    def __init__(self, reason: str, **extra: Any) -> None:
        super().__init__(reason)
        self.reason = reason
        self.extra = extra


class Host(Protocol):
    """The runner, as an agent sees it."""

    def publish(self, messages: list[dict[str, Any]]) -> None:
        """Normalized relay messages `{id, role, kind, content, raw}`, in order."""

    def update_state(self, state: dict[str, Any], **session: Any) -> None:
        """Merge facts into agent_state; `session` fields (model, permission_mode) too."""

    def turn_ended(self) -> None:
        """The current prompt's turn is over (done, failed or cancelled)."""

    async def ask_permission(self, body: dict[str, Any]) -> dict[str, Any]:
        """Open a relay permission request (`open_permission` arguments) and return it
        resolved. Cancelling the awaiting task withdraws the request on every device."""
        ...


class Agent(Protocol):
    """One agent process for one session."""

    name: str  # the session's `agent` field: claude-code, codex, gemini, …
    resume_key: str  # the agent_state field that holds the agent's own conversation id

    async def start(self, host: Host, resume: str | None) -> dict[str, Any]:
        """Start the process (resuming the agent's conversation `resume`); the agent_state
        facts to publish first. Raise with a one-line reason when it cannot start."""
        ...

    async def pump(self) -> None:
        """Read the agent until it ends; raise AgentExited when it ends on its own."""

    async def prompt(self, text: str) -> None:
        """Start a turn; its end is told through `Host.turn_ended`."""

    async def interrupt(self) -> None:
        """Cancel the running turn."""

    async def set_mode(self, mode: str) -> None:
        """Switch the permission mode; raise with a reason people can read when it can't."""

    async def stop(self) -> None:
        """End the process cleanly."""

    def stderr_tail(self) -> str:
        """The last of what the process wrote to stderr (bounded), for a failure report."""
        ...
