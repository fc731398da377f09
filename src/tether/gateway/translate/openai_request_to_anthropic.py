"""An OpenAI Chat Completions request → an Anthropic Messages request
(`request_to_anthropic`), so OpenAI-SDK clients reach Anthropic-format upstreams. Pure.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from tether.gateway.translate.hub_request import add_turn

DEFAULT_MAX_TOKENS = 8192  # Anthropic requires max_tokens; OpenAI clients often omit it

# OpenAI request fields with no Anthropic equivalent, left out on purpose.
DROPPED_FIELDS = frozenset(
    {
        "logprobs",
        "top_logprobs",
        "presence_penalty",
        "frequency_penalty",
        "logit_bias",
        "seed",
        "modalities",
        "audio",
        "prediction",
        "store",
        "service_tier",
        "web_search_options",
        "n",  # only n=1 is accepted
        "stream_options",  # read by the stream translator, not sent
    }
)

# reasoning_effort → thinking budget (Anthropic's minimum budget is 1024).
_BUDGETS = {"minimal": 1024, "low": 2048, "medium": 8192, "high": 24576, "xhigh": 32000}
_BAD_ID_CHARS = re.compile(r"[^A-Za-z0-9_-]")
_DATA_URL = re.compile(r"data:([^;,]+)?(;base64)?,(.*)", re.DOTALL)


def _tool_id(raw: Any) -> str:
    # Anthropic requires ^[a-zA-Z0-9_-]+$; Kimi-style clients send `functions.Bash:0`.
    cid = raw if isinstance(raw, str) and raw else "call"
    return _BAD_ID_CHARS.sub("_", cid)


def request_to_anthropic(
    body: dict,
    *,
    model: str,
    max_tokens_limit: int | None = None,
) -> dict:
    """An OpenAI Chat Completions request as an Anthropic Messages request.

    Raises ValueError (a 400 for the client) for what cannot be translated:
    n > 1, tool-call arguments that are not a JSON object, no messages.
    """
    n = body.get("n")
    if n is not None and n != 1:
        raise ValueError("n > 1 is not supported through this gateway: ask for one choice")
    system: list[dict] = []
    messages = _convert_messages(body.get("messages") or [], system)
    if not messages:
        raise ValueError("messages must hold at least one user or assistant message")
    out: dict[str, Any] = {"model": model, "messages": messages}
    if system:
        out["system"] = system

    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
    if max_tokens is None:
        max_tokens = max_tokens_limit or DEFAULT_MAX_TOKENS
    elif max_tokens_limit is not None:
        max_tokens = min(max_tokens, max_tokens_limit)
    out["max_tokens"] = max_tokens

    tools = [_convert_tool(t) for t in body.get("tools") or () if t.get("type") == "function"]
    if not tools and body.get("functions"):
        tools = [_convert_tool({"function": f}) for f in body["functions"]]
    choice = _tool_choice(body.get("tool_choice"), body.get("parallel_tool_calls"))
    if tools:
        out["tools"] = tools
        if choice is not None:
            out["tool_choice"] = choice

    stop = body.get("stop")
    if stop:
        out["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)

    effort = body.get("reasoning_effort")
    budget = _BUDGETS.get(effort) if isinstance(effort, str) else None
    if budget is not None and max_tokens > 1024:
        out["thinking"] = {"type": "enabled", "budget_tokens": min(budget, max_tokens - 1)}
    else:
        # Thinking requires the default sampling, so these go only without it.
        temperature = body.get("temperature")
        if temperature is not None:
            out["temperature"] = min(max(temperature, 0.0), 1.0)  # OpenAI allows up to 2
        if body.get("top_p") is not None:
            out["top_p"] = body["top_p"]

    user = body.get("user")
    if isinstance(user, str) and user:
        out["metadata"] = {"user_id": user[:256]}
    response_format = body.get("response_format")
    if isinstance(response_format, dict) and response_format.get("type") == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema")
        if schema:
            out["output_config"] = {"format": {"type": "json_schema", "schema": schema}}
    if body.get("stream"):
        out["stream"] = True
    return out


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(
        p.get("text") or p.get("refusal") or ""
        for p in content or ()
        if p.get("type") in ("text", "input_text", "refusal")
    )


def _content_blocks(content: Any) -> list[dict]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    blocks: list[dict] = []
    for part in content or ():
        kind = part.get("type")
        if kind in ("text", "input_text"):
            if part.get("text"):
                blocks.append({"type": "text", "text": part["text"]})
        elif kind == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            block = _media_block("image", url or "")
            if block:
                blocks.append(block)
        elif kind == "file":
            data = (part.get("file") or {}).get("file_data") or ""
            block = _media_block("document", data)
            if block:
                blocks.append(block)
        # input_audio and other parts: Anthropic has no equivalent.
    return blocks


def _media_block(kind: str, url: str) -> dict | None:
    if url.startswith("data:"):
        match = _DATA_URL.match(url)
        if not match or not match.group(2):
            return None
        media = match.group(1) or ("image/png" if kind == "image" else "application/pdf")
        source = {"type": "base64", "media_type": media, "data": match.group(3)}
    elif url.startswith(("http://", "https://")):
        source = {"type": "url", "url": url}
    else:
        return None
    return {"type": kind, "source": source}


def _convert_messages(messages: list[dict], system: list[dict]) -> list[dict]:
    out: list[dict] = []

    def add(role: str, blocks: list[dict]) -> None:
        add_turn(out, role, blocks)

    for msg in messages:
        role = msg.get("role")
        content = msg.get("content")
        if role in ("system", "developer"):
            text = _text_of(content)
            if text:
                system.append({"type": "text", "text": text})
        elif role == "user":
            add("user", _content_blocks(content))
        elif role == "assistant":
            blocks = _content_blocks(content)
            calls = msg.get("tool_calls") or []
            if not calls and msg.get("function_call"):
                calls = [{"id": "call", "function": msg["function_call"]}]
            for call in calls:
                function = call.get("function") or {}
                blocks.append(
                    {
                        "type": "tool_use",
                        "id": _tool_id(call.get("id")),
                        "name": function.get("name") or "tool",
                        "input": _arguments(function.get("arguments")),
                    }
                )
            add("assistant", blocks)
        elif role in ("tool", "function"):
            result_content = _content_blocks(content)
            block: dict[str, Any] = {
                "type": "tool_result",
                "tool_use_id": _tool_id(msg.get("tool_call_id") or msg.get("name")),
            }
            if result_content:
                block["content"] = result_content
            add("user", [block])
    if out and out[0]["role"] != "user":
        out.insert(0, {"role": "user", "content": [{"type": "text", "text": "(continue)"}]})
    for message in out:
        if message["role"] == "user":
            _results_first(message)
    return out


def _results_first(message: dict) -> None:
    """Anthropic wants a user turn's tool_result blocks before its other content."""
    blocks = message["content"]
    if len(blocks) < 2 or all(b["type"] == "tool_result" for b in blocks):
        return
    results = [b for b in blocks if b["type"] == "tool_result"]
    if results and blocks[: len(results)] != results:
        message["content"] = results + [b for b in blocks if b["type"] != "tool_result"]


def _arguments(arguments: Any) -> dict:
    if isinstance(arguments, dict):
        return arguments
    if not arguments:
        return {}
    try:
        value = orjson.loads(arguments)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"tool call arguments are not valid JSON: {arguments[:80]!r}") from exc
    if not isinstance(value, dict):
        raise ValueError("tool call arguments must be a JSON object")
    return value


def _convert_tool(tool: dict) -> dict:
    return function_tool(tool.get("function") or {})


def function_tool(function: dict) -> dict:
    """An OpenAI function's declaration (chat's `function`, a Responses tool) as an
    Anthropic tool."""
    out: dict[str, Any] = {
        "name": function.get("name") or "tool",
        "input_schema": function.get("parameters") or {"type": "object", "properties": {}},
    }
    if function.get("description"):
        out["description"] = function["description"]
    return out


def _tool_choice(choice: Any, parallel: Any) -> dict | None:
    out = word_tool_choice(choice)
    if isinstance(choice, dict) and (choice.get("function") or {}).get("name"):
        out = {"type": "tool", "name": choice["function"]["name"]}
    return with_parallel(out, parallel)


def word_tool_choice(choice: Any) -> dict | None:
    """OpenAI's `tool_choice` words (chat and Responses alike) as Anthropic's."""
    words = {"auto": "auto", "required": "any", "none": "none"}
    return {"type": words[choice]} if isinstance(choice, str) and choice in words else None


def with_parallel(choice: dict | None, parallel: Any) -> dict | None:
    """`parallel_tool_calls: false` as Anthropic's `disable_parallel_tool_use`, which
    rides on a tool choice (an automatic one when none was given)."""
    if parallel is False:
        choice = choice or {"type": "auto"}
        if choice["type"] != "none":
            choice["disable_parallel_tool_use"] = True
    return choice
