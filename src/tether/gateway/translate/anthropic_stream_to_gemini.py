"""The hub's answer (an Anthropic message, or its SSE events) → Gemini GenerateContentResponse.

Text and thinking deltas go out as they come, one chunk each; a tool call goes out whole
once its arguments are complete (Gemini sends function calls whole). The signed thinking
of a turn rides on its first functionCall as `thoughtSignature` (see gemini_wire), so the
next request can hand it back to Anthropic. The last chunk carries finishReason and
usageMetadata, together with the turn's function calls, and never has empty parts
(Gemini CLI counts a chunk without parts as an invalid stream). Pure: no I/O.
"""

from __future__ import annotations

from typing import Any

import orjson

from tether.gateway.translate.gemini_wire import encode_thinking, gemini_error, gemini_usage
from tether.gateway.translate.hub_stream import read_message_delta

__all__ = ["GeminiStreamWriter", "anthropic_response_to_gemini", "finish_reason"]

_FINISH = {
    "end_turn": "STOP",
    "stop_sequence": "STOP",
    "tool_use": "STOP",
    "pause_turn": "STOP",
    "max_tokens": "MAX_TOKENS",
    "model_context_window_exceeded": "MAX_TOKENS",
    "refusal": "SAFETY",
}


def finish_reason(stop_reason: Any) -> str:
    return _FINISH.get(stop_reason or "end_turn", "OTHER")


def _call_part(block: dict[str, Any], signature: str | None) -> dict[str, Any]:
    args = block.get("input")
    part: dict[str, Any] = {
        "functionCall": {
            "id": block.get("id"),
            "name": block.get("name"),
            "args": args if isinstance(args, dict) else {},
        }
    }
    if signature:
        part["thoughtSignature"] = signature
    return part


def _response(
    parts: list[dict[str, Any]],
    model: str,
    response_id: str,
    finish: str | None = None,
    usage: dict[str, int] | None = None,
) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    out: dict[str, Any] = {"candidates": [candidate]}
    if usage is not None:
        out["usageMetadata"] = usage
    out["modelVersion"] = model
    out["responseId"] = response_id
    return out


def anthropic_response_to_gemini(
    message: dict[str, Any], *, model: str, include_thoughts: bool = True
) -> dict[str, Any]:
    """A whole Anthropic message as one GenerateContentResponse."""
    blocks = [b for b in message.get("content") or () if isinstance(b, dict)]
    signature = encode_thinking(blocks)
    parts: list[dict[str, Any]] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "text" and block.get("text"):
            parts.append({"text": block["text"]})
        elif kind == "thinking" and include_thoughts and block.get("thinking"):
            parts.append({"text": block["thinking"], "thought": True})
        elif kind == "tool_use":
            parts.append(_call_part(block, signature))
            signature = None  # only the first call of a turn carries it, as Gemini does
    return _response(
        parts or [{"text": ""}],
        model,
        str(message.get("id") or ""),
        finish_reason(message.get("stop_reason")),
        gemini_usage(message.get("usage")),
    )


class GeminiStreamWriter:
    """Anthropic SSE events in (`feed(event, data)`), GenerateContentResponse dicts out."""

    def __init__(self, model: str, *, include_thoughts: bool = True) -> None:
        self.model = model
        self.include_thoughts = include_thoughts
        self._id = ""
        self._usage: dict[str, Any] = {}
        self._stop: str | None = None
        self._blocks: dict[int, dict[str, Any]] = {}
        self._args: dict[int, list[str]] = {}
        self._thinking: list[dict[str, Any]] = []
        self._calls: list[dict[str, Any]] = []
        self._done = False

    @property
    def done(self) -> bool:
        return self._done

    def feed(self, event: str | None, data: dict[str, Any]) -> list[dict[str, Any]]:
        if self._done:
            return []
        kind = data.get("type") or event
        if kind == "message_start":
            message = data.get("message") or {}
            self._id = str(message.get("id") or "")
            self._usage.update(message.get("usage") or {})
        elif kind == "content_block_start":
            index = data.get("index", 0)
            block = dict(data.get("content_block") or {})
            self._blocks[index] = block
            if block.get("type") == "text" and block.get("text"):
                return [self._chunk([{"text": block["text"]}])]
        elif kind == "content_block_delta":
            return self._delta(data.get("index", 0), data.get("delta") or {})
        elif kind == "content_block_stop":
            self._stop_block(data.get("index", 0))
        elif kind == "message_delta":
            stop = read_message_delta(data, self._usage)
            if stop:
                self._stop = stop
        elif kind == "message_stop":
            return self.finish()
        elif kind == "error":
            error = data.get("error") or {}
            status = 529 if error.get("type") == "overloaded_error" else 500
            if error.get("type") == "rate_limit_error":
                status = 429
            return self.fail(status, error.get("message") or "upstream error")
        return []  # ping and unknown events

    def finish(self) -> list[dict[str, Any]]:
        """The last chunk: pending function calls, finishReason and usage."""
        if self._done:
            return []
        self._done = True
        for index in sorted(self._blocks):
            self._stop_block(index)  # a stream cut short of its content_block_stop events
        parts = self._calls or [{"text": ""}]
        return [
            self._chunk(parts, finish=finish_reason(self._stop), usage=gemini_usage(self._usage))
        ]

    def fail(self, status: int, message: str) -> list[dict[str, Any]]:
        """End with an error object, which Google's SDKs raise from a stream."""
        if self._done:
            return []
        self._done = True
        return [gemini_error(status, message)[1]]

    def _chunk(
        self,
        parts: list[dict[str, Any]],
        finish: str | None = None,
        usage: dict[str, int] | None = None,
    ) -> dict[str, Any]:
        return _response(parts, self.model, self._id, finish, usage)

    def _delta(self, index: int, delta: dict[str, Any]) -> list[dict[str, Any]]:
        kind = delta.get("type")
        block = self._blocks.setdefault(index, {"type": "text"})
        if kind == "text_delta" and delta.get("text"):
            return [self._chunk([{"text": delta["text"]}])]
        if kind == "thinking_delta":
            block["thinking"] = block.get("thinking", "") + (delta.get("thinking") or "")
            if self.include_thoughts and delta.get("thinking"):
                return [self._chunk([{"text": delta["thinking"], "thought": True}])]
        elif kind == "signature_delta":
            block["signature"] = block.get("signature", "") + (delta.get("signature") or "")
        elif kind == "input_json_delta":
            self._args.setdefault(index, []).append(delta.get("partial_json") or "")
        return []

    def _stop_block(self, index: int) -> None:
        block = self._blocks.pop(index, None)
        if block is None:
            return
        kind = block.get("type")
        if kind in ("thinking", "redacted_thinking"):
            self._thinking.append(block)
        elif kind == "tool_use":
            raw = "".join(self._args.pop(index, []))
            try:
                args = orjson.loads(raw) if raw.strip() else block.get("input") or {}
            except orjson.JSONDecodeError:
                args = {}
            block["input"] = args
            signature = None if self._calls else encode_thinking(self._thinking)
            self._calls.append(_call_part(block, signature))
