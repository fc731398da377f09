"""Anthropic SSE events → chat.completion.chunk dicts (`AnthropicStreamTranslator`), framed
with `translate.sse.encode_data`; the stream ends with `translate.sse.DONE`. Pure.
"""

from __future__ import annotations

import time
from typing import Any

from tether.gateway.translate.anthropic_response_to_openai import _FINISH, _openai_usage
from tether.gateway.translate.hub_stream import read_message_delta


class AnthropicStreamTranslator:
    """Anthropic SSE events in, chat.completion.chunk dicts out.

    Tool calls are numbered by their own running counter (OpenAI's `index`),
    not by Anthropic's block index. With include_usage a final chunk with empty
    `choices` carries the usage, as OpenAI does.
    """

    def __init__(self, model: str, *, include_usage: bool = False) -> None:
        self.model = model
        self.include_usage = include_usage
        self._id = "chatcmpl-anthropic"
        self._created = int(time.time())
        self._usage: dict[str, Any] = {}
        self._tool_index: dict[int, int] = {}  # Anthropic block index → tool number
        self._finish: str | None = None
        self._started = False
        self._done = False

    def _chunk(self, delta: dict, finish: str | None = None) -> dict:
        return {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
        }

    def feed(self, event: str | None, data: dict) -> list[dict]:
        if self._done:
            return []
        kind = data.get("type") or event
        if kind == "message_start":
            message = data.get("message") or {}
            if message.get("id"):
                self._id = f"chatcmpl-{message['id']}"
            self._usage.update(message.get("usage") or {})
            self._started = True
            return [self._chunk({"role": "assistant", "content": ""})]
        if kind == "content_block_start":
            block = data.get("content_block") or {}
            if block.get("type") == "tool_use":
                number = len(self._tool_index)
                self._tool_index[data.get("index", 0)] = number
                call = {
                    "index": number,
                    "id": block.get("id"),
                    "type": "function",
                    "function": {"name": block.get("name"), "arguments": ""},
                }
                return [self._chunk({"tool_calls": [call]})]
            if block.get("type") == "text" and block.get("text"):
                return [self._chunk({"content": block["text"]})]
            return []
        if kind == "content_block_delta":
            delta = data.get("delta") or {}
            dtype = delta.get("type")
            if dtype == "text_delta" and delta.get("text"):
                return [self._chunk({"content": delta["text"]})]
            if dtype == "thinking_delta" and delta.get("thinking"):
                return [self._chunk({"reasoning_content": delta["thinking"]})]
            if dtype == "input_json_delta" and delta.get("partial_json"):
                number = self._tool_index.get(data.get("index", 0), 0)
                call = {"index": number, "function": {"arguments": delta["partial_json"]}}
                return [self._chunk({"tool_calls": [call]})]
            return []
        if kind == "message_delta":
            stop = read_message_delta(data, self._usage)
            if stop:
                self._finish = _FINISH.get(stop, "stop")
            return []
        if kind == "message_stop":
            return self.finish()
        if kind == "error":
            error = data.get("error") or {}
            self._done = True
            return [
                {
                    "error": {
                        "message": error.get("message") or "upstream error",
                        "type": error.get("type") or "api_error",
                        "param": None,
                        "code": None,
                    }
                }
            ]
        return []  # ping, content_block_stop, unknown events

    def finish(self) -> list[dict]:
        if self._done:
            return []
        self._done = True
        out = [self._chunk({}, self._finish or "stop")]
        if self.include_usage:
            chunk = self._chunk({})
            chunk["choices"] = []
            chunk["usage"] = _openai_usage(self._usage)
            out.append(chunk)
        return out
