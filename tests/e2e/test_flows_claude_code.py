"""The real Claude Code under `tether run --gateway`: its model calls become flows of its
relay session (ANTHROPIC_CUSTOM_HEADERS carries the session id), with both sides and the
streamed events, and diffing two consecutive turns shows the messages it added."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.e2e.harness import wait_message
from tests.flows.conftest import get_flow, wait_flows
from tests.support.model_server import ModelServer, text
from tests.support.server import TetherServer
from tether.cli.flow_view import diff

pytestmark = pytest.mark.slow


@pytest.fixture
def relay_server(tmp_path: Path, model: ModelServer) -> Iterator[TetherServer]:
    """The relay with its gateway in front of the scripted model (capture on)."""
    data_dir = tmp_path / "relay"
    data_dir.mkdir()
    config = {
        "gateway": {
            "providers": {"an": {"type": "anthropic", "base_url": model.url, "api_key": "k"}}
        }
    }
    (data_dir / "config.yaml").write_text(yaml.safe_dump(config))
    server = TetherServer(data_dir=data_dir).start()
    yield server
    server.stop()


async def test_claude_code_calls_are_flows_of_its_session(
    relay, relay_server, model, start_runner
) -> None:
    model.add(text("First answer"), text("Second answer"))
    runner = start_runner("first question", "--gateway", relay_server.url)
    await runner.wait_session_id()
    await wait_message(relay, runner, "result")
    await relay.send_text(runner.session_id, "second question")
    await wait_message(relay, runner, "result", count=2)
    model.wait_main_requests(2)

    turns: list[dict] = []
    deadline = time.monotonic() + 20
    while len(turns) < 2 and time.monotonic() < deadline:  # the writer is behind the calls
        flows = wait_flows(relay_server, 2, session=runner.session_id, limit=1000)
        details = [get_flow(relay_server, f["id"]) for f in reversed(flows)]
        # The agent loop's calls (tools offered), not its side calls (titles, counts).
        turns = [
            d
            for d in details
            if d["path"].split("?")[0] == "/v1/messages"
            and json.loads(d["request_body"]).get("tools")
        ]
    assert len(turns) >= 2, [t["path"] for t in turns]
    first, second = turns[-2:]
    for flow in (first, second):
        assert flow["session_id"] == runner.session_id
        assert flow["provider"] == "an" and flow["status"] == 200
        assert "event: message_stop" in flow["upstream_response_body"]
        assert flow["response_body"] == flow["upstream_response_body"]
        assert "x-api-key" not in dict(flow["request_headers"])
    changes = diff(first, second)
    assert "system prompt" in changes
    assert "First answer" in changes and "second question" in changes
    added = [line for line in changes.splitlines() if line.startswith("+ [")]
    assert len(added) >= 2, changes
