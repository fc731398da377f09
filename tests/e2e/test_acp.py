"""`tether run --agent …` over the Agent Client Protocol: the real runner and relay, a
scripted ACP agent (`fake_acp_agent.py`) in the agent's place.

Each test plays the people's side through `tether.client` and checks what reached the
relay, what the agent was told (its log) and what happened on disk.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.harness import (
    RunnerProcess,
    all_messages,
    until,
    wait_message,
    wait_pending,
    wait_status,
)

pytestmark = pytest.mark.slow

FAKE = Path(__file__).with_name("fake_acp_agent.py")


@pytest.fixture
def agent_log(tmp_path: Path) -> Path:
    return tmp_path / "fake-acp.log"


@pytest.fixture
def start_fake(start_runner, tmp_path: Path, agent_log: Path):
    """Start `tether run --agent fake` with the fake agent configured under `agents:`."""
    config = tmp_path / "agents.yaml"

    def start(*args: str, **settings: Any) -> RunnerProcess:
        fake = {
            "command": sys.executable,
            "args": [str(FAKE)],
            "env": {"FAKE_ACP_LOG": str(agent_log)},
        }
        config.write_text(yaml.safe_dump({"agents": {"fake": fake}, **settings}))
        return start_runner("--agent", "fake", *args, env={"TETHER_CONFIG": str(config)})

    return start


def told(agent_log: Path, event: str) -> list[dict[str, Any]]:
    if not agent_log.exists():
        return []
    lines = [json.loads(line) for line in agent_log.read_text().splitlines() if line.strip()]
    return [line for line in lines if line["event"] == event]


async def wait_told(agent_log: Path, event: str, runner: RunnerProcess) -> list[dict[str, Any]]:
    async def seen() -> list[dict[str, Any]]:
        return told(agent_log, event)

    return await until(seen, 30, f"the agent to log {event!r}", runner)


async def test_prompt_streams_coalesced_text_thinking_plan_usage_and_modes(
    relay, start_fake, agent_log
) -> None:
    runner = start_fake("--title", "acp")
    session_id = await runner.wait_session_id()
    session = await wait_status(relay, runner, "idle")
    assert session["agent"] == "fake"
    state = session["agent_state"]
    assert state["agent_info"] == {"name": "fake-acp", "version": "9.9.9"}
    assert state["acp_session_id"] == "fake-session-1"
    assert state["can_resume"] is True
    assert [m["id"] for m in state["modes"]] == ["default", "acceptEdits", "read-only"]
    # We advertised only what we serve: files, no terminal.
    [init] = told(agent_log, "initialize")
    caps = init["params"]["clientCapabilities"]
    assert caps["fs"] == {"readTextFile": True, "writeTextFile": True}
    assert caps["terminal"] is False
    [new] = told(agent_log, "session/new")
    assert new["params"]["cwd"] == str(runner.workdir)

    await relay.send_text(session_id, "hello there")
    [answer] = await wait_message(relay, runner, "assistant_text")
    assert answer["content"]["text"] == "Hello from the fake agent."
    assert len(answer["raw"]["chunks"]) == 3  # the agent's own updates, kept
    [thought] = await wait_message(relay, runner, "thinking")
    assert thought["content"]["text"] == "Greet."
    [usage] = await wait_message(relay, runner, "usage")
    assert usage["content"]["input_tokens"] == 10
    assert usage["content"]["output_tokens"] == 5
    [result] = await wait_message(relay, runner, "result")
    assert result["content"]["stop_reason"] == "end_turn"
    assert thought["seq"] < answer["seq"] < result["seq"]
    session = await wait_status(relay, runner, "idle")
    assert session["agent_state"]["commands"] == [{"name": "review", "description": "Review code"}]

    await relay.send_text(session_id, "plan the fix")
    [plan] = await wait_message(relay, runner, "plan")
    assert plan["content"]["entries"] == [
        {"content": "Read the code", "status": "completed", "priority": "high"},
        {"content": "Fix the bug", "status": "in_progress", "priority": "medium"},
    ]
    await wait_message(relay, runner, "result", count=2)

    # A tether mode the agent offers is switched to; one it lacks is refused, listing them.
    await relay.set_permission_mode(session_id, "acceptEdits")
    [switched] = await wait_told(agent_log, "set_mode", runner)
    assert switched["mode"] == "acceptEdits"

    async def mode_shown() -> bool:
        state = (await relay.get_session(session_id))["agent_state"]
        return state.get("agent_mode") == "acceptEdits"

    await until(mode_shown, 30, "agent_mode acceptEdits", runner)
    await relay.set_permission_mode(session_id, "plan")
    [refused] = await wait_message(
        relay, runner, "status", lambda m: "could not switch" in m["content"]["text"]
    )
    assert "read-only" in refused["content"]["text"]
    assert len(told(agent_log, "set_mode")) == 1

    await relay.end_session(session_id)
    assert await runner.wait_exit() == 0


async def test_allow_writes_through_fs_and_deny_reaches_the_agent(
    relay, start_fake, agent_log
) -> None:
    runner = start_fake()
    session_id = await runner.wait_session_id()
    await wait_status(relay, runner, "idle")

    await relay.send_text(session_id, "write notes.txt hi there")
    pending = await wait_pending(relay, runner)
    assert pending["title"] == "fake wants to: Write notes.txt"
    assert pending["tool_use_id"] == "call-notes.txt"
    assert pending["input"]["content"] == "hi there"
    # The agent's own choices and labels travel with the request.
    assert [(s["option_id"], s["name"], s["kind"]) for s in pending["suggestions"]] == [
        ("yes", "Yes, write it", "allow_once"),
        ("yes-all", "Always write files", "allow_always"),
        ("no", "No, keep it", "reject_once"),
        ("never", "Never write files", "reject_always"),
    ]
    assert not (runner.workdir / "notes.txt").exists()
    await relay.respond(pending["id"], "allow")
    await wait_message(relay, runner, "assistant_text", lambda m: "Read back" in str(m["content"]))
    assert (runner.workdir / "notes.txt").read_text() == "hi there"
    [permission] = told(agent_log, "permission")
    assert permission == {"event": "permission", "outcome": "selected", "option": "yes"}
    [done] = await wait_message(relay, runner, "tool_result")
    assert done["content"]["call_id"] == "call-notes.txt"
    assert done["content"]["is_error"] is False
    assert done["content"]["diffs"][0]["new_text"] == "hi there"
    await wait_status(relay, runner, "idle")

    await relay.send_text(session_id, "write other.txt nope")
    pending = await wait_pending(relay, runner)
    await relay.respond(pending["id"], "deny", message="not that one")
    [said] = await wait_message(relay, runner, "assistant_text", lambda m: "Not written" in str(m))
    assert said["content"]["text"] == "Not written (selected no)."
    assert not (runner.workdir / "other.txt").exists()
    [failed] = await wait_message(relay, runner, "tool_result", lambda m: m["content"]["is_error"])
    assert failed["content"]["output"] == "refused: no"
    await wait_status(relay, runner, "idle")

    # "Always allow" (remember) picks the agent's allow_always option.
    await relay.send_text(session_id, "write third.txt yes")
    pending = await wait_pending(relay, runner)
    await relay.respond(pending["id"], "allow", remember=True)
    await wait_message(relay, runner, "result", count=3)
    assert told(agent_log, "permission")[-1]["option"] == "yes-all"
    assert (runner.workdir / "third.txt").read_text() == "yes"
    await wait_status(relay, runner, "idle")

    # A deny naming the agent's reject_always option (the web card's button for it, by
    # its index in `suggestions`) selects exactly that option.
    await relay.send_text(session_id, "write fourth.txt no")
    pending = await wait_pending(relay, runner)
    await relay.respond(pending["id"], "deny", remember=[3])
    await wait_message(relay, runner, "result", count=4)
    assert told(agent_log, "permission")[-1]["option"] == "never"
    assert not (runner.workdir / "fourth.txt").exists()
    await relay.end_session(session_id)
    assert await runner.wait_exit() == 0


async def test_interrupt_cancels_the_turn_and_a_late_permission_ask(
    relay, start_fake, agent_log
) -> None:
    runner = start_fake()
    session_id = await runner.wait_session_id()
    await wait_status(relay, runner, "idle")

    await relay.send_text(session_id, "wait then-ask")
    await wait_told(agent_log, "prompt", runner)
    await wait_status(relay, runner, "running")
    await relay.interrupt(session_id)
    [cancel] = await wait_told(agent_log, "cancel", runner)
    assert cancel["params"] == {"sessionId": "fake-session-1"}
    [result] = await wait_message(relay, runner, "result")
    assert result["content"]["stop_reason"] == "cancelled"
    [text] = await wait_message(relay, runner, "assistant_text")
    assert text["content"]["text"] == "Working"
    # Asked after the cancel: answered `cancelled` at once, nobody is asked.
    [late] = told(agent_log, "late permission")
    assert late["answer"]["result"] == {"outcome": {"outcome": "cancelled"}}
    assert await relay.list_permissions(status=None, session_id=session_id) == []
    await wait_status(relay, runner, "idle")

    # A pending request is withdrawn on every device when the turn is interrupted.
    await relay.send_text(session_id, "write never.txt x")
    pending = await wait_pending(relay, runner)
    await relay.interrupt(session_id)

    async def withdrawn() -> dict[str, Any] | None:
        found = await relay.get_permission(pending["id"])
        return found if found["status"] == "cancelled" else None

    await until(withdrawn, 30, "the request to be cancelled", runner)
    await wait_message(relay, runner, "result", count=2)
    assert told(agent_log, "permission")[-1]["outcome"] == "cancelled"
    assert not (runner.workdir / "never.txt").exists()
    await relay.end_session(session_id)
    assert await runner.wait_exit() == 0


async def test_protocol_edges_and_files_outside_the_session_are_refused(
    relay, start_fake, agent_log, tmp_path: Path
) -> None:
    runner = start_fake()
    session_id = await runner.wait_session_id()
    await wait_status(relay, runner, "idle")

    # Lines that are not JSON-RPC, an answer nobody asked for, an update type from the
    # future: the session goes on, and the unknown update is kept.
    await relay.send_text(session_id, "garbage")
    await wait_message(
        relay, runner, "assistant_text", lambda m: m["content"]["text"] == "Still here."
    )
    [unknown] = await wait_message(
        relay, runner, "system", lambda m: m["content"].get("subtype", "").startswith("acp:")
    )
    assert unknown["content"]["subtype"] == "acp:something_from_the_future"
    assert unknown["raw"]["value"] == 42
    await wait_status(relay, runner, "idle")

    outside = tmp_path / "agent"
    (outside / "secret.txt").write_text("do not read")
    (runner.workdir / "link").symlink_to(outside, target_is_directory=True)
    await relay.send_text(session_id, "outside")
    await wait_message(relay, runner, "result", count=2)
    answers = [line["answer"] for line in told(agent_log, "fs")]
    assert len(answers) == 4
    assert all("result" not in answer for answer in answers)
    for answer in answers[:3]:  # `..` and a symlink are resolved before the check
        assert "outside this session's directories" in answer["error"]["message"]
    assert "must be absolute" in answers[3]["error"]["message"]
    assert not (outside / "outside.txt").exists()
    assert not (outside / "escaped.txt").exists()
    await relay.end_session(session_id)
    assert await runner.wait_exit() == 0


async def test_agent_dying_mid_turn_ends_the_session_with_its_stderr(relay, start_fake) -> None:
    runner = start_fake()
    session_id = await runner.wait_session_id()
    await wait_status(relay, runner, "idle")
    await relay.send_text(session_id, "die")
    [error] = await wait_message(relay, runner, "error")
    assert "exited unexpectedly (exit code 3)" in error["content"]["message"]
    assert "fatal: the fake agent fell over" in error["content"]["stderr"]
    assert await runner.wait_exit() == 1
    session = await relay.get_session(session_id)
    assert session["status"] == "ended"


async def test_resume_loads_the_agents_session_without_repeating_it(
    relay, start_fake, start_runner, agent_log
) -> None:
    first = start_fake()
    session_id = await first.wait_session_id()
    await wait_status(relay, first, "idle")
    await relay.send_text(session_id, "hello")
    await wait_message(relay, first, "result")
    first.stop()
    before = await all_messages(relay, session_id)

    second = start_fake("--resume", session_id)
    await second.wait_session_id()
    await wait_status(relay, second, "idle")
    [load] = told(agent_log, "session/load")
    assert load["params"]["sessionId"] == "fake-session-1"
    assert load["params"]["cwd"] == str(second.workdir)
    after = await all_messages(relay, session_id)
    # The replayed history ("Old answer.") is the agent's copy of what the relay holds.
    assert not [m for m in after if "Old answer" in json.dumps(m["content"])]
    assert len([m for m in after if m["kind"] == "assistant_text"]) == len(
        [m for m in before if m["kind"] == "assistant_text"]
    )
    await relay.end_session(session_id)
    assert await second.wait_exit() == 0


async def test_any_acp_command_after_dashes(relay, start_runner, agent_log) -> None:
    runner = start_runner(
        "--agent", "acp", "--", sys.executable, str(FAKE), env={"FAKE_ACP_LOG": str(agent_log)}
    )
    session_id = await runner.wait_session_id()
    session = await wait_status(relay, runner, "idle")
    assert session["agent"] == Path(sys.executable).name
    assert session["agent_state"]["agent_info"]["name"] == "fake-acp"
    await relay.send_text(session_id, "hello")
    [answer] = await wait_message(relay, runner, "assistant_text")
    assert answer["content"]["text"] == "Hello from the fake agent."
    await relay.end_session(session_id)
    assert await runner.wait_exit() == 0


async def test_mcp_servers_from_the_config_file_and_mcp_config_reach_the_agent(
    relay, start_fake, agent_log, tmp_path: Path
) -> None:
    # Claude Code's .mcp.json shape, from both places; the agent takes http, not sse.
    mcp_json = tmp_path / "mcp.json"
    mcp_json.write_text(
        json.dumps(
            {
                "mcpServers": {
                    "web": {"type": "http", "url": "http://127.0.0.1:9/mcp", "headers": {"K": "v"}},
                    "feed": {"type": "sse", "url": "http://127.0.0.1:9/sse"},
                }
            }
        )
    )
    files = {"command": "mcp-files", "args": ["--root", "."], "env": {"TOKEN": "t"}}
    runner = start_fake("--mcp-config", str(mcp_json), mcp_servers={"files": files})
    session_id = await runner.wait_session_id()
    session = await wait_status(relay, runner, "idle")
    [new] = told(agent_log, "session/new")  # the fake checks it with ACP's schema
    assert new["params"]["mcpServers"] == [
        {
            "name": "files",
            "command": "mcp-files",
            "args": ["--root", "."],
            "env": [{"name": "TOKEN", "value": "t"}],
        },
        {
            "type": "http",
            "name": "web",
            "url": "http://127.0.0.1:9/mcp",
            "headers": [{"name": "K", "value": "v"}],
        },
    ]
    assert session["agent_state"]["mcp_servers"] == ["files", "web"]
    [left_out] = await wait_message(relay, runner, "status")
    assert left_out["content"] == {
        "status": "warning",
        "text": "MCP server 'feed' left out: the agent does not take sse servers",
    }
    await relay.end_session(session_id)
    assert await runner.wait_exit() == 0


async def test_a_bad_mcp_config_is_one_line_before_anything_starts(start_fake) -> None:
    runner = start_fake("--mcp-config", '{"mcpServers": {"x": {"type": "stdio"}}}')
    assert await runner.wait_exit() == 1
    assert "server 'x' needs a `command` string" in runner.output()


async def test_what_the_agent_started_ends_with_it(relay, start_fake, agent_log) -> None:
    runner = start_fake()
    session_id = await runner.wait_session_id()
    await wait_status(relay, runner, "idle")
    await relay.send_text(session_id, "spawn")
    [spawned] = await wait_told(agent_log, "spawned", runner)
    await wait_message(relay, runner, "result")
    assert alive(spawned["pid"])
    await relay.end_session(session_id)
    assert await runner.wait_exit() == 0

    async def gone() -> bool:
        return not alive(spawned["pid"])

    await until(gone, 30, "the agent's own child to end", runner)


def alive(pid: int) -> bool:
    """Running, not a zombie left for init to reap."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
