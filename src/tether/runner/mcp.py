"""MCP servers handed to the agent: read in Claude Code's shape, given to each agent in its.

People already have `.mcp.json` files (`{"mcpServers": {NAME: SERVER}}`), so that is the
shape `tether run --mcp-config` and the config file's `mcp_servers:` take, for every agent:

- stdio: `{command, args, env}` (`type: "stdio"` optional);
- `{type: "http" | "sse", url, headers}`.

Claude Code takes the map as it is (claude-agent-sdk's `mcp_servers`). An ACP agent takes a
list in `session/new` (`McpServerStdio`, `HttpMcpServer`, `SseMcpServer`: env and headers as
`[{name, value}]`), and http or sse only when its `mcpCapabilities` say it can: a server it
cannot take is left out and said so, never sent to fail inside the agent. Pure but for
reading a file.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

TRANSPORTS = ("stdio", "http", "sse")


class McpConfigError(ValueError):
    """MCP server configuration that cannot be used; one line for people."""


def load(values: Iterable[str]) -> dict[str, dict[str, Any]]:
    """`--mcp-config` values (each a file or a JSON string, as claude takes them) merged
    in order: a later server of the same name replaces an earlier one."""
    servers: dict[str, dict[str, Any]] = {}
    for value in values:
        text = value
        if not value.lstrip().startswith("{"):
            try:
                text = Path(value).expanduser().read_text(encoding="utf-8")
            except OSError as exc:
                raise McpConfigError(
                    f"--mcp-config {value}: cannot read it ({exc.strerror or exc})"
                ) from None
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise McpConfigError(f"--mcp-config {value}: not JSON ({exc})") from None
        if not isinstance(data, dict) or not isinstance(data.get("mcpServers"), dict):
            raise McpConfigError(f'--mcp-config {value}: expected {{"mcpServers": {{...}}}}')
        servers.update(parse(data["mcpServers"], f"--mcp-config {value}"))
    return servers


def parse(raw: Mapping[str, Any], where: str = "mcp_servers") -> dict[str, dict[str, Any]]:
    """Checked servers by name, each with its `type` spelled out."""
    out: dict[str, dict[str, Any]] = {}
    for name, server in raw.items():
        at = f"{where}: server {name!r}"
        if not isinstance(server, Mapping):
            raise McpConfigError(f"{at} must be an object")
        kind = server.get("type") or ("stdio" if "command" in server else None)
        if kind not in TRANSPORTS:
            raise McpConfigError(f"{at}: type must be one of {', '.join(TRANSPORTS)}")
        if kind == "stdio":
            if not isinstance(server.get("command"), str) or not server["command"]:
                raise McpConfigError(f"{at} needs a `command` string")
            args = server.get("args") or []
            if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
                raise McpConfigError(f"{at}: args must be a list of strings")
            checked = {
                "type": "stdio",
                "command": server["command"],
                "args": list(args),
                "env": _strings(server.get("env"), f"{at}: env"),
            }
        else:
            if not isinstance(server.get("url"), str) or not server["url"]:
                raise McpConfigError(f"{at} needs a `url` string")
            checked = {
                "type": kind,
                "url": server["url"],
                "headers": _strings(server.get("headers"), f"{at}: headers"),
            }
        out[str(name)] = checked
    return out


def _strings(value: Any, at: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise McpConfigError(f"{at} must map names to values")
    return {str(k): str(v) for k, v in value.items()}


def for_acp(
    servers: Mapping[str, dict[str, Any]], capabilities: Mapping[str, Any]
) -> tuple[list[dict[str, Any]], list[str]]:
    """(`session/new`'s `mcpServers`, one reason per server the agent cannot take)."""
    offered: list[dict[str, Any]] = []
    skipped: list[str] = []
    for name, server in servers.items():
        kind = server["type"]
        if kind == "stdio":  # every ACP agent takes stdio servers
            offered.append(
                {
                    "name": name,
                    "command": server["command"],
                    "args": server["args"],
                    "env": _pairs(server["env"]),
                }
            )
        elif capabilities.get(kind):
            offered.append(
                {
                    "type": kind,
                    "name": name,
                    "url": server["url"],
                    "headers": _pairs(server["headers"]),
                }
            )
        else:
            skipped.append(f"MCP server {name!r} left out: the agent does not take {kind} servers")
    return offered, skipped


def _pairs(mapping: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"name": k, "value": v} for k, v in mapping.items()]
