"""`tether flows` as a person runs it, against flows real SDK calls made: list, show
(readable, raw, upstream side), diff of two consecutive requests, HAR that a HAR reader
opens, and replay to another provider."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from haralyzer import HarParser

from tests.cli.support import cli_env, tether
from tests.flows.conftest import get_flow, wait_flows
from tests.gateway.upstreams import Json, Sse, an_message, oa_completion, oa_text_stream
from tests.support.sdks import anthropic

TOOLS = [
    {
        "name": "Bash",
        "description": "Run a command",
        "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}},
    }
]


@pytest.fixture
def two_turns(flows_server, oa_upstream):
    """Two consecutive requests of one conversation, the second streamed."""
    oa_upstream.push(Json(oa_completion("first answer")), Sse(oa_text_stream("second ", "answer")))
    client = anthropic.Anthropic(base_url=flows_server.url, api_key="k", max_retries=0)
    history = [{"role": "user", "content": "hello"}]
    first = client.messages.create(
        model="claude-x", max_tokens=50, system="you are terse", tools=TOOLS, messages=history
    )
    history += [
        {"role": "assistant", "content": first.content[0].text},
        {"role": "user", "content": "and then?"},
    ]
    with client.messages.stream(
        model="claude-x", max_tokens=50, system="you are terse", tools=TOOLS, messages=history
    ) as stream:
        assert stream.get_final_text() == "second answer"
    older, newer = reversed(wait_flows(flows_server, 2))
    return older, newer


@pytest.fixture
def env(flows_server, tmp_path: Path) -> dict[str, str]:
    return cli_env(flows_server.url, flows_server.token, tmp_path / "cli")


def _ok(env, *args: str) -> str:
    done = tether(env, "flows", *args)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_list_show_and_diff(two_turns, env):
    older, newer = two_turns
    listed = json.loads(_ok(env, "list", "--json"))
    assert [f["id"] for f in listed] == [newer["id"], older["id"]]
    assert newer["id"] in _ok(env, "list", "--provider", "oa")

    shown = _ok(env, "show", older["id"])
    assert "you are terse" in shown and "tools (1): Bash" in shown
    assert "[0] user:\n    hello" in shown and "first answer" in shown
    streamed = _ok(env, "show", newer["id"])
    assert "second answer" in streamed  # the answer put together from its events
    upstream = _ok(env, "show", "--upstream", newer["id"])
    assert "model: gpt-test" in upstream and "(openai)" in upstream
    raw = _ok(env, "show", "--raw", newer["id"])
    assert '"model":"claude-x"' in raw.replace(" ", "") and "event: content_block_delta" in raw

    changes = _ok(env, "diff", older["id"], newer["id"])
    assert "system prompt: unchanged" in changes and "tools: unchanged (1)" in changes
    assert "+ [1] assistant:\n    first answer" in changes
    assert "+ [2] user:\n    and then?" in changes
    assert "messages: 1 unchanged, 3 in B (1 in A)" in changes


def test_har_opens_and_matches_its_flows(two_turns, env, flows_server, tmp_path: Path):
    path = tmp_path / "calls.har"
    path.write_text(_ok(env, "har", "--upstream"))
    # Read as a HAR consumer reads it (haralyzer), each entry checked against its flow.
    [page] = HarParser.from_file(str(path)).pages
    assert len(page.entries) == 4
    for entry in page.entries:
        raw = entry.raw_entry
        flow = get_flow(flows_server, raw["_flowId"])
        upstream = raw["_side"] == "upstream"
        prefix = "upstream_" if upstream else ""
        assert entry.request.method == "POST"
        assert entry.request.url == (
            flow["upstream_url"] if upstream else flows_server.url + flow["path"]
        )
        assert entry.request.text == flow[f"{prefix}request_body"]
        assert entry.response.text == flow[f"{prefix}response_body"]
        assert entry.response.status == flow[f"{prefix}status"]
    [streamed] = [
        e
        for e in page.entries
        if e.raw_entry["_flowId"] == two_turns[1]["id"] and e.raw_entry["_side"] == "client"
    ]
    assert "event: message_stop" in streamed.response.text
    assert streamed.response.mimeType.startswith("text/event-stream")


def test_replay_to_another_provider(two_turns, env, an_upstream):
    older, _ = two_turns
    an_upstream.push(Json(an_message("an answer from anthropic")))
    shown = _ok(env, "replay", older["id"], "--provider", "an", "--model", "claude-real")
    assert "first answer" in shown and "an answer from anthropic" in shown
    assert "an/claude-real" in shown
    sent = an_upstream.received[-1].json
    assert sent["model"] == "claude-real" and sent["system"] == "you are terse"
    assert [t["name"] for t in sent["tools"]] == ["Bash"]
