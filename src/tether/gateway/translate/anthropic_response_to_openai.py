"""An Anthropic message → an OpenAI Chat Completion (`response_from_anthropic`). Pure."""

from __future__ import annotations

import time
from typing import Any

import orjson

_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


def _openai_usage(usage: Any) -> dict[str, Any]:
    usage = usage or {}
    cached = usage.get("cache_read_input_tokens") or 0
    prompt = (
        (usage.get("input_tokens") or 0) + cached + (usage.get("cache_creation_input_tokens") or 0)
    )
    completion = usage.get("output_tokens") or 0
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
    }


def response_from_anthropic(resp: dict, *, model: str) -> dict:
    """An Anthropic message as a Chat Completion object."""
    texts: list[str] = []
    thoughts: list[str] = []
    calls: list[dict] = []
    for block in resp.get("content") or ():
        kind = block.get("type")
        if kind == "text":
            texts.append(block.get("text") or "")
        elif kind == "thinking":
            thoughts.append(block.get("thinking") or "")
        elif kind == "tool_use":
            calls.append(
                {
                    "id": block.get("id"),
                    "type": "function",
                    "function": {
                        "name": block.get("name"),
                        "arguments": orjson.dumps(block.get("input") or {}).decode(),
                    },
                }
            )
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) or None}
    if thoughts:
        message["reasoning_content"] = "\n\n".join(thoughts)
    if calls:
        message["tool_calls"] = calls
    return {
        "id": f"chatcmpl-{resp.get('id') or 'anthropic'}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": _FINISH.get(resp.get("stop_reason") or "", "stop"),
                "logprobs": None,
            }
        ],
        "usage": _openai_usage(resp.get("usage")),
    }
