"""Anthropic Messages request (the hub) → OpenAI Responses request, for a provider of
`type: openai-responses` (a model served only on `/v1/responses`).

Reasoning round-trip: a reasoning item from the upstream comes back to the client as a
thinking block whose signature is `RESPONSES_REASONING_PREFIX` + base64 of the item's id
and encrypted_content (see `responses_to_anthropic_message`); such blocks go back up as
the same reasoning item. Thinking from other providers (Claude's own signatures) cannot
be replayed to OpenAI and is left out.
"""

from __future__ import annotations

from typing import Any

import orjson

from tether.gateway.translate.anthropic_request_to_openai import ToolNames, apply_tool_choice
from tether.gateway.translate.packed import pack, unpack

__all__ = [
    "RESPONSES_REASONING_PREFIX",
    "anthropic_to_responses",
    "pack_responses_reasoning",
    "unpack_responses_reasoning",
]

RESPONSES_REASONING_PREFIX = "tether-rs1:"
_BILLING_HEADER = "x-anthropic-billing-header:"


def pack_responses_reasoning(item_id: str, encrypted: str) -> str:
    return pack(RESPONSES_REASONING_PREFIX, {"id": item_id, "encrypted_content": encrypted})


def unpack_responses_reasoning(signature: Any) -> dict[str, str] | None:
    return unpack(RESPONSES_REASONING_PREFIX, signature)


def _effort(body: dict) -> str | None:
    thinking = body.get("thinking")
    kind = thinking.get("type") if isinstance(thinking, dict) else None
    if kind in (None, "disabled"):
        return None
    config = body.get("output_config")
    effort = config.get("effort") if isinstance(config, dict) else None
    if effort in ("minimal", "low", "medium", "high"):
        return effort
    if effort in ("xhigh", "max"):
        return "high"
    if kind == "enabled":
        budget = thinking.get("budget_tokens") or 0
        return "low" if budget <= 2048 else "medium" if budget <= 16384 else "high"
    return "medium"


def anthropic_to_responses(body: dict, *, model: str) -> tuple[dict, ToolNames]:
    """An Anthropic Messages request as a Responses request for `model` (store: false,
    the whole conversation in `input`)."""
    names = ToolNames()
    out: dict[str, Any] = {"model": model, "store": False}
    system = body.get("system")
    blocks = [{"text": system}] if isinstance(system, str) else system or ()
    instructions = "\n\n".join(
        b["text"]
        for b in blocks
        if isinstance(b, dict)
        and isinstance(b.get("text"), str)
        and b["text"]
        # Claude Code's per-request billing line would defeat OpenAI's prefix cache.
        and not b["text"].startswith(_BILLING_HEADER)
    )
    if instructions:
        out["instructions"] = instructions
    out["input"] = _convert_messages(body.get("messages") or (), names)

    tools = []
    for tool in body.get("tools") or ():
        if not isinstance(tool, dict) or "input_schema" not in tool:
            continue  # server tools (web_search_*, bash_*, ...) run at Anthropic
        converted: dict[str, Any] = {
            "type": "function",
            "name": names.upstream(tool.get("name") or "tool"),
            "parameters": tool["input_schema"],
            "strict": False,
        }
        if tool.get("description"):
            converted["description"] = tool["description"]
        tools.append(converted)
    if tools:
        out["tools"] = tools
        apply_tool_choice(
            body.get("tool_choice"),
            names,
            {t["name"] for t in tools},
            out,
            lambda name: {"type": "function", "name": name},
        )

    effort = _effort(body)
    if effort:
        out["reasoning"] = {"effort": effort, "summary": "auto"}
        out["include"] = ["reasoning.encrypted_content"]
    else:
        for key in ("temperature", "top_p"):
            if body.get(key) is not None:
                out[key] = body[key]
    if isinstance(body.get("max_tokens"), int):
        out["max_output_tokens"] = body["max_tokens"]
    config = body.get("output_config")
    fmt = config.get("format") if isinstance(config, dict) else None
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema" and fmt.get("schema"):
        out["text"] = {"format": {"type": "json_schema", "name": "output", "schema": fmt["schema"]}}
    if body.get("stream"):
        out["stream"] = True
    return out, names


def _text(content: Any) -> list[dict]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    return [b for b in content or () if isinstance(b, dict)]


def _input_parts(blocks: list[dict]) -> list[dict]:
    parts: list[dict] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "text" and block.get("text"):
            parts.append({"type": "input_text", "text": block["text"]})
        elif kind in ("image", "document"):
            source = block.get("source") or {}
            if source.get("type") == "base64":
                url = f"data:{source.get('media_type')};base64,{source.get('data')}"
            elif source.get("type") == "url":
                url = source.get("url") or ""
            else:
                continue
            if kind == "image":
                parts.append({"type": "input_image", "image_url": url, "detail": "auto"})
            else:
                parts.append({"type": "input_file", "file_data": url, "filename": "document.pdf"})
    return parts


def _convert_messages(messages: Any, names: ToolNames) -> list[dict]:
    items: list[dict] = []
    for message in messages:
        if not isinstance(message, dict):
            continue
        role = message.get("role")
        blocks = _text(message.get("content"))
        if role == "system":
            # Claude Code puts system messages mid-conversation; the Responses API takes
            # developer messages anywhere in `input`.
            parts = _input_parts(blocks)
            if parts:
                items.append({"role": "developer", "content": parts})
        elif role == "user":
            pending: list[dict] = []
            for block in blocks:
                if block.get("type") == "tool_result":
                    if pending:
                        items.append({"role": "user", "content": _input_parts(pending)})
                        pending = []
                    content = _text(block.get("content"))
                    parts = _input_parts(content)
                    output: Any = (
                        "".join(p["text"] for p in parts)
                        if all(p["type"] == "input_text" for p in parts)
                        else parts
                    )
                    if block.get("is_error") and isinstance(output, str):
                        output = f"Error: {output}" if output else "Error"
                    items.append(
                        {
                            "type": "function_call_output",
                            "call_id": block.get("tool_use_id") or "call",
                            "output": output,
                        }
                    )
                else:
                    pending.append(block)
            parts = _input_parts(pending)
            if parts:
                items.append({"role": "user", "content": parts})
        elif role == "assistant":
            for block in blocks:
                kind = block.get("type")
                if kind == "text" and block.get("text"):
                    items.append(
                        {
                            "type": "message",
                            "role": "assistant",
                            "content": [{"type": "output_text", "text": block["text"]}],
                        }
                    )
                elif kind == "tool_use":
                    items.append(
                        {
                            "type": "function_call",
                            "call_id": block.get("id") or "call",
                            "name": names.upstream(block.get("name") or "tool"),
                            "arguments": orjson.dumps(block.get("input") or {}).decode(),
                        }
                    )
                elif kind == "thinking":
                    packed = unpack_responses_reasoning(block.get("signature"))
                    if packed is not None:
                        item: dict[str, Any] = {
                            "type": "reasoning",
                            "id": packed.get("id"),
                            "summary": [],
                            "encrypted_content": packed.get("encrypted_content"),
                        }
                        if block.get("thinking"):
                            item["summary"] = [{"type": "summary_text", "text": block["thinking"]}]
                        items.append(item)
    return items
