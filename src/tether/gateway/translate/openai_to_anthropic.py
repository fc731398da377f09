"""OpenAI Chat Completions client → Anthropic Messages upstream, and the way back.

Lets OpenAI-SDK clients reach Anthropic-format upstreams. Pure functions over
dicts; the stream translator turns Anthropic SSE events into
chat.completion.chunk dicts that the app frames with `encode_chunk`.
"""

from __future__ import annotations

import re
import time
from typing import Any

import orjson

__all__ = [
    "DONE",
    "AnthropicStreamTranslator",
    "encode_chunk",
    "request_to_anthropic",
    "response_from_anthropic",
]

DONE = b"data: [DONE]\n\n"
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
_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


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
        if not blocks:
            return
        if out and out[-1]["role"] == role:
            out[-1]["content"].extend(blocks)  # Anthropic wants strict alternation
        else:
            out.append({"role": role, "content": blocks})

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
    function = tool.get("function") or {}
    out: dict[str, Any] = {
        "name": function.get("name") or "tool",
        "input_schema": function.get("parameters") or {"type": "object", "properties": {}},
    }
    if function.get("description"):
        out["description"] = function["description"]
    return out


def _tool_choice(choice: Any, parallel: Any) -> dict | None:
    out: dict[str, Any] | None
    if choice == "auto":
        out = {"type": "auto"}
    elif choice == "required":
        out = {"type": "any"}
    elif choice == "none":
        out = {"type": "none"}
    elif isinstance(choice, dict) and (choice.get("function") or {}).get("name"):
        out = {"type": "tool", "name": choice["function"]["name"]}
    else:
        out = None
    if parallel is False:
        out = out or {"type": "auto"}
        if out["type"] != "none":
            out["disable_parallel_tool_use"] = True
    return out


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


def encode_chunk(chunk: dict) -> bytes:
    """One OpenAI stream frame (`data: <json>`); end the stream with DONE."""
    return b"data: " + orjson.dumps(chunk) + b"\n\n"


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
            stop = (data.get("delta") or {}).get("stop_reason")
            if stop:
                self._finish = _FINISH.get(stop, "stop")
            usage = data.get("usage") or {}
            self._usage.update({k: v for k, v in usage.items() if v is not None})
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
