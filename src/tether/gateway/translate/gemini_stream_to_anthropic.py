"""Gemini GenerateContentResponse (whole, or streamed chunks) → the hub's Anthropic message
and SSE events.

Gemini streams thought and text parts in pieces and function calls whole; blocks are
opened lazily and strictly one after another. A thought's signature closes its thinking
block as `tether:gemini:<signature>`; a function call's signature rides in its tool_use
id (gemini_wire), the only things an Anthropic client hands back unchanged. Gemini says
STOP after function calls too: with calls it is `tool_use`. Pure: no I/O.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson

from tether.gateway.translate.anthropic_request_to_openai import ToolNames
from tether.gateway.translate.errors import UpstreamResponseError, upstream_error_message
from tether.gateway.translate.gemini_wire import (
    GEMINI_SIGNATURE,
    anthropic_usage,
    get,
    tool_id_with_signature,
)
from tether.gateway.translate.hub_stream import Event, HubStream, message_end, message_start

__all__ = ["GeminiStreamTranslator", "gemini_response_to_anthropic", "stop_reason"]

_REFUSALS = frozenset(
    {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY"}
)


def stop_reason(finish: Any, has_calls: bool) -> str:
    if finish == "MAX_TOKENS":
        return "max_tokens"
    if finish in _REFUSALS:
        return "refusal"
    if finish in ("MALFORMED_FUNCTION_CALL", "UNEXPECTED_TOOL_CALL"):
        raise UpstreamResponseError(f"Gemini stopped with {finish}: the model's call was invalid")
    return "tool_use" if has_calls else "end_turn"


def _new_id() -> str:
    return f"msg_{uuid.uuid4().hex[:24]}"


def _candidate(response: dict[str, Any]) -> dict[str, Any] | None:
    candidates = response.get("candidates")
    if isinstance(candidates, list) and candidates and isinstance(candidates[0], dict):
        return candidates[0]
    return None


def _blocked(response: dict[str, Any]) -> str | None:
    feedback = get(response, "promptFeedback")
    reason = get(feedback, "blockReason")
    return str(reason) if reason else None


def gemini_response_to_anthropic(
    response: dict[str, Any], *, model: str, tool_names: ToolNames | None = None
) -> dict[str, Any]:
    """A whole generateContent response as an Anthropic message. Raises
    UpstreamResponseError when it reports a failure instead of a turn."""
    translator = GeminiStreamTranslator(model, tool_names)
    events = translator.feed(response) + translator.finish()
    if events and events[-1][0] == "error":
        raise UpstreamResponseError(events[-1][1]["error"]["message"])
    message = events[0][1]["message"]
    blocks: dict[int, dict[str, Any]] = {}
    args: dict[int, str] = {}
    for name, data in events[1:]:
        if name == "content_block_start":
            blocks[data["index"]] = dict(data["content_block"])
        elif name == "content_block_delta":
            block, delta = blocks[data["index"]], data["delta"]
            if delta["type"] == "text_delta":
                block["text"] += delta["text"]
            elif delta["type"] == "thinking_delta":
                block["thinking"] += delta["thinking"]
            elif delta["type"] == "signature_delta":
                block["signature"] += delta["signature"]
            else:
                args[data["index"]] = args.get(data["index"], "") + delta["partial_json"]
        elif name == "message_delta":
            message = {**message, **data["delta"], "usage": data["usage"]}
    for index, raw in args.items():
        blocks[index]["input"] = orjson.loads(raw)
    return {**message, "content": [blocks[i] for i in sorted(blocks)]}


class GeminiStreamTranslator(HubStream):
    """GenerateContentResponse chunks in (`feed`), Anthropic `(event, data)` pairs out."""

    def __init__(
        self, model: str, tool_names: ToolNames | None = None, message_id: str | None = None
    ) -> None:
        self.model = model
        self.tool_names = tool_names or ToolNames()
        self.message_id = message_id or _new_id()
        self._started = False
        self._index = -1
        self._open: str | None = None
        self._signature = ""  # of the open thinking block
        self._calls = 0
        self._finish: Any = None
        self._usage: dict[str, int] | None = None

    def feed(self, response: dict[str, Any]) -> list[Event]:
        out: list[Event] = []
        if self._done:
            return out
        if isinstance(response.get("error"), dict):
            return self.fail("api_error", upstream_error_message(response))
        if not self._started:
            self._start(response, out)
        metadata = get(response, "usageMetadata")
        if isinstance(metadata, dict):
            self._usage = anthropic_usage(metadata)
        candidate = _candidate(response)
        if candidate is None:
            reason = _blocked(response)
            if reason:
                self._finish = "SAFETY"
            return out
        for part in get(candidate.get("content"), "parts") or ():
            if isinstance(part, dict):
                self._part(part, out)
        finish = get(candidate, "finishReason")
        if finish:
            self._finish = finish
        return out

    def feed_parsed(self, chunk: Any) -> list[Event]:
        if isinstance(chunk, list):  # a JSON-array element list, should one arrive whole
            return [event for item in chunk if isinstance(item, dict) for event in self.feed(item)]
        return super().feed_parsed(chunk)

    def finish(self) -> list[Event]:
        out: list[Event] = []
        if self._done:
            return out
        if not self._started:
            return self.fail("api_error", "the provider ended its answer without any content")
        try:
            reason = stop_reason(self._finish, self._calls > 0)
        except UpstreamResponseError as exc:
            return self.fail("api_error", str(exc))
        self._close(out)
        out.extend(message_end(reason, None, self._usage or anthropic_usage(None)))
        self._done = True
        return out

    # internals

    def _start(self, response: dict[str, Any], out: list[Event]) -> None:
        self._started = True
        usage = anthropic_usage(get(response, "usageMetadata"))
        usage["output_tokens"] = 0
        out.append(message_start(self.message_id, self.model, usage))

    def _part(self, part: dict[str, Any], out: list[Event]) -> None:
        signature = get(part, "thoughtSignature")
        call = get(part, "functionCall")
        text = part.get("text")
        if isinstance(call, dict):
            self._call(call, signature, out)
        elif part.get("thought") is True:
            if text:
                if self._open != "thinking":
                    self._open_block("thinking", {"thinking": "", "signature": ""}, out)
                out.append(self._delta({"type": "thinking_delta", "thinking": text}))
            if signature and self._open == "thinking":
                self._signature = signature
        elif isinstance(text, str) and text:
            if self._open != "text":
                self._open_block("text", {"text": ""}, out)
            out.append(self._delta({"type": "text_delta", "text": text}))
        # A signature on a text part is optional to send back: left out.

    def _call(self, call: dict[str, Any], signature: Any, out: list[Event]) -> None:
        self._calls += 1
        base = f"toolu_{self.message_id.removeprefix('msg_')[:24]}_{self._calls}"
        block = {
            "id": tool_id_with_signature(base, signature),
            "name": self.tool_names.client(str(call.get("name") or "")),
            "input": {},
        }
        self._open_block("tool_use", block, out)
        args = call.get("args")
        partial = orjson.dumps(args if isinstance(args, dict) else {}).decode()
        out.append(self._delta({"type": "input_json_delta", "partial_json": partial}))
        self._close(out)

    def _open_block(self, kind: str, fields: dict[str, Any], out: list[Event]) -> None:
        self._close(out)
        self._index += 1
        self._open = kind
        out.append(
            (
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": self._index,
                    "content_block": {"type": kind, **fields},
                },
            )
        )

    def _delta(self, delta: dict[str, Any]) -> Event:
        return (
            "content_block_delta",
            {"type": "content_block_delta", "index": self._index, "delta": delta},
        )

    def _close(self, out: list[Event]) -> None:
        if self._open is None:
            return
        if self._open == "thinking":
            signature = GEMINI_SIGNATURE + self._signature
            out.append(self._delta({"type": "signature_delta", "signature": signature}))
            self._signature = ""
        out.append(("content_block_stop", {"type": "content_block_stop", "index": self._index}))
        self._open = None
