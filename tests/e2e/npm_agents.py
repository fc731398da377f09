"""The ACP adapters `scripts/test` installs into `.cache/npm` (pinned there)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import in_thread, wait_message, wait_status
from tests.gateway.conftest import GATEWAY_KEY, start_gateway
from tests.support.model_server import hold, text

BIN = Path(__file__).parents[2] / ".cache" / "npm" / "node_modules" / ".bin"


def path_with(command: str) -> str:
    """PATH with the adapters first; the test skips when `command` is not installed."""
    if not (BIN / command).exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{command} is missing: ./scripts/test installs it from npm")
        pytest.skip(f"{command} is not installed (./scripts/test installs it)")
    return f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"


@contextlib.contextmanager
def gateway_to(model: Any, data_dir: Path, **routing: Any) -> Iterator[Any]:
    """A tether gateway (key GATEWAY_KEY) whose one provider is the scripted Anthropic
    `model`; `routing` is the config's `routes` or `default`."""
    provider = {"type": "anthropic", "base_url": model.url, "api_key": "k", "retries": 0}
    config = {"gateway": {"keys": [GATEWAY_KEY], "providers": {"an": provider}, **routing}}
    server = start_gateway(data_dir, config)
    try:
        yield server
    finally:
        server.stop()


async def interrupt_mid_turn_then_prompt(relay: Any, model: Any, runner: Any) -> None:
    """With the scripted model stalled mid-stream (a turn in flight), an interrupt ends the
    turn as `cancelled`, the session goes idle, and the next prompt is answered."""
    await wait_status(relay, runner, "idle", timeout=90)
    model.add(hold("Working on it"))
    await relay.send_text(runner.session_id, "take your time")
    assert await in_thread(model.wait_holding, 90)
    await wait_status(relay, runner, "running")
    await relay.interrupt(runner.session_id)
    [ended] = await wait_message(relay, runner, "result", timeout=90)
    assert ended["content"]["stop_reason"] == "cancelled"
    await wait_status(relay, runner, "idle")

    model.add(text("Back again."))
    await relay.send_text(runner.session_id, "are you there?")
    await wait_message(
        relay, runner, "assistant_text", lambda m: "Back again." in m["content"]["text"], timeout=90
    )
    [_, done] = await wait_message(relay, runner, "result", count=2, timeout=90)
    assert done["content"]["stop_reason"] == "end_turn"
    await wait_status(relay, runner, "idle")
    await relay.end_session(runner.session_id)
    assert await runner.wait_exit(60) == 0
