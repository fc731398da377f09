"""The Claude Code side: options for claude-agent-sdk, the raw message stream, stderr.

The SDK owns the stdio control protocol (initialize, can_use_tool, interrupts, cancel
requests); this module only shapes what we hand it and what we read back.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from claude_agent_sdk import ClaudeAgentOptions, ClaudeSDKClient
    from claude_agent_sdk.types import CanUseTool

# claude-agent-sdk (with the MCP SDK under it) takes about a second of CPU to import, so
# only build_options imports it: `tether run` checks its arguments and ACP agents run
# without it.


class ClaudeArgsError(ValueError):
    """Arguments after `--` that cannot be handed to claude."""


@dataclass
class AgentSpec:
    """What to start: everything `tether run` decides about the claude process."""

    cwd: Path
    permission_mode: str | None = None
    resume: str | None = None  # Claude's own session id
    fork: bool = False
    gateway: str | None = None
    claude_args: Sequence[str] = ()
    env: dict[str, str] = field(default_factory=dict)
    mcp_servers: dict[str, dict[str, Any]] = field(default_factory=dict)  # runner.mcp's


def parse_claude_args(args: Sequence[str]) -> tuple[dict[str, str | None], list[str], str | None]:
    """`--flag value` / `--flag=value` / `--flag` → (extra_args, add_dirs, model).

    claude-agent-sdk passes extra flags as a dict, so a flag given twice cannot be
    expressed — except --add-dir, which has its own option and is collected here.
    """
    extra: dict[str, str | None] = {}
    add_dirs: list[str] = []
    model: str | None = None
    items = list(args)
    i = 0
    while i < len(items):
        token = items[i]
        if not token.startswith("--") or token == "--":
            raise ClaudeArgsError(
                f"unexpected claude argument {token!r}: give flags as --name [value]"
            )
        name, eq, value = token[2:].partition("=")
        if not eq:
            if i + 1 < len(items) and not items[i + 1].startswith("--"):
                value = items[i + 1]
                i += 1
            else:
                value = None  # a boolean flag
        i += 1
        if name == "add-dir" and value is not None:
            add_dirs.append(value)
        elif name == "model" and value is not None:
            model = value
        elif name in extra:
            raise ClaudeArgsError(
                f"--{name} is given twice; claude-agent-sdk passes each flag once"
            )
        else:
            extra[name] = value
    return extra, add_dirs, model


def build_options(
    spec: AgentSpec, can_use_tool: CanUseTool, stderr: StderrTail
) -> ClaudeAgentOptions:
    from claude_agent_sdk import ClaudeAgentOptions

    extra, add_dirs, model = parse_claude_args(spec.claude_args)
    env = dict(spec.env)
    if spec.gateway:
        env["ANTHROPIC_BASE_URL"] = spec.gateway.rstrip("/")
    return ClaudeAgentOptions(
        cwd=str(spec.cwd),
        # The SDK's default is an empty system prompt; people expect Claude Code as it is.
        system_prompt={"type": "preset", "preset": "claude_code"},
        permission_mode=spec.permission_mode,  # type: ignore[arg-type]
        resume=spec.resume,
        fork_session=spec.fork,
        model=model,
        add_dirs=list(add_dirs),
        extra_args=extra,
        env=env,
        # .mcp.json's shape is claude's own; with none, claude still reads the project's.
        mcp_servers=dict(spec.mcp_servers),  # type: ignore[arg-type]
        can_use_tool=can_use_tool,
        stderr=stderr.add,
        # Tool results with whole files exceed the SDK's 1 MiB line default.
        max_buffer_size=32 * 1024 * 1024,
    )


class StderrTail:
    """The last lines claude wrote to stderr, bounded, for the error a crash reports."""

    def __init__(self, max_chars: int = 4000, max_lines: int = 200) -> None:
        self._lines: deque[str] = deque(maxlen=max_lines)
        self._max_chars = max_chars

    def add(self, line: str) -> None:
        self._lines.append(line.rstrip("\n")[: self._max_chars])

    def text(self) -> str:
        out: list[str] = []
        size = 0
        for line in reversed(self._lines):
            size += len(line) + 1
            if size > self._max_chars:
                break
            out.append(line)
        return "\n".join(reversed(out))


async def raw_messages(client: ClaudeSDKClient) -> AsyncIterator[dict[str, Any]]:
    """Every message claude writes, as the dict it wrote (control frames excluded).

    `ClaudeSDKClient.receive_messages()` parses into typed objects that drop fields and
    skip frame types this SDK version does not know; the relay keeps the raw event, so
    we read the SDK's own stream one step earlier (its `Query` is the protocol owner).
    """
    query = getattr(client, "_query", None)
    if query is None:
        raise RuntimeError("the Claude Code client is not connected")
    async for data in query.receive_messages():
        yield data


def agent_pid(client: ClaudeSDKClient) -> int | None:
    transport = getattr(client, "_transport", None)
    process = getattr(transport, "_process", None)
    return getattr(process, "pid", None)
