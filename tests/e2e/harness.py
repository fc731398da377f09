"""Whole-system harness: a real `tether run` process driving the real claude binary.

The agent's model calls go to a scripted `ModelServer`; the relay is a real
`tether serve`; the test plays the people's side through `tether.client`.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.model_server import ModelServer
from tests.support.server import TetherServer
from tether.client import RelayClient

FIXTURES = Path(__file__).parent.parent / "gateway" / "fixtures"
RECORD = os.environ.get("TETHER_RECORD_FIXTURES") == "1"


@dataclass
class RunnerProcess:
    """`tether run` as a child process, with its own HOME (claude's config) and data dir."""

    server: TetherServer
    model: ModelServer
    root: Path
    name: str = "run"
    args: list[str] = field(default_factory=list)
    proc: subprocess.Popen[bytes] | None = None
    session_id: str = ""

    @property
    def workdir(self) -> Path:
        return self.root / "project"

    @property
    def output_path(self) -> Path:
        return self.root / f"{self.name}.out"

    def env(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("TETHER_", "ANTHROPIC_", "CLAUDE"))
        }
        env.update(
            HOME=str(self.root / "home"),
            ANTHROPIC_BASE_URL=self.model.url,
            ANTHROPIC_API_KEY="test",
            TETHER_URL=self.server.url,
            TETHER_TOKEN=self.server.token,
            TETHER_DATA_DIR=str(self.root / "runner-data"),
            TETHER_CONFIG=str(self.root / "runner-config.yaml"),
            PYTHONUNBUFFERED="1",
            COLUMNS="200",
        )
        return env

    def start(self, *args: str, env: dict[str, str] | None = None) -> RunnerProcess:
        (self.root / "home").mkdir(parents=True, exist_ok=True)
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.root / "runner-config.yaml").write_text("")
        self.args = list(args)
        out = self.output_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tether", "run", "--cwd", str(self.workdir), *args],
            env={**self.env(), **(env or {})},
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
        )
        return self

    async def wait_session_id(self, timeout: float = 60) -> str:
        async def first_line() -> str | None:
            assert self.proc is not None
            text = self.output_path.read_text(errors="replace") if self.output_path.exists() else ""
            for line in text.splitlines():
                if line.startswith("ses_"):
                    return line.strip()
            if self.proc.poll() is not None:
                raise AssertionError(f"tether run exited early:\n{self.output()}")
            return None

        self.session_id = await until(first_line, timeout, "the session id", self)
        return self.session_id

    async def wait_exit(self, timeout: float = 60) -> int:
        assert self.proc is not None

        async def exited() -> int | None:
            return self.proc.poll()  # type: ignore[union-attr]

        code = await until(exited, timeout, "tether run to exit", self, accept_zero=True)
        return int(code)

    def interrupt(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGINT)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def output(self) -> str:
        return self.output_path.read_text(errors="replace") if self.output_path.exists() else ""


async def until(
    check: Callable[[], Awaitable[Any]],
    timeout: float,
    what: str,
    runner: RunnerProcess | None = None,
    *,
    accept_zero: bool = False,
) -> Any:
    """Poll `check` until it returns something truthy (or 0 with accept_zero)."""
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value or (accept_zero and value == 0):
            return value
        if time.monotonic() > deadline:
            detail = f"\n--- tether run output ---\n{runner.output()}" if runner else ""
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}{detail}")
        await asyncio.sleep(0.1)


async def in_thread(fn: Callable[..., Any], *args: Any) -> Any:
    """Run a blocking wait (the model server's) without stalling the event loop."""
    return await asyncio.to_thread(fn, *args)


async def all_messages(relay: RelayClient, session_id: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while True:
        batch = await relay.messages(session_id, after=out[-1]["seq"] if out else 0, limit=500)
        out.extend(batch)
        if len(batch) < 500:
            return out


async def wait_message(
    relay: RelayClient,
    runner: RunnerProcess,
    kind: str,
    where: Callable[[dict[str, Any]], bool] = lambda m: True,
    count: int = 1,
    timeout: float = 60,
) -> list[dict[str, Any]]:
    async def found() -> list[dict[str, Any]] | None:
        hits = [
            m
            for m in await all_messages(relay, runner.session_id)
            if m["kind"] == kind and where(m)
        ]
        return hits if len(hits) >= count else None

    return await until(found, timeout, f"{count} {kind} message(s)", runner)


async def wait_pending(
    relay: RelayClient, runner: RunnerProcess, timeout: float = 60
) -> dict[str, Any]:
    async def pending() -> dict[str, Any] | None:
        found = await relay.list_permissions(status="pending", session_id=runner.session_id)
        return found[0] if found else None

    return await until(pending, timeout, "a pending permission request", runner)


async def wait_status(
    relay: RelayClient, runner: RunnerProcess, status: str, timeout: float = 60
) -> dict[str, Any]:
    async def reached() -> dict[str, Any] | None:
        session = await relay.get_session(runner.session_id)
        return session if session["status"] == status else None

    return await until(reached, timeout, f"session status {status!r}", runner)


def tool_results(body: dict[str, Any]) -> list[dict[str, Any]]:
    """Every tool_result block in a recorded model request."""
    out = []
    for message in body.get("messages", []):
        content = message.get("content")
        if isinstance(content, list):
            out.extend(b for b in content if isinstance(b, dict) and b.get("type") == "tool_result")
    return out


def tool_result_text(block: dict[str, Any]) -> str:
    content = block.get("content")
    if isinstance(content, list):
        return "\n".join(b.get("text", "") for b in content if isinstance(b, dict))
    return str(content)


def user_texts(body: dict[str, Any]) -> list[str]:
    texts = []
    for message in body.get("messages", []):
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            texts.extend(
                b.get("text", "")
                for b in content
                if isinstance(b, dict) and b.get("type") == "text"
            )
    return texts


def record_fixture(name: str, body: dict[str, Any]) -> None:
    """Keep a real request of the pinned claude as a gateway fixture (when recording)."""
    if RECORD:
        (FIXTURES / f"claude_code_runner_{name}.json").write_text(
            json.dumps(body, indent=1, ensure_ascii=False) + "\n"
        )
