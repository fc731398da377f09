"""Where each surface keeps what the built-in hooks touch: the system prompt, the tools
offered, the texts, and how a stream ends in an error. Pure functions over the client's
body, changing it in place."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from tether.gateway.hooks.api import Surface
from tether.gateway.translate.errors import anthropic_error, openai_error
from tether.gateway.translate.gemini_wire import gemini_error
from tether.gateway.translate.sse import encode_data, encode_sse


def append_system(surface: Surface, body: dict[str, Any], text: str) -> None:
    """Append `text` to the system prompt: Anthropic's `system`, the OpenAI chat system
    message, Responses' `instructions`, Gemini's `systemInstruction`."""
    if surface == "anthropic":
        body["system"] = _appended(body.get("system"), text, {"type": "text", "text": text})
    elif surface == "responses":
        body["instructions"] = _appended(body.get("instructions"), text, None)
    elif surface == "openai":
        messages = body.get("messages")
        if not isinstance(messages, list):
            return  # no history to add to: the upstream will refuse the body anyway
        first = messages[0] if messages else None
        if isinstance(first, dict) and first.get("role") in ("system", "developer"):
            first["content"] = _appended(first.get("content"), text, {"type": "text", "text": text})
        else:
            messages.insert(0, {"role": "system", "content": text})
    else:
        key = "system_instruction" if "system_instruction" in body else "systemInstruction"
        instruction = body.get(key)
        if isinstance(instruction, dict) and isinstance(instruction.get("parts"), list):
            instruction["parts"].append({"text": text})
        elif isinstance(instruction, str):
            body[key] = f"{instruction}\n\n{text}"
        else:
            body[key] = {"parts": [{"text": text}]}


def _appended(current: Any, text: str, block: dict[str, Any] | None) -> Any:
    """A string or list-of-blocks prompt with `text` added at its end."""
    if isinstance(current, list) and block is not None:
        return [*current, block]
    if isinstance(current, str) and current:
        return f"{current}\n\n{text}"
    return text


def offered_tools(body: dict[str, Any]) -> Iterator[str]:
    """Names of the tools the request offers, in any surface's shape: Anthropic and
    Responses `{name}`, OpenAI chat `{function: {name}}`, Gemini `functionDeclarations`."""
    tools = body.get("tools")
    if not isinstance(tools, list):
        return
    for tool in tools:
        if not isinstance(tool, dict):
            continue
        function = tool.get("function")
        name = function.get("name") if isinstance(function, dict) else tool.get("name")
        if isinstance(name, str):
            yield name
        declarations = tool.get("functionDeclarations") or tool.get("function_declarations")
        for declaration in declarations if isinstance(declarations, list) else ():
            if isinstance(declaration, dict) and isinstance(declaration.get("name"), str):
                yield declaration["name"]


# Values no pattern may touch: opaque tokens a provider checks byte for byte, binary
# payloads, and ids that pair a tool call with its result.
_OPAQUE_KEYS = frozenset(
    {
        "model",
        "signature",
        "encrypted_content",
        "thoughtSignature",
        "thought_signature",
        "data",
        "image_url",
        "id",
        "tool_use_id",
        "tool_call_id",
        "call_id",
    }
)


def redact(value: Any, patterns: tuple[re.Pattern[str], ...], replacement: str) -> int:
    """Replace every match of `patterns` in the strings of `value` (in place); the
    number of replacements."""
    count = 0
    if isinstance(value, dict):
        items: Any = ((k, v) for k, v in value.items() if k not in _OPAQUE_KEYS)
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return 0
    for key, item in list(items):
        if isinstance(item, str):
            for pattern in patterns:
                item, n = pattern.subn(replacement, item)
                if n:
                    count += n
                    value[key] = item
        else:
            count += redact(item, patterns, replacement)
    return count


def stream_error(surface: Surface, status: int, message: str) -> bytes:
    """One SSE frame that ends a stream with an error the client's SDK raises."""
    if surface == "anthropic":
        return encode_sse("error", anthropic_error(status, message)[1])
    if surface == "responses":
        return encode_sse(
            "error", {"type": "error", "code": "server_error", "message": message, "param": None}
        )
    body = (
        gemini_error(status, message)[1]
        if surface == "gemini"
        else openai_error(status, message)[1]
    )
    return encode_data(body)
