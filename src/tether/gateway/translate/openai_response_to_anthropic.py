"""An OpenAI Chat Completion → an Anthropic message (`response_from_openai`). Pure."""

from __future__ import annotations

import uuid
from typing import Any

import orjson

from tether.gateway.translate.anthropic_request_to_openai import (
    _NAME_BAD_CHARS,
    _VALID_TOOLU_ID,
    THINKING_SIGNATURE,
    ToolNames,
)
from tether.gateway.translate.errors import UpstreamResponseError, upstream_error_message

_STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}


def _stop_reason(finish: str | None, has_tools: bool, matched: Any) -> tuple[str, str | None]:
    if finish == "length":
        return "max_tokens", None
    if finish == "content_filter":
        return "refusal", None
    if has_tools:
        return "tool_use", None  # some servers say "stop" (or nothing) after tool calls
    if finish == "stop" and isinstance(matched, str) and matched:
        return "stop_sequence", matched  # vLLM names the stop string it matched
    return _STOP_REASONS.get(finish or "stop", "end_turn"), None


def _usage(usage: Any, input_estimate: int = 0) -> dict[str, int]:
    if not isinstance(usage, dict):
        return {
            "input_tokens": input_estimate,
            "output_tokens": 0,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        }
    prompt = usage.get("prompt_tokens") or 0
    details = usage.get("prompt_tokens_details") or {}
    cached = details.get("cached_tokens") or usage.get("prompt_cache_hit_tokens") or 0
    written = details.get("cache_write_tokens") or 0
    return {
        # Anthropic counts cached tokens separately; OpenAI includes them in prompt_tokens.
        "input_tokens": max(prompt - cached - written, 0),
        "output_tokens": usage.get("completion_tokens") or 0,
        "cache_creation_input_tokens": written,
        "cache_read_input_tokens": cached,
    }


def _split_think(text: str) -> tuple[str, str]:
    """(thinking, text) for content that opens with a `<think>` section."""
    stripped = text.lstrip()
    if not stripped.startswith("<think>"):
        return "", text
    end = stripped.find("</think>")
    if end == -1:
        return stripped[7:], ""  # cut off mid-thought (max_tokens)
    return stripped[7:end], stripped[end + 8 :].lstrip()


def _parse_arguments(arguments: Any) -> dict:
    if isinstance(arguments, dict):
        return arguments
    if not arguments:
        return {}
    try:
        value = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        text = arguments.strip()
        if text.startswith("```"):  # some local models fence their JSON
            text = text.strip("`").removeprefix("json").strip()
            try:
                value = orjson.loads(text)
            except orjson.JSONDecodeError:
                return {}
        else:
            return {}
    return value if isinstance(value, dict) else {"value": value}


class _ClientIds:
    """tool_use ids the client (and Anthropic, should the session move there) accepts:
    `^[A-Za-z0-9_-]+$`, unique within the message. Numeric ids (OpenRouter) and
    missing ones are replaced by ids derived from the message id."""

    __slots__ = ("_base", "_n", "_seen")

    def __init__(self, message_id: str) -> None:
        self._base = message_id.removeprefix("msg_")[:24]
        self._seen: set[str] = set()
        self._n = 0

    def __call__(self, raw: Any) -> str:
        cid = raw if isinstance(raw, str) else ""
        if cid and not _VALID_TOOLU_ID.fullmatch(cid):
            cid = _NAME_BAD_CHARS.sub("_", cid)
        if not cid or cid.isdigit() or cid in self._seen:
            self._n += 1
            cid = f"toolu_{self._base}_{self._n}"
        self._seen.add(cid)
        return cid


def _new_message_id() -> str:
    return f"msg_{uuid.uuid4().hex[:24]}"


def response_from_openai(resp: dict, *, model: str, tool_names: ToolNames) -> dict:
    """A non-streaming Chat Completion as an Anthropic message.

    Raises UpstreamResponseError when the body reports a failure instead of a
    turn (an `error` object, `finish_reason: "error"`, no choices at all).
    """
    if resp.get("error") or not resp.get("choices"):
        raise UpstreamResponseError(upstream_error_message(resp))
    choice = resp["choices"][0]
    finish = choice.get("finish_reason")
    if finish == "error":
        raise UpstreamResponseError(upstream_error_message(choice) or "upstream error")
    message = choice.get("message") or {}
    text = message.get("content") or ""
    if isinstance(text, list):
        text = "".join(p.get("text", "") for p in text if isinstance(p, dict))
    thinking = message.get("reasoning_content") or message.get("reasoning") or ""
    tagged, text = _split_think(text)
    if tagged:
        thinking = f"{thinking}\n\n{tagged}" if thinking else tagged
    message_id = f"msg_{resp['id']}" if resp.get("id") else _new_message_id()
    blocks: list[dict] = []
    if thinking:
        blocks.append({"type": "thinking", "thinking": thinking, "signature": THINKING_SIGNATURE})
    refusal = message.get("refusal")
    if refusal and not text:
        text, finish = refusal, "content_filter"
    if text.strip():
        blocks.append({"type": "text", "text": text.lstrip() if thinking else text})
    calls = message.get("tool_calls") or []
    if not calls and message.get("function_call"):
        calls = [{"function": message["function_call"]}]
    client_id = _ClientIds(message_id)
    for call in calls:
        function = call.get("function") or {}
        blocks.append(
            {
                "type": "tool_use",
                "id": client_id(call.get("id")),
                "name": tool_names.client(function.get("name") or ""),
                "input": _parse_arguments(function.get("arguments")),
            }
        )
    stop_reason, stop_sequence = _stop_reason(finish, bool(calls), choice.get("stop_reason"))
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": blocks,
        "stop_reason": stop_reason,
        "stop_sequence": stop_sequence,
        "usage": _usage(resp.get("usage")),
    }
