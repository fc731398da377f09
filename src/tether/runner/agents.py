"""Which agent `tether run --agent NAME` starts: the built-in names, the `agents:` section
of the config file, and the environment that points each agent's model calls at a tether
gateway. Pure except for the PATH lookup.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

GATEWAY_KEY_VAR = "TETHER_GATEWAY_KEY"


class AgentChoiceError(ValueError):
    """An agent that cannot be started as asked; one line for people."""


@dataclass(frozen=True)
class Builtin:
    session_name: str  # the session's `agent` field
    command: tuple[str, ...]
    install: str
    # Offer the agent `fs/read_text_file`. Gemini CLI 0.61.0 cannot read a client's "not
    # found" over ACP (it stringifies the JSON-RPC error object, so a missing file reads as
    # a failure and its write_file gives up): it reads the disk itself instead. Its writes
    # still come to tether, confined to the session's directories.
    reads_files: bool = True
    # Whole message chunks that are the agent's own warnings, not the model's answer
    # (regular expressions; acp_normalize makes them `status` messages).
    warnings: tuple[str, ...] = ()


# codex-acp says this as answer text when the model name is not one Codex knows (any name
# a gateway route serves): it is about Codex, not part of what the model said.
CODEX_WARNINGS = (r"^Model metadata for `[^`]*` not found\b",)

# `claude` is not here: it runs through claude-agent-sdk, not ACP (see runner.claude).
BUILTINS: dict[str, Builtin] = {
    "codex": Builtin(
        "codex",
        ("codex-acp",),
        "npm install -g @zed-industries/codex-acp",
        warnings=CODEX_WARNINGS,
    ),
    "gemini": Builtin(
        "gemini", ("gemini", "--acp"), "npm install -g @google/gemini-cli", reads_files=False
    ),
    "claude-acp": Builtin(
        "claude-code", ("claude-code-acp",), "npm install -g @zed-industries/claude-code-acp"
    ),
}
AGENT_NAMES = ("claude", *BUILTINS, "acp")


@dataclass
class AgentCommand:
    """An ACP agent to start: its session name, argv and extra environment."""

    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    reads_files: bool = True  # offer fs/read_text_file (see Builtin.reads_files)
    warnings: tuple[str, ...] = ()  # see Builtin.warnings


def resolve(
    name: str,
    args: Sequence[str],
    configured: Mapping[str, Any],
    *,
    gateway: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> AgentCommand:
    """The command for agent `name` (not `claude`), with `args` (those after `--`)."""
    env_in = os.environ if environ is None else environ
    entry = configured.get(name)
    if entry is not None:
        command = _configured(name, entry, args)
        install = f"check `agents.{name}.command` in the config file"
    elif name == "acp":
        if not args:
            raise AgentChoiceError(
                "--agent acp needs the agent's command after `--`, "
                "e.g. `tether run --agent acp -- my-agent --acp`"
            )
        command = AgentCommand(os.path.basename(args[0]), list(args))
        install = "check the command after `--`"
    elif name in BUILTINS:
        builtin = BUILTINS[name]
        command = AgentCommand(
            builtin.session_name,
            [*builtin.command, *args],
            reads_files=builtin.reads_files,
            warnings=builtin.warnings,
        )
        install = f"install it with `{builtin.install}`"
    else:
        known = ", ".join([*AGENT_NAMES, *sorted(configured)])
        raise AgentChoiceError(f"unknown agent {name!r}; one of {known}")
    found = shutil.which(command.argv[0], path=env_in.get("PATH"))
    if found is None:
        raise AgentChoiceError(f"{command.argv[0]} is not on PATH: {install}")
    command.argv[0] = found
    if gateway:
        command = with_gateway(name, command, gateway.rstrip("/"), env_in)
    return command


def _configured(name: str, entry: Any, args: Sequence[str]) -> AgentCommand:
    if not isinstance(entry, Mapping) or not isinstance(entry.get("command"), str):
        raise AgentChoiceError(f"agents.{name} in the config file needs a `command` string")
    extra = entry.get("args") or []
    env = entry.get("env") or {}
    if not isinstance(extra, list) or not all(isinstance(a, str) for a in extra):
        raise AgentChoiceError(f"agents.{name}.args must be a list of strings")
    if not isinstance(env, Mapping):
        raise AgentChoiceError(f"agents.{name}.env must be a mapping of names to values")
    session_name = entry.get("name") or name
    return AgentCommand(
        str(session_name),
        [entry["command"], *extra, *args],
        {str(k): str(v) for k, v in env.items()},
    )


# Every model call an agent makes through the gateway carries its relay session's id in
# this header, so the gateway's flows know their session (the gateway drops it before
# the upstream). Each agent is told the way it reads extra headers.
SESSION_HEADER = "X-Tether-Session"
SESSION_VAR = "TETHER_SESSION_ID"


def session_env(session_id: str, env: Mapping[str, str]) -> dict[str, str]:
    """Variables that make Claude Code (and claude-code-acp), Gemini CLI and Codex (through
    `env_http_headers`, see with_gateway) send SESSION_HEADER; headers the agent's env
    already asks for are kept."""
    header = f"{SESSION_HEADER}: {session_id}"
    claude = env.get("ANTHROPIC_CUSTOM_HEADERS")  # newline-separated `Name: value`
    gemini = env.get("GEMINI_CLI_CUSTOM_HEADERS")  # comma-separated `Name: value`
    return {
        SESSION_VAR: session_id,
        "ANTHROPIC_CUSTOM_HEADERS": f"{claude}\n{header}" if claude else header,
        "GEMINI_CLI_CUSTOM_HEADERS": f"{gemini}, {header}" if gemini else header,
    }


def with_gateway(
    name: str, command: AgentCommand, gateway: str, environ: Mapping[str, str]
) -> AgentCommand:
    """Point the agent's model calls at the tether gateway, the way that agent reads it."""
    key = environ.get(GATEWAY_KEY_VAR) or "tether"
    env = dict(command.env)
    argv = list(command.argv)
    if name == "codex":
        # Codex reads providers from config; `-c` overrides need no CODEX_HOME of ours.
        env.setdefault(GATEWAY_KEY_VAR, key)
        argv += [
            "-c",
            'model_provider="tether"',
            "-c",
            'model_providers.tether.name="tether"',
            "-c",
            f'model_providers.tether.base_url="{gateway}/v1"',
            "-c",
            'model_providers.tether.wire_api="responses"',
            "-c",
            f'model_providers.tether.env_key="{GATEWAY_KEY_VAR}"',
            "-c",
            f'model_providers.tether.env_http_headers={{"{SESSION_HEADER}"="{SESSION_VAR}"}}',
        ]
    elif name == "gemini":
        env["GOOGLE_GEMINI_BASE_URL"] = gateway
        env.setdefault("GEMINI_API_KEY", environ.get("GEMINI_API_KEY") or key)
    elif name == "claude-acp":
        env["ANTHROPIC_BASE_URL"] = gateway
    else:
        raise AgentChoiceError(
            f"--gateway does not know how agent {name!r} takes a base URL; "
            "set its variable under `agents.NAME.env` in the config file instead"
        )
    return AgentCommand(
        command.name, argv, env, reads_files=command.reads_files, warnings=command.warnings
    )
