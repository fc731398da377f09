"""Anthropic message (the hub) → OpenAI Response object, for Responses clients.

The item and Response builders here are shared with the stream translator
(`anthropic_stream_to_responses`), so a streamed answer ends in the same object a
non-streamed one is.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from tether.gateway.translate.responses_request_to_anthropic import (
    ResponsesContext,
    pack_reasoning,
)

__all__ = [
    "function_call_item",
    "message_item",
    "reasoning_item",
    "response_from_anthropic_message",
    "response_object",
    "response_status",
    "responses_usage",
]

_CUSTOM_INPUT = "input"


def responses_usage(usage: Any, reasoning_chars: int = 0) -> dict[str, Any]:
    """Anthropic usage as Responses usage. Anthropic counts cached input apart and has no
    reasoning count: reasoning tokens are estimated from the thinking text (≈4 chars a
    token), never more than the output tokens."""
    usage = usage if isinstance(usage, dict) else {}
    cached = usage.get("cache_read_input_tokens") or 0
    written = usage.get("cache_creation_input_tokens") or 0
    prompt = (usage.get("input_tokens") or 0) + cached + written
    output = usage.get("output_tokens") or 0
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": cached},
        "output_tokens": output,
        "output_tokens_details": {"reasoning_tokens": min(output, reasoning_chars // 4)},
        "total_tokens": prompt + output,
    }


def response_status(stop_reason: str | None) -> tuple[str, dict | None]:
    """(status, incomplete_details) for an Anthropic stop reason."""
    if stop_reason in ("max_tokens", "model_context_window_exceeded"):
        return "incomplete", {"reason": "max_output_tokens"}
    if stop_reason == "refusal":
        return "incomplete", {"reason": "content_filter"}
    return "completed", None


def message_item(item_id: str, text: str, status: str = "completed") -> dict[str, Any]:
    content = (
        [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]
        if status == "completed"
        else []
    )
    return {
        "type": "message",
        "id": item_id,
        "role": "assistant",
        "status": status,
        "content": content,
    }


def reasoning_item(
    ctx: ResponsesContext, item_id: str, thinking: str, signature: str, *, redacted: str = ""
) -> dict[str, Any]:
    item: dict[str, Any] = {"type": "reasoning", "id": item_id, "summary": []}
    if ctx.summaries and thinking:
        item["summary"] = [{"type": "summary_text", "text": thinking}]
    if ctx.encrypted_reasoning:
        item["encrypted_content"] = (
            pack_reasoning("", f"redacted:{redacted}")
            if redacted
            else pack_reasoning(thinking, signature)
        )
    return item


def function_call_item(
    ctx: ResponsesContext, item_id: str, call_id: str, name: str, arguments: str, status: str
) -> dict[str, Any]:
    """A tool_use as a `function_call` item, or as a `custom_tool_call` item when the
    client offered the tool as a freeform one (its text is the `input` string)."""
    if name in ctx.custom_tools:
        text = ""
        if status == "completed":
            try:
                value = orjson.loads(arguments or "{}")
            except orjson.JSONDecodeError:
                value = {}
            raw = value.get(_CUSTOM_INPUT) if isinstance(value, dict) else None
            text = raw if isinstance(raw, str) else ""
        item: dict[str, Any] = {
            "type": "custom_tool_call",
            "id": item_id,
            "call_id": call_id,
            "name": name,
            "input": text,
            "status": status,
        }
    else:
        item = {
            "type": "function_call",
            "id": item_id,
            "call_id": call_id,
            "name": name,
            "arguments": arguments if status == "completed" else "",
            "status": status,
        }
    namespace = ctx.namespaces.get(name)
    if namespace:
        item["namespace"] = namespace
    return item


def response_object(
    ctx: ResponsesContext,
    response_id: str,
    created_at: int,
    *,
    status: str,
    output: list[dict],
    usage: dict | None = None,
    incomplete: dict | None = None,
    error: dict | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": response_id,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "background": False,
        "error": error,
        "incomplete_details": incomplete,
        "model": ctx.model,
        "output": output,
        "previous_response_id": None,
        "truncation": "disabled",
        "usage": usage,
        **ctx.echo,
    }
    if not body.get("tools"):
        body["tools"] = []
    if "parallel_tool_calls" not in body:
        body["parallel_tool_calls"] = True
    if not body.get("tool_choice"):
        body["tool_choice"] = "auto"
    if status == "completed":
        body["completed_at"] = int(time.time())
    return body


def response_from_anthropic_message(message: dict, ctx: ResponsesContext) -> dict[str, Any]:
    """A whole Anthropic message as a Response object."""
    base = str(message.get("id") or "anthropic").removeprefix("msg_")
    output: list[dict] = []
    thought = 0
    for n, block in enumerate(message.get("content") or ()):
        kind = block.get("type")
        if kind == "text" and block.get("text"):
            output.append(message_item(f"msg_{base}_{n}", block["text"]))
        elif kind == "thinking":
            text = block.get("thinking") or ""
            thought += len(text)
            output.append(reasoning_item(ctx, f"rs_{base}_{n}", text, block.get("signature", "")))
        elif kind == "redacted_thinking":
            output.append(
                reasoning_item(ctx, f"rs_{base}_{n}", "", "", redacted=block.get("data") or "")
            )
        elif kind == "tool_use":
            arguments = orjson.dumps(block.get("input") or {}).decode()
            output.append(
                function_call_item(
                    ctx,
                    f"fc_{base}_{n}",
                    block.get("id") or f"call_{base}_{n}",
                    block.get("name") or "tool",
                    arguments,
                    "completed",
                )
            )
    status, incomplete = response_status(message.get("stop_reason"))
    return response_object(
        ctx,
        f"resp_{base}",
        int(time.time()),
        status=status,
        output=output,
        usage=responses_usage(message.get("usage"), thought),
        incomplete=incomplete,
    )
