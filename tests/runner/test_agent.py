"""How `tether run` shapes the claude process: extra args, options, stderr tail."""

from __future__ import annotations

from pathlib import Path

import pytest

from tether.runner.agent import (
    AgentSpec,
    ClaudeArgsError,
    StderrTail,
    build_options,
    parse_claude_args,
)


async def _never(*_args):  # a can_use_tool that is never called here
    raise AssertionError


def test_parse_claude_args() -> None:
    extra, dirs, model = parse_claude_args(
        [
            "--model",
            "opus",
            "--add-dir",
            "../lib",
            "--add-dir=../docs",
            "--max-turns",
            "3",
            "--verbose",
            "--fallback-model=-x",
        ]
    )
    assert model == "opus"
    assert dirs == ["../lib", "../docs"]
    assert extra == {"max-turns": "3", "verbose": None, "fallback-model": "-x"}
    assert parse_claude_args([]) == ({}, [], None)


@pytest.mark.parametrize("args", [["opus"], ["--x", "1", "--x", "2"], ["--"]])
def test_parse_claude_args_refuses(args: list[str]) -> None:
    with pytest.raises(ClaudeArgsError):
        parse_claude_args(args)


def test_build_options(tmp_path: Path) -> None:
    spec = AgentSpec(
        cwd=tmp_path,
        permission_mode="acceptEdits",
        resume="abc",
        fork=True,
        gateway="http://127.0.0.1:9999/",
        claude_args=["--model", "sonnet"],
        mcp_servers={"files": {"type": "stdio", "command": "mcp-files", "args": [], "env": {}}},
    )
    options = build_options(spec, _never, StderrTail())
    assert options.cwd == str(tmp_path)
    assert options.permission_mode == "acceptEdits"
    assert (options.resume, options.fork_session) == ("abc", True)
    assert options.env["ANTHROPIC_BASE_URL"] == "http://127.0.0.1:9999"
    assert options.model == "sonnet"
    assert options.system_prompt == {"type": "preset", "preset": "claude_code"}
    assert options.can_use_tool is _never
    # .mcp.json's shape is claude's own: handed over as it is.
    assert options.mcp_servers == {
        "files": {"type": "stdio", "command": "mcp-files", "args": [], "env": {}}
    }


def test_stderr_tail_is_bounded_and_keeps_the_end() -> None:
    tail = StderrTail(max_chars=50)
    for i in range(1000):
        tail.add(f"line {i}\n")
    text = tail.text()
    assert len(text) <= 50
    assert text.endswith("line 999") and "line 0\n" not in text
    assert StderrTail().text() == ""
