"""Scripted model upstreams for gateway tests: a real HTTP server (uvicorn, in a thread, on
a free port) that records every request and answers from a script.

`ScriptedUpstream.push(reply, ...)` queues replies; each request takes the next one (or
the `default`). Replies are `Json` (a status and body) or `Sse` (raw frames, optionally
slow, optionally breaking the connection part-way). Helpers build OpenAI chunks and
Anthropic events the way real servers send them.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from tests.support.threaded import ThreadedServer


@dataclass
class Json:
    body: Any
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    # Seconds to wait before answering at all.
    delay: float = 0.0


@dataclass
class Sse:
    frames: list[bytes]
    # Seconds to wait before each frame after the first.
    delay: float = 0.0
    # Break the connection (no clean end) after this many frames.
    break_after: int | None = None
    status: int = 200


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    raw: bytes
    query: str = ""

    @property
    def json(self) -> Any:
        return orjson.loads(self.raw)


class _Broken(Exception):
    """Raised inside a streaming body to cut the connection mid-response."""


class ScriptedUpstream:
    def __init__(self, default: Json | Sse | Callable[[Received], Json | Sse] | None = None):
        self.default = default
        self.replies: list[Json | Sse | Callable[[Received], Json | Sse]] = []
        self.received: list[Received] = []
        # Per request index: "done" when a stream finished, "stopped" when the reader left.
        self.stream_outcomes: dict[int, str] = {}
        self._lock = threading.Lock()
        app = Starlette(routes=[Route("/{path:path}", self._handle, methods=["GET", "POST"])])
        self._server = ThreadedServer(
            uvicorn.Server(uvicorn.Config(app, log_level="critical", lifespan="off"))
        )
        self.port = self._server.port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ScriptedUpstream:
        self._server.start(10)
        return self

    def stop(self) -> None:
        self._server.stop()

    def reset(self) -> None:
        with self._lock:
            self.replies.clear()
            self.received.clear()
            self.stream_outcomes.clear()

    def push(self, *replies: Json | Sse | Callable[[Received], Json | Sse]) -> None:
        with self._lock:
            self.replies.extend(replies)

    def wait_outcome(self, index: int, timeout: float = 15.0) -> str | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if index in self.stream_outcomes:
                return self.stream_outcomes[index]
            time.sleep(0.02)
        return None

    async def _handle(self, request: Request) -> Response:
        received = Received(
            path=request.url.path,
            headers=dict(request.headers),
            raw=await request.body(),
            query=request.url.query,
        )
        with self._lock:
            index = len(self.received)
            self.received.append(received)
            reply = self.replies.pop(0) if self.replies else self.default
        if reply is None:
            return Response(b'{"error": "no scripted reply"}', status_code=500)
        if callable(reply):
            reply = reply(received)
        if isinstance(reply, Json):
            if reply.delay:
                await asyncio.sleep(reply.delay)
            return Response(
                orjson.dumps(reply.body),
                status_code=reply.status,
                media_type="application/json",
                headers=reply.headers,
            )
        return StreamingResponse(
            self._frames(reply, index), status_code=reply.status, media_type="text/event-stream"
        )

    async def _frames(self, reply: Sse, index: int):
        try:
            for i, frame in enumerate(reply.frames):
                if reply.break_after is not None and i == reply.break_after:
                    raise _Broken("scripted break")
                if i and reply.delay:
                    await asyncio.sleep(reply.delay)
                yield frame
            self.stream_outcomes[index] = "done"
        except _Broken:
            self.stream_outcomes[index] = "broken"
            raise
        except (asyncio.CancelledError, GeneratorExit, OSError):
            self.stream_outcomes[index] = "stopped"
            raise
        finally:
            self.stream_outcomes.setdefault(index, "stopped")


# --- OpenAI Chat Completions shapes ----------------------------------------------------


def oa_chunk(
    delta: dict[str, Any] | None = None,
    finish: str | None = None,
    usage: dict[str, Any] | None = None,
    model: str = "gpt-test",
) -> bytes:
    chunk: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": model,
        "choices": []
        if delta is None and finish is None
        else [{"index": 0, "delta": delta or {}, "finish_reason": finish}],
    }
    if usage is not None:
        chunk["usage"] = usage
    return b"data: " + orjson.dumps(chunk) + b"\n\n"


OA_DONE = b"data: [DONE]\n\n"
OA_USAGE = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}


def oa_text_stream(*parts: str, reasoning: tuple[str, ...] = ()) -> list[bytes]:
    frames = [oa_chunk({"role": "assistant", "content": ""})]
    frames += [oa_chunk({"reasoning_content": r}) for r in reasoning]
    frames += [oa_chunk({"content": p}) for p in parts]
    frames += [oa_chunk(finish="stop"), oa_chunk(usage=OA_USAGE), OA_DONE]
    return frames


def oa_tool_stream(calls: list[tuple[str, str, str]], split: int = 5) -> list[bytes]:
    """Parallel tool calls (id, name, arguments JSON) with arguments split into pieces of
    `split` characters, interleaved between the calls the way some servers send them."""
    frames = [oa_chunk({"role": "assistant", "content": None})]
    for i, (call_id, name, _) in enumerate(calls):
        frames.append(
            oa_chunk(
                {
                    "tool_calls": [
                        {
                            "index": i,
                            "id": call_id,
                            "type": "function",
                            "function": {"name": name, "arguments": ""},
                        }
                    ]
                }
            )
        )
    pieces = [[args[j : j + split] for j in range(0, len(args), split)] for _, _, args in calls]
    for step in range(max(len(p) for p in pieces)):
        for i, p in enumerate(pieces):
            if step < len(p):
                frames.append(
                    oa_chunk({"tool_calls": [{"index": i, "function": {"arguments": p[step]}}]})
                )
    frames += [oa_chunk(finish="tool_calls"), oa_chunk(usage=OA_USAGE), OA_DONE]
    return frames


def oa_completion(
    content: str | None = None,
    *,
    reasoning: str | None = None,
    tool_calls: list[tuple[str, str, str]] | None = None,
    finish: str = "stop",
) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if reasoning:
        message["reasoning_content"] = reasoning
    if tool_calls:
        message["tool_calls"] = [
            {"id": i, "type": "function", "function": {"name": n, "arguments": a}}
            for i, n, a in tool_calls
        ]
        finish = "tool_calls"
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-test",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": OA_USAGE,
    }


def oa_error(
    status: int,
    message: str,
    kind: str = "invalid_request_error",
    headers: dict[str, str] | None = None,
) -> Json:
    return Json({"error": {"message": message, "type": kind, "code": None}}, status, headers or {})


# --- Anthropic Messages shapes ---------------------------------------------------------


def an_event(event: str, data: dict[str, Any]) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


AN_USAGE = {
    "input_tokens": 12,
    "output_tokens": 5,
    "cache_read_input_tokens": 0,
    "cache_creation_input_tokens": 0,
}


def an_message(text: str, model: str = "claude-real") -> dict[str, Any]:
    return {
        "id": "msg_up1",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": AN_USAGE,
    }


def an_stream_start(model: str) -> bytes:
    """The `message_start` event every scripted Anthropic stream opens with."""
    start = {
        **an_message("", model),
        "content": [],
        "stop_reason": None,
        "usage": {**AN_USAGE, "output_tokens": 1},
    }
    return an_event("message_start", {"type": "message_start", "message": start})


def an_text_stream(*parts: str, model: str = "claude-real") -> list[bytes]:
    frames = [
        an_stream_start(model),
        an_event(
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        ),
        an_event("ping", {"type": "ping"}),
    ]
    frames += [
        an_event(
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}},
        )
        for p in parts
    ]
    frames += [
        an_event("content_block_stop", {"type": "content_block_stop", "index": 0}),
        an_event(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": 5},
            },
        ),
        an_event("message_stop", {"type": "message_stop"}),
    ]
    return frames


def an_error(status: int, kind: str, message: str) -> Json:
    return Json({"type": "error", "error": {"type": kind, "message": message}}, status)


def an_tool_stream(
    tool_id: str, name: str, input_json: str, split: int = 16, model: str = "claude-real"
) -> list[bytes]:
    """A tool_use turn as Anthropic streams it: input_json_delta pieces of `split` chars."""
    frames = [
        an_stream_start(model),
        an_event(
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "tool_use", "id": tool_id, "name": name, "input": {}},
            },
        ),
    ]
    frames += [
        an_event(
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "input_json_delta", "partial_json": input_json[i : i + split]},
            },
        )
        for i in range(0, len(input_json), split)
    ]
    frames += [
        an_event("content_block_stop", {"type": "content_block_stop", "index": 0}),
        an_event(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                "usage": {"output_tokens": 9},
            },
        ),
        an_event("message_stop", {"type": "message_stop"}),
    ]
    return frames


# --- OpenAI Responses shapes -----------------------------------------------------------

RS_USAGE = {
    "input_tokens": 20,
    "input_tokens_details": {"cached_tokens": 4},
    "output_tokens": 6,
    "output_tokens_details": {"reasoning_tokens": 2},
    "total_tokens": 26,
}


def rs_response(output: list[dict[str, Any]], status: str = "completed") -> dict[str, Any]:
    return {
        "id": "resp_up1",
        "object": "response",
        "created_at": 1,
        "status": status,
        "model": "gpt-real",
        "output": output,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": RS_USAGE if status != "in_progress" else None,
        "incomplete_details": {"reason": "max_output_tokens"} if status == "incomplete" else None,
    }


def rs_text_item(text: str, item_id: str = "msg_up1") -> dict[str, Any]:
    return {
        "type": "message",
        "id": item_id,
        "role": "assistant",
        "status": "completed",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    }


def rs_call_item(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    return {
        "type": "function_call",
        "id": f"fc_{call_id}",
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
        "status": "completed",
    }


def rs_stream(
    *parts: str,
    reasoning: str = "",
    calls: tuple[tuple[str, str, str], ...] = (),
    split: int = 6,
    status: str = "completed",
) -> list[bytes]:
    """A Responses stream the way OpenAI sends it: an optional reasoning item (summary
    deltas, encrypted content), a message whose text comes in `parts`, then function
    calls (id, name, arguments) with arguments in pieces of `split` characters."""
    seq = iter(range(10_000))
    frames: list[bytes] = []

    def ev(kind: str, **data: Any) -> None:
        frames.append(an_event(kind, {"type": kind, "sequence_number": next(seq), **data}))

    output: list[dict[str, Any]] = []
    ev("response.created", response=rs_response([], "in_progress"))
    ev("response.in_progress", response=rs_response([], "in_progress"))
    if reasoning:
        rs = {"type": "reasoning", "id": "rs_up1", "summary": []}
        ev("response.output_item.added", output_index=len(output), item=rs)
        ev(
            "response.reasoning_summary_part.added",
            item_id="rs_up1",
            output_index=len(output),
            summary_index=0,
            part={"type": "summary_text", "text": ""},
        )
        for i in range(0, len(reasoning), split):
            ev(
                "response.reasoning_summary_text.delta",
                item_id="rs_up1",
                output_index=len(output),
                summary_index=0,
                delta=reasoning[i : i + split],
            )
        rs = {
            **rs,
            "summary": [{"type": "summary_text", "text": reasoning}],
            "encrypted_content": "gAAAA-opaque",
        }
        ev("response.output_item.done", output_index=len(output), item=rs)
        output.append(rs)
    if parts:
        text = "".join(parts)
        index = len(output)
        item = {**rs_text_item(""), "status": "in_progress", "content": []}
        ev("response.output_item.added", output_index=index, item=item)
        part = {"type": "output_text", "text": "", "annotations": []}
        ev(
            "response.content_part.added",
            item_id="msg_up1",
            output_index=index,
            content_index=0,
            part=part,
        )
        for p in parts:
            ev(
                "response.output_text.delta",
                item_id="msg_up1",
                output_index=index,
                content_index=0,
                delta=p,
            )
        ev(
            "response.output_text.done",
            item_id="msg_up1",
            output_index=index,
            content_index=0,
            text=text,
        )
        ev(
            "response.content_part.done",
            item_id="msg_up1",
            output_index=index,
            content_index=0,
            part={**part, "text": text},
        )
        ev("response.output_item.done", output_index=index, item=rs_text_item(text))
        output.append(rs_text_item(text))
    for call_id, name, args in calls:
        index = len(output)
        item = rs_call_item(call_id, name, "")
        ev("response.output_item.added", output_index=index, item={**item, "status": "in_progress"})
        for i in range(0, len(args), split):
            ev(
                "response.function_call_arguments.delta",
                item_id=item["id"],
                output_index=index,
                delta=args[i : i + split],
            )
        ev(
            "response.function_call_arguments.done",
            item_id=item["id"],
            output_index=index,
            arguments=args,
        )
        done = rs_call_item(call_id, name, args)
        ev("response.output_item.done", output_index=index, item=done)
        output.append(done)
    final = "response.completed" if status == "completed" else f"response.{status}"
    ev(final, response=rs_response(output, status))
    return frames


def an_with_thinking(frames: list[bytes], thought: str, signature: str) -> list[bytes]:
    """An Anthropic stream (from an_text_stream / an_tool_stream) that thinks first: a
    thinking block with its signature becomes block 0, the others move up by one."""
    thinking = [
        an_event(
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "thinking", "thinking": "", "signature": ""},
            },
        ),
        an_event(
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "thinking_delta", "thinking": thought},
            },
        ),
        an_event(
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "signature_delta", "signature": signature},
            },
        ),
        an_event("content_block_stop", {"type": "content_block_stop", "index": 0}),
    ]
    shifted = [f.replace(b'"index":0', b'"index":1') for f in frames[1:]]
    return [frames[0], *thinking, *shifted]
