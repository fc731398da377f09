"""Helpers for relay tests: an async SSE reader, tokens, the real CLI, small posts.

Everything here talks to a real tether server over real sockets; nothing is mocked.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from tests.support import forkserver
from tests.support.server import TetherServer
from tests.support.tokens import mint_token
from tether.relay import bus

TIMEOUT = 20.0


@dataclass
class SSEEvent:
    id: int | None
    event: str
    data: Any


class SSEStream:
    """An open `text/event-stream` response, read one event at a time."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._lines = response.aiter_lines()
        self.comments: list[str] = []
        self.retry: int | None = None

    async def opened(self) -> None:
        """Wait for the `: connected` comment: the relay has subscribed this stream, so
        nothing written from now on can be missed."""
        async for line in self._lines:
            if line.startswith("retry:"):
                self.retry = int(line[6:])
            elif line.startswith(":"):
                self.comments.append(line[1:].strip())
                if line[1:].strip() == "connected":
                    return
        raise EOFError("the event stream ended before it opened")

    async def next(self, timeout: float = TIMEOUT) -> SSEEvent:
        return await asyncio.wait_for(self._read_one(), timeout)

    async def _read_one(self) -> SSEEvent:
        event_id: int | None = None
        kind = "message"
        data: list[str] = []
        async for line in self._lines:
            if line == "":
                if data:
                    return SSEEvent(event_id, kind, orjson.loads("\n".join(data)))
                continue
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "":
                self.comments.append(value)
            elif field == "id":
                event_id = int(value)
            elif field == "event":
                kind = value
            elif field == "data":
                data.append(value)
            elif field == "retry":
                self.retry = int(value)
        raise EOFError("the event stream ended")

    async def until(
        self, predicate, timeout: float = TIMEOUT, skip_pings: bool = True
    ) -> list[SSEEvent]:
        """Events up to and including the first that matches, pings left out."""
        seen: list[SSEEvent] = []
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            event = await self.next(max(remaining, 0.01))
            if skip_pings and event.event == "ping":
                continue
            seen.append(event)
            if predicate(event):
                return seen

    async def take(self, count: int, timeout: float = TIMEOUT) -> list[SSEEvent]:
        """The next `count` events, pings left out."""
        out: list[SSEEvent] = []
        while len(out) < count:
            event = await self.next(timeout)
            if event.event != "ping":
                out.append(event)
        return out


class open_sse:
    """`async with open_sse(client, path, ...) as stream:` for a live event stream."""

    def __init__(self, client: httpx.AsyncClient, path: str, **kwargs: Any) -> None:
        self.client, self.path, self.kwargs = client, path, kwargs
        self._cm: Any = None

    async def __aenter__(self) -> SSEStream:
        self._cm = self.client.stream("GET", self.path, **self.kwargs)
        response = await self._cm.__aenter__()
        if response.status_code != 200:
            await response.aread()
            raise AssertionError(f"stream answered {response.status_code}: {response.text}")
        assert response.headers["content-type"].startswith("text/event-stream")
        stream = SSEStream(response)
        await asyncio.wait_for(stream.opened(), TIMEOUT)
        return stream

    async def __aexit__(self, *exc: Any) -> None:
        await self._cm.__aexit__(*exc)


def aclient(server: TetherServer, token: str | None = None) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=server.url,
        timeout=TIMEOUT,
        headers={"Authorization": f"Bearer {token or server.token}"},
    )


def cli_env(server: TetherServer) -> dict[str, str]:
    """The environment a local `tether` command would have next to this server, minus the
    admin token given from outside: commands must find what they need themselves."""
    env = server.env()
    env.pop("TETHER_TOKEN", None)
    return env


def run_tether(server: TetherServer, *args: str) -> subprocess.CompletedProcess[str]:
    return forkserver.run(args, cli_env(server), timeout=60)


def make_token(server: TetherServer, scope: str, name: str | None = None) -> str:
    """A new token in the server's store, minted as `tether token create` mints it."""
    token = mint_token(server, scope, name)
    assert token.startswith("tth_"), token
    return token


def message(
    text: str, id: str | None = None, role: str = "agent", kind: str = "assistant_text"
) -> dict[str, Any]:
    body: dict[str, Any] = {"role": role, "kind": kind, "content": {"text": text}}
    if id is not None:
        body["id"] = id
    return body


async def post_past_the_backlog_limit(
    http: httpx.AsyncClient, server: TetherServer, session_id: str, monkeypatch: Any
) -> int:
    """Post, while a follower does not read, more events than the relay lets it have
    waiting beyond what the kernel's socket buffers (a few MB) take: over `bus.QUEUE_LIMIT`.
    A server in this process gets a lower limit, so 2,500 messages do instead of 14,000.
    Returns how many were posted (their ids are n0, n1, ...)."""
    if server.process:
        total, pad = 14_000, "x" * 1500
    else:
        monkeypatch.setattr(bus, "QUEUE_LIMIT", 1000)
        total, pad = 2_500, "x" * 6000
    for start in range(0, total, 500):
        batch = [message(f"{i} {pad}", id=f"n{i}") for i in range(start, start + 500)]
        posted = await http.post(f"/api/v1/sessions/{session_id}/messages", json=batch)
        assert posted.status_code == 201, posted.text
    return total


def permission(tool: str = "Bash", command: str = "ls", **extra: Any) -> dict[str, Any]:
    return {
        "tool_name": tool,
        "tool_use_id": f"toolu_{os.urandom(4).hex()}",
        "input": {"command": command},
        "title": f"Run {command}",
        "description": "list files",
        "suggestions": [],
        **extra,
    }


async def new_session(http: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    response = await http.post("/api/v1/sessions", json={"title": "t", **fields})
    assert response.status_code == 201, response.text
    return response.json()


def assert_error(response: httpx.Response, status: int, type: str | None = None) -> dict:
    """The relay's error shape: `{"error": {"type", "message"}}` with the given status."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert isinstance(error["type"], str) and error["type"]
    assert isinstance(error["message"], str) and error["message"]
    if type is not None:
        assert error["type"] == type, error
    return error
