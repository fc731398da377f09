"""OpenAI Responses answers → Anthropic messages and stream events (the hub), for a
provider of `type: openai-responses`.

`responses_to_anthropic_message` turns a whole Response object into a message;
`ResponsesToAnthropicStream` turns Responses stream events into Anthropic SSE events,
opening one content block per output item, strictly in order.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson

from tether.gateway.translate.anthropic_request_to_openai import ToolNames
from tether.gateway.translate.anthropic_request_to_responses import pack_responses_reasoning
from tether.gateway.translate.errors import UpstreamResponseError, upstream_error_message
from tether.gateway.translate.hub_stream import Event, HubStream, message_end, message_start

__all__ = ["ResponsesToAnthropicStream", "responses_to_anthropic_message"]


def _usage(usage: Any) -> dict[str, int]:
    usage = usage if isinstance(usage, dict) else {}
    details = usage.get("input_tokens_details") or {}
    cached = details.get("cached_tokens") or 0
    return {
        "input_tokens": max((usage.get("input_tokens") or 0) - cached, 0),
        "output_tokens": usage.get("output_tokens") or 0,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": cached,
    }


def _stop_reason(response: dict, has_tools: bool) -> str:
    details = response.get("incomplete_details") or {}
    if response.get("status") == "incomplete":
        return "refusal" if details.get("reason") == "content_filter" else "max_tokens"
    return "tool_use" if has_tools else "end_turn"


def _arguments(raw: Any) -> dict:
    if isinstance(raw, dict):
        return raw
    try:
        value = orjson.loads(raw or "{}")
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {"value": value}


def _summary(item: dict) -> str:
    parts = [
        p.get("text") or ""
        for p in (item.get("summary") or []) + (item.get("content") or [])
        if isinstance(p, dict)
    ]
    return "\n\n".join(p for p in parts if p)


def _reasoning_block(item: dict) -> dict | None:
    text = _summary(item)
    encrypted = item.get("encrypted_content")
    if not text and not encrypted:
        return None
    return {
        "type": "thinking",
        "thinking": text,
        "signature": pack_responses_reasoning(item.get("id") or "", encrypted or ""),
    }


def _failure(response: dict) -> UpstreamResponseError:
    error = response.get("error") or {}
    return UpstreamResponseError(upstream_error_message({"error": error}) if error else "failed")


def responses_to_anthropic_message(response: dict, *, model: str, tool_names: ToolNames) -> dict:
    """A whole Response object as an Anthropic message; raises UpstreamResponseError when
    the response failed."""
    if response.get("status") == "failed" or response.get("error"):
        raise _failure(response)
    if "output" not in response:
        raise UpstreamResponseError(upstream_error_message(response))
    blocks: list[dict] = []
    for item in response.get("output") or ():
        kind = item.get("type")
        if kind == "message":
            for part in item.get("content") or ():
                text = part.get("text") or part.get("refusal") or ""
                if text:
                    blocks.append({"type": "text", "text": text})
        elif kind == "reasoning":
            block = _reasoning_block(item)
            if block:
                blocks.append(block)
        elif kind in ("function_call", "custom_tool_call"):
            tool_input = (
                {"input": item.get("input") or ""}
                if kind == "custom_tool_call"
                else _arguments(item.get("arguments"))
            )
            blocks.append(
                {
                    "type": "tool_use",
                    "id": item.get("call_id") or item.get("id") or "call",
                    "name": tool_names.client(item.get("name") or ""),
                    "input": tool_input,
                }
            )
    has_tools = any(b["type"] == "tool_use" for b in blocks)
    return {
        "id": "msg_" + str(response.get("id") or uuid.uuid4().hex).removeprefix("resp_"),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": blocks,
        "stop_reason": _stop_reason(response, has_tools),
        "stop_sequence": None,
        "usage": _usage(response.get("usage")),
    }


class ResponsesToAnthropicStream(HubStream):
    """Responses stream events in (`feed(data)` with the parsed `data:` JSON), Anthropic
    `(event, data)` pairs out."""

    def __init__(self, model: str, tool_names: ToolNames) -> None:
        self.model = model
        self.tool_names = tool_names
        self._started = False
        self._next = 0
        self._open: str | None = None  # "text" | "thinking" | "tool"
        self._items: dict[int, str] = {}  # output_index → kind of the block it opened
        self._args_seen: set[int] = set()
        self._has_tools = False

    def feed(self, data: dict) -> list[Event]:
        out: list[Event] = []
        if self._done:
            return out
        kind = data.get("type") or ""
        if kind == "error":
            return self.fail("api_error", upstream_error_message({"error": data}))
        if not self._started:
            self._start(out, data.get("response") or {})
        index = data.get("output_index", 0)
        item = data.get("item") if isinstance(data.get("item"), dict) else {}
        if kind == "response.output_item.added":
            if item.get("type") in ("function_call", "custom_tool_call"):
                self._close(out)
                self._has_tools = True
                self._items[index] = "tool"
                self._open_block(
                    out,
                    "tool",
                    {
                        "type": "tool_use",
                        "id": item.get("call_id") or item.get("id") or "call",
                        "name": self.tool_names.client(item.get("name") or ""),
                        "input": {},
                    },
                )
        elif kind == "response.output_text.delta" or kind == "response.refusal.delta":
            if data.get("delta"):
                self._ensure(out, "text", {"type": "text", "text": ""})
                out.append(self._delta({"type": "text_delta", "text": data["delta"]}))
        elif kind in ("response.reasoning_summary_text.delta", "response.reasoning_text.delta"):
            if data.get("delta"):
                self._ensure(out, "thinking", {"type": "thinking", "thinking": "", "signature": ""})
                out.append(self._delta({"type": "thinking_delta", "thinking": data["delta"]}))
        elif kind == "response.function_call_arguments.delta":
            if data.get("delta") and self._open == "tool":
                self._args_seen.add(index)
                out.append(self._delta({"type": "input_json_delta", "partial_json": data["delta"]}))
        elif kind == "response.output_item.done":
            self._item_done(out, index, item)
        elif kind in ("response.completed", "response.incomplete"):
            response = data.get("response") or {}
            self._close(out)
            reason = _stop_reason(response, self._has_tools)
            out.extend(message_end(reason, None, _usage(response.get("usage"))))
            self._done = True
        elif kind == "response.failed":
            return out + self.fail("api_error", str(_failure(data.get("response") or {})))
        return out

    def finish(self) -> list[Event]:
        """The upstream ended without `response.completed`: that is a failure."""
        if self._done:
            return []
        return self.fail("api_error", "the provider's response ended before it was complete")

    # internals

    def _start(self, out: list[Event], response: dict) -> None:
        self._started = True
        rid = str(response.get("id") or uuid.uuid4().hex).removeprefix("resp_")
        out.append(message_start(f"msg_{rid}", self.model, _usage(None)))

    def _open_block(self, out: list[Event], kind: str, block: dict) -> None:
        self._open = kind
        out.append(
            (
                "content_block_start",
                {"type": "content_block_start", "index": self._next, "content_block": block},
            )
        )
        self._next += 1

    def _ensure(self, out: list[Event], kind: str, block: dict) -> None:
        if self._open != kind:
            self._close(out)
            self._open_block(out, kind, block)

    def _delta(self, delta: dict) -> Event:
        return (
            "content_block_delta",
            {"type": "content_block_delta", "index": self._next - 1, "delta": delta},
        )

    def _close(self, out: list[Event]) -> None:
        if self._open is None:
            return
        out.append(("content_block_stop", {"type": "content_block_stop", "index": self._next - 1}))
        self._open = None

    def _item_done(self, out: list[Event], index: int, item: dict) -> None:
        kind = item.get("type")
        if kind == "reasoning":
            block = _reasoning_block(item)
            if block is None:
                return
            if self._open != "thinking" and block["thinking"]:
                self._ensure(out, "thinking", {"type": "thinking", "thinking": "", "signature": ""})
                out.append(self._delta({"type": "thinking_delta", "thinking": block["thinking"]}))
            self._ensure(out, "thinking", {"type": "thinking", "thinking": "", "signature": ""})
            out.append(self._delta({"type": "signature_delta", "signature": block["signature"]}))
            self._close(out)
        elif kind in ("function_call", "custom_tool_call") and self._open == "tool":
            if index not in self._args_seen:
                # Some servers send the arguments only whole, at the end.
                tool_input = (
                    orjson.dumps({"input": item.get("input") or ""}).decode()
                    if kind == "custom_tool_call"
                    else item.get("arguments") or "{}"
                )
                out.append(self._delta({"type": "input_json_delta", "partial_json": tool_input}))
            self._close(out)
        elif kind == "message":
            if self._open != "text":
                text = "".join(
                    p.get("text") or "" for p in item.get("content") or () if isinstance(p, dict)
                )
                if text:
                    self._ensure(out, "text", {"type": "text", "text": ""})
                    out.append(self._delta({"type": "text_delta", "text": text}))
            self._close(out)
