"""Anthropic SSE events (the hub) → OpenAI Responses stream events, for Responses clients.

Each Anthropic content block becomes one output item, in order: text → a `message` item
(content_part + output_text events), thinking → a `reasoning` item (summary events when
the client asked for summaries), tool_use → a `function_call` item (arguments streamed
live) or, for a tool the client offered as freeform, a `custom_tool_call` item (its text
is only known once the block's JSON is whole, so it comes as one delta). Every event
carries `sequence_number`; the stream ends in `response.completed` (or `.incomplete`),
or in `error` + `response.failed`.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import orjson

from tether.gateway.translate.anthropic_response_to_responses import (
    function_call_item,
    message_item,
    reasoning_item,
    response_object,
    response_status,
    responses_usage,
)
from tether.gateway.translate.hub_stream import read_message_delta
from tether.gateway.translate.responses_request_to_anthropic import ResponsesContext

__all__ = ["ResponsesStreamTranslator", "error_code"]

Event = tuple[str, dict]


def error_code(status: int, message: str = "") -> str:
    """The `code` Codex acts on: it retries rate limits, compacts on context overflow."""
    lowered = message.lower()
    if status == 429:
        return "rate_limit_exceeded"
    if "prompt is too long" in lowered or ("context" in lowered and "length" in lowered):
        return "context_length_exceeded"
    if status in (400, 404, 413, 422):
        return "invalid_request_error"
    if status in (401, 403):
        return "invalid_api_key" if status == 401 else "permission_denied"
    return "server_error"


_ANTHROPIC_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "overloaded_error": 503,
    "timeout_error": 504,
}


class _Item:
    __slots__ = ("args", "call_id", "id", "index", "kind", "name", "signature", "text")

    def __init__(self, kind: str, item_id: str, index: int) -> None:
        self.kind = kind  # "text" | "thinking" | "redacted" | "tool"
        self.id = item_id
        self.index = index
        self.text: list[str] = []
        self.args: list[str] = []
        self.signature = ""
        self.call_id = ""
        self.name = ""


class ResponsesStreamTranslator:
    """Feed `(event, data)` pairs of an Anthropic stream; get Responses `(event, data)`
    pairs back. `finish()` ends a stream that stopped without `message_stop`; `fail()`
    ends it with an error."""

    def __init__(self, ctx: ResponsesContext, response_id: str | None = None) -> None:
        self.ctx = ctx
        self._fixed_id = response_id is not None
        self.response_id = response_id or f"resp_{uuid.uuid4().hex[:24]}"
        self._base = self.response_id.removeprefix("resp_")
        self._created = int(time.time())
        self._seq = 0
        self._started = False
        self._done = False
        self._blocks: dict[int, _Item] = {}  # Anthropic block index → open item
        self._output: list[dict] = []
        self._usage: dict[str, Any] = {}
        self._stop: str | None = None
        self._thought = 0

    @property
    def done(self) -> bool:
        return self._done

    # -- public --------------------------------------------------------------------

    def feed(self, event: str | None, data: dict) -> list[Event]:
        out: list[Event] = []
        if self._done:
            return out
        kind = data.get("type") or event
        if kind == "error":
            error = data.get("error") if isinstance(data.get("error"), dict) else {}
            status = _ANTHROPIC_STATUS.get(error.get("type") or "", 500)
            return self.fail(status, error.get("message") or "the upstream reported an error")
        if not self._started:
            self._start(out, data.get("message") if kind == "message_start" else None)
        if kind == "content_block_start":
            self._open(data.get("index", 0), data.get("content_block") or {}, out)
        elif kind == "content_block_delta":
            self._delta(data.get("index", 0), data.get("delta") or {}, out)
        elif kind == "content_block_stop":
            self._close(data.get("index", 0), out)
        elif kind == "message_delta":
            stop = read_message_delta(data, self._usage)
            if stop:
                self._stop = stop
        elif kind == "message_stop":
            out.extend(self.finish())
        return out

    def finish(self) -> list[Event]:
        out: list[Event] = []
        if self._done:
            return out
        if not self._started:
            self._start(out, None)
        for index in sorted(self._blocks):
            self._close(index, out)
        status, incomplete = response_status(self._stop)
        self._done = True
        self._emit(
            out,
            "response.completed" if status == "completed" else "response.incomplete",
            response=self._response(status, incomplete=incomplete),
        )
        return out

    def fail(self, status: int, message: str) -> list[Event]:
        """End the stream: an `error` event, then `response.failed` (what Codex reads)."""
        out: list[Event] = []
        if self._done:
            return out
        if not self._started:
            self._start(out, None)
        self._done = True
        code = error_code(status, message)
        self._emit(out, "error", code=code, message=message, param=None)
        self._emit(
            out,
            "response.failed",
            response=self._response("failed", error={"code": code, "message": message}),
        )
        return out

    # -- internals ------------------------------------------------------------------

    def _emit(self, out: list[Event], kind: str, **fields: Any) -> None:
        out.append((kind, {"type": kind, "sequence_number": self._seq, **fields}))
        self._seq += 1

    def _item_event(self, out: list[Event], item: _Item, kind: str, **fields: Any) -> None:
        """An event about one output item: it names the item and its place."""
        self._emit(out, kind, item_id=item.id, output_index=item.index, **fields)

    def _response(
        self, status: str, *, incomplete: dict | None = None, error: dict | None = None
    ) -> dict:
        usage = None if status == "in_progress" else responses_usage(self._usage, self._thought)
        return response_object(
            self.ctx,
            self.response_id,
            self._created,
            status=status,
            output=list(self._output) if status != "in_progress" else [],
            usage=usage,
            incomplete=incomplete,
            error=error,
        )

    def _start(self, out: list[Event], message: dict | None) -> None:
        self._started = True
        if isinstance(message, dict):
            self._usage.update(message.get("usage") or {})
            if message.get("id") and not self._fixed_id:
                self._base = str(message["id"]).removeprefix("msg_")
                self.response_id = f"resp_{self._base}"
        snapshot = self._response("in_progress")
        self._emit(out, "response.created", response=snapshot)
        self._emit(out, "response.in_progress", response=snapshot)

    def _open(self, index: int, block: dict, out: list[Event]) -> None:
        if index in self._blocks:
            return
        kind = block.get("type")
        position = n = len(self._output) + len(self._blocks)
        if kind == "text":
            item = _Item("text", f"msg_{self._base}_{n}", position)
            if block.get("text"):
                item.text.append(block["text"])
            self._blocks[index] = item
            self._emit(
                out,
                "response.output_item.added",
                output_index=position,
                item=message_item(item.id, "", "in_progress"),
            )
            self._emit(
                out,
                "response.content_part.added",
                item_id=item.id,
                output_index=position,
                content_index=0,
                part={"type": "output_text", "text": "", "annotations": [], "logprobs": []},
            )
            if item.text:
                self._text_delta(item, item.text[0], out)
        elif kind in ("thinking", "redacted_thinking"):
            item = _Item(
                "thinking" if kind == "thinking" else "redacted", f"rs_{self._base}_{n}", position
            )
            if kind == "redacted_thinking":
                item.signature = block.get("data") or ""
            self._blocks[index] = item
            self._emit(
                out,
                "response.output_item.added",
                output_index=position,
                item={"type": "reasoning", "id": item.id, "summary": []},
            )
        elif kind == "tool_use":
            item = _Item("tool", f"fc_{self._base}_{n}", position)
            item.call_id = block.get("id") or f"call_{self._base}_{n}"
            item.name = block.get("name") or "tool"
            if block.get("input"):
                item.args.append(orjson.dumps(block["input"]).decode())
            self._blocks[index] = item
            self._emit(
                out,
                "response.output_item.added",
                output_index=position,
                item=function_call_item(
                    self.ctx, item.id, item.call_id, item.name, "", "in_progress"
                ),
            )
        # server_tool_use, web_search_tool_result, ...: no Responses item for them.

    def _text_delta(self, item: _Item, text: str, out: list[Event]) -> None:
        self._item_event(
            out, item, "response.output_text.delta", content_index=0, delta=text, logprobs=[]
        )

    def _delta(self, index: int, delta: dict, out: list[Event]) -> None:
        item = self._blocks.get(index)
        if item is None:
            return
        kind = delta.get("type")
        if kind == "text_delta" and item.kind == "text" and delta.get("text"):
            item.text.append(delta["text"])
            self._text_delta(item, delta["text"], out)
        elif kind == "thinking_delta" and item.kind == "thinking" and delta.get("thinking"):
            if self.ctx.summaries:
                if not item.text:
                    self._item_event(
                        out,
                        item,
                        "response.reasoning_summary_part.added",
                        summary_index=0,
                        part={"type": "summary_text", "text": ""},
                    )
                self._item_event(
                    out,
                    item,
                    "response.reasoning_summary_text.delta",
                    summary_index=0,
                    delta=delta["thinking"],
                )
            item.text.append(delta["thinking"])
        elif kind == "signature_delta" and item.kind == "thinking":
            item.signature += delta.get("signature") or ""
        elif kind == "input_json_delta" and item.kind == "tool" and delta.get("partial_json"):
            item.args.append(delta["partial_json"])
            if item.name not in self.ctx.custom_tools:
                self._item_event(
                    out, item, "response.function_call_arguments.delta", delta=delta["partial_json"]
                )

    def _close(self, index: int, out: list[Event]) -> None:
        item = self._blocks.pop(index, None)
        if item is None:
            return
        text = "".join(item.text)
        if item.kind == "text":
            self._item_event(
                out, item, "response.output_text.done", content_index=0, text=text, logprobs=[]
            )
            done = message_item(item.id, text)
            self._item_event(
                out, item, "response.content_part.done", content_index=0, part=done["content"][0]
            )
        elif item.kind in ("thinking", "redacted"):
            self._thought += len(text)
            if self.ctx.summaries and text:
                self._item_event(
                    out, item, "response.reasoning_summary_text.done", summary_index=0, text=text
                )
                self._item_event(
                    out,
                    item,
                    "response.reasoning_summary_part.done",
                    summary_index=0,
                    part={"type": "summary_text", "text": text},
                )
            if item.kind == "redacted":
                done = reasoning_item(self.ctx, item.id, "", "", redacted=item.signature)
            else:
                done = reasoning_item(self.ctx, item.id, text, item.signature)
        else:
            arguments = "".join(item.args) or "{}"
            done = function_call_item(
                self.ctx, item.id, item.call_id, item.name, arguments, "completed"
            )
            if done["type"] == "custom_tool_call":
                if done["input"]:
                    self._item_event(
                        out, item, "response.custom_tool_call_input.delta", delta=done["input"]
                    )
                self._item_event(
                    out, item, "response.custom_tool_call_input.done", input=done["input"]
                )
            else:
                self._item_event(
                    out,
                    item,
                    "response.function_call_arguments.done",
                    name=item.name,
                    arguments=arguments,
                )
        self._output.append(done)
        self._emit(out, "response.output_item.done", output_index=item.index, item=done)
