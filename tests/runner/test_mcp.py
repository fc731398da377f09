"""MCP servers in .mcp.json's shape → what each agent takes, by example (pure)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tether.runner import mcp

SERVERS = {
    "files": {"command": "mcp-files", "args": ["--root", "/w"], "env": {"TOKEN": "t"}},
    "web": {"type": "http", "url": "https://mcp.example/http", "headers": {"X-Key": "k"}},
    "feed": {"type": "sse", "url": "https://mcp.example/sse"},
}


def test_load_merges_files_and_json_strings_later_wins(tmp_path: Path) -> None:
    first = tmp_path / "a.json"
    first.write_text(json.dumps({"mcpServers": SERVERS}))
    later = json.dumps({"mcpServers": {"files": {"command": "other"}}})
    servers = mcp.load([str(first), later])
    assert list(servers) == ["files", "web", "feed"]
    assert servers["files"] == {"type": "stdio", "command": "other", "args": [], "env": {}}
    assert servers["web"] == {
        "type": "http",
        "url": "https://mcp.example/http",
        "headers": {"X-Key": "k"},
    }
    assert servers["feed"]["headers"] == {}


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("/nonexistent/mcp.json", "cannot read it"),
        ("{not json", "not JSON"),
        ('{"servers": {}}', 'expected {"mcpServers"'),
        ('{"mcpServers": {"x": {"type": "ws", "url": "u"}}}', "type must be one of"),
        ('{"mcpServers": {"x": {"type": "stdio"}}}', "needs a `command`"),
        ('{"mcpServers": {"x": {"command": "c", "args": "a b"}}}', "args must be a list"),
        ('{"mcpServers": {"x": {"type": "http"}}}', "needs a `url`"),
        ('{"mcpServers": {"x": {"command": "c", "env": ["A=1"]}}}', "env must map"),
    ],
)
def test_bad_configuration_is_one_line_naming_where(value: str, says: str) -> None:
    with pytest.raises(mcp.McpConfigError, match="--mcp-config") as caught:
        mcp.load([value])
    assert says in str(caught.value)


def test_acp_gets_lists_of_pairs_and_only_the_transports_the_agent_takes() -> None:
    servers = mcp.parse(SERVERS)
    offered, skipped = mcp.for_acp(servers, {"http": True})
    assert offered == [
        {
            "name": "files",
            "command": "mcp-files",
            "args": ["--root", "/w"],
            "env": [{"name": "TOKEN", "value": "t"}],
        },
        {
            "type": "http",
            "name": "web",
            "url": "https://mcp.example/http",
            "headers": [{"name": "X-Key", "value": "k"}],
        },
    ]
    assert skipped == ["MCP server 'feed' left out: the agent does not take sse servers"]
    offered, skipped = mcp.for_acp(servers, {})
    assert [s["name"] for s in offered] == ["files"]
    assert len(skipped) == 2
    # What the agent is sent is what ACP's own schema reads.
    from acp import schema

    request = schema.NewSessionRequest.model_validate(
        {"cwd": "/w", "mcpServers": mcp.for_acp(servers, {"http": True, "sse": True})[0]}
    )
    assert [type(s).__name__ for s in request.mcp_servers] == [
        "McpServerStdio",
        "HttpMcpServer",
        "SseMcpServer",
    ]
