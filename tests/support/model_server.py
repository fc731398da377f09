"""A scripted Anthropic Messages API for tests: the real `claude` binary talks to it.

Point `ANTHROPIC_BASE_URL` at `ModelServer.url`. Each request of the agent's main loop
(one that offers tools) takes the next step of the script and gets it back streamed as
Server-Sent Events, the way Anthropic streams; side requests Claude Code makes on its own
(titles, summaries: no tools offered) get a short canned text and do not consume the
script. Every request is recorded, so a test can check what the model was shown (a
tool_result carrying a denial, say) and keep real requests as fixtures.

Steps:
    text("Hello")                                   a plain answer (end_turn)
    tool_use("Write", {"file_path": ..., "content": ...})   a tool call (stop_reason tool_use)
    hold("Working")                                 starts answering, then streams nothing
                                                    more until `release()` or the client
                                                    goes away (for interrupts mid-turn)
When the script runs out, the server answers "(script exhausted)".
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.support.threaded import ThreadedServer

_ids = itertools.count(1)


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value}


def tool_use(
    name: str, input: dict[str, Any], *, id: str | None = None, text_before: str | None = None
) -> dict[str, Any]:
    return {
        "type": "tool_use",
        "name": name,
        "input": input,
        "id": id or f"toolu_test{next(_ids):04d}",
        "text_before": text_before,
    }


def hold(value: str = "Working on it") -> dict[str, Any]:
    return {"type": "hold", "text": value}


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: Any
    main: bool  # a request of the agent loop (it offered tools) rather than a side request


@dataclass
class ModelServer:
    """The server in a background thread; `start()`/`stop()` or use it as a context manager."""

    script: list[dict[str, Any]] = field(default_factory=list)
    port: int = 0  # the one it got, once started
    requests: list[Recorded] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _release: threading.Event = field(default_factory=threading.Event)
    _holding: threading.Event = field(default_factory=threading.Event)
    _server: ThreadedServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # ── control from the test ──────────────────────────────────────────────────────

    def add(self, *steps: dict[str, Any]) -> None:
        with self._lock:
            self.script.extend(steps)

    def release(self) -> None:
        """Let a held answer finish."""
        self._release.set()

    def wait_holding(self, timeout: float = 60) -> bool:
        """Block until a held answer is being streamed (the agent is mid-turn)."""
        return self._holding.wait(timeout)

    def main_requests(self) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.main]

    def wait_main_requests(self, count: int, timeout: float = 60) -> list[Recorded]:
        return wait_for(
            lambda: len(self.main_requests()) >= count and self.main_requests(),
            timeout,
            f"{count} main model requests",
        )

    # ── lifecycle ──────────────────────────────────────────────────────────────────

    def start(self) -> ModelServer:
        app = Starlette(
            routes=[
                Route("/v1/messages", self._messages, methods=["POST"]),
                Route("/v1/messages/count_tokens", self._count_tokens, methods=["POST"]),
                Route("/{path:path}", self._other, methods=["GET", "POST", "HEAD"]),
            ]
        )
        config = uvicorn.Config(app, log_level="warning", lifespan="off")
        self._server = ThreadedServer(uvicorn.Server(config), self.port)
        self.port = self._server.port
        self._server.start()
        return self

    def stop(self) -> None:
        self._release.set()
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> ModelServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ── handlers ───────────────────────────────────────────────────────────────────

    def _record(self, request: Request, body: Any, main: bool) -> None:
        headers = {
            k: v
            for k, v in request.headers.items()
            if k.lower() not in ("x-api-key", "authorization")
        }
        with self._lock:
            self.requests.append(Recorded(request.url.path, headers, body, main))

    async def _messages(self, request: Request) -> Response:
        body = json.loads(await request.body())
        main = bool(body.get("tools"))
        self._record(request, body, main)
        if main:
            with self._lock:
                step = self.script.pop(0) if self.script else text("(script exhausted)")
        elif (body.get("output_config") or {}).get("format"):
            step = text(json.dumps({"title": "Test session"}))  # the session-title request
        else:
            step = text("Test side answer")
        model = body.get("model", "claude-test")
        if not body.get("stream"):
            return JSONResponse(_whole_message(step, model))
        return StreamingResponse(self._stream(step, model), media_type="text/event-stream")

    async def _count_tokens(self, request: Request) -> Response:
        body = json.loads(await request.body())
        self._record(request, body, False)
        return JSONResponse({"input_tokens": 10})

    async def _other(self, request: Request) -> Response:
        self._record(request, None, False)
        return JSONResponse(
            {"type": "error", "error": {"type": "not_found_error", "message": "not scripted"}}, 404
        )

    async def _stream(self, step: dict[str, Any], model: str) -> AsyncIterator[bytes]:
        message = _whole_message(step, model)
        start = {
            **message,
            "content": [],
            "stop_reason": None,
            "usage": {**message["usage"], "output_tokens": 1},
        }
        yield _sse("message_start", {"type": "message_start", "message": start})
        for index, block in enumerate(message["content"]):
            opened = copy.deepcopy(block)
            if block["type"] == "text":
                opened["text"] = ""
            elif block["type"] == "tool_use":
                opened["input"] = {}
            yield _sse(
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": opened},
            )
            if block["type"] == "text":
                delta = {"type": "text_delta", "text": block["text"]}
            else:
                delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
            yield _sse(
                "content_block_delta",
                {"type": "content_block_delta", "index": index, "delta": delta},
            )
            if step["type"] == "hold":
                self._holding.set()
                # Stream nothing more until the test (another thread) releases it.
                await asyncio.to_thread(self._release.wait)
                self._release.clear()
                self._holding.clear()
            yield _sse("content_block_stop", {"type": "content_block_stop", "index": index})
        yield _sse(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
                "usage": {"output_tokens": message["usage"]["output_tokens"]},
            },
        )
        yield _sse("message_stop", {"type": "message_stop"})


def _whole_message(step: dict[str, Any], model: str) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    stop_reason = "end_turn"
    if step["type"] in ("text", "hold"):
        content.append({"type": "text", "text": step["text"]})
    elif step["type"] == "tool_use":
        if step.get("text_before"):
            content.append({"type": "text", "text": step["text_before"]})
        content.append(
            {"type": "tool_use", "id": step["id"], "name": step["name"], "input": step["input"]}
        )
        stop_reason = "tool_use"
    else:
        raise ValueError(f"unknown step type {step['type']!r}")
    return {
        "id": f"msg_test{next(_ids):04d}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {
            "input_tokens": 12,
            "output_tokens": 7,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        },
    }


def _sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll until `predicate()` is truthy and return its value; fail naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.05)
