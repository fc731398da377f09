"""Anthropic Messages client → OpenAI Chat Completions upstream, and the way back.

Three pieces: `request_to_openai` (one pass over the request, sanitizing history
on the way), `response_from_openai` (a whole Chat Completion → an Anthropic
message) and `OpenAIStreamTranslator` (chat.completion.chunk dicts → Anthropic
SSE events). All pure: no I/O, no logging, no deep copies; large leaves (tool
schemas, image data, text) are shared with the input, never copied.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from typing import Any

import orjson

from tether.gateway.translate.errors import UpstreamResponseError, upstream_error_message
from tether.gateway.translate.sse import encode_sse

__all__ = [
    "DROPPED_FIELDS",
    "THINKING_SIGNATURE",
    "OpenAIStreamTranslator",
    "ToolNames",
    "encode_sse",
    "ignored_fields",
    "request_to_openai",
    "response_from_openai",
]

# Top-level request fields that have no Chat Completions equivalent and are left
# out on purpose. (Fields in neither this list nor HANDLED_FIELDS are left out
# too; `ignored_fields` names them so the app can log new Claude Code fields.)
DROPPED_FIELDS = frozenset(
    {
        "context_management",  # server-side thinking/tool-result clearing: Anthropic only
        "output_config",  # only its `effort` is used, as reasoning_effort
        "betas",  # Anthropic beta flags; an OpenAI server would 400 on them
        "metadata",  # user_id is ~150 chars of account ids; OpenRouter rejects > 128
        "cache_control",  # prompt-caching breakpoints; OpenAI caches automatically
        "service_tier",
        "container",
        "mcp_servers",
        "top_k",  # not in the OpenAI API; OpenAI itself rejects it
        "speed",
        "inference_geo",
    }
)
HANDLED_FIELDS = frozenset(
    {
        "model",
        "messages",
        "system",
        "tools",
        "tool_choice",
        "thinking",
        "max_tokens",
        "stop_sequences",
        "temperature",
        "top_p",
        "stream",
    }
)

# Thinking blocks made from another provider's reasoning carry this signature, so
# they can be recognised (and left out) if the conversation later goes to Anthropic.
THINKING_SIGNATURE = "tether:openai"

_MAX_NAME = 64
_VALID_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_NAME_BAD_CHARS = re.compile(r"[^A-Za-z0-9_-]")
_VALID_CALL_ID = re.compile(r"[A-Za-z0-9_-]{1,40}")
_VALID_TOOLU_ID = re.compile(r"[A-Za-z0-9_-]+")
_BILLING_HEADER = "x-anthropic-billing-header:"
_INTERRUPTED = "The tool call was interrupted before it returned a result."
_EMPTY_RESULT = "(no output)"

# Claude's adaptive-thinking effort levels → OpenAI's reasoning_effort values.
_EFFORT = {
    "minimal": "minimal",
    "low": "low",
    "medium": "medium",
    "high": "high",
    "xhigh": "high",
    "max": "high",
}
# Models known to take `reasoning_effort` (others, e.g. gpt-4o, reject it).
_EFFORT_MODELS = ("o1", "o3", "o4", "gpt-5", "gpt-oss", "grok-3-mini")


class ToolNames:
    """Tool names as the upstream sees them, mapped back to the client's.

    OpenAI requires `^[A-Za-z0-9_-]{1,64}$`; MCP tools often exceed 64 characters.
    Such a name becomes its first 55 valid characters + `_` + 8 hex digits of
    its SHA-256: deterministic, so one conversation maps the same way each turn.
    """

    __slots__ = ("_to_client", "_to_upstream")

    def __init__(self) -> None:
        self._to_client: dict[str, str] = {}
        self._to_upstream: dict[str, str] = {}

    def upstream(self, name: str) -> str:
        if _VALID_NAME.fullmatch(name):
            return name
        known = self._to_upstream.get(name)
        if known is not None:
            return known
        digest = hashlib.sha256(name.encode()).hexdigest()[:8]
        short = f"{_NAME_BAD_CHARS.sub('_', name)[: _MAX_NAME - 9]}_{digest}".lstrip("_") or digest
        self._to_upstream[name] = short
        self._to_client[short] = name
        return short

    def client(self, name: str) -> str:
        return self._to_client.get(name, name)

    def __len__(self) -> int:
        return len(self._to_client)


class _CallIds:
    """Tool-call ids in the form an OpenAI-compatible server accepts.

    `default`: ids of 1-40 characters from `[A-Za-z0-9_-]` pass unchanged (Claude's
    `toolu_…` ids do); others become `call_` + 24 hex of their hash. `mistral`:
    exactly 9 alphanumerics. Deterministic, so a tool_use and its tool_result
    always agree without any shared state.
    """

    __slots__ = ("_cache", "_style")

    def __init__(self, style: str) -> None:
        if style not in ("default", "mistral"):
            raise ValueError(f"unknown tool_id_style {style!r} (use 'default' or 'mistral')")
        self._style = style
        self._cache: dict[str, str] = {}

    def __call__(self, cid: str) -> str:
        if self._style == "default" and _VALID_CALL_ID.fullmatch(cid):
            return cid
        known = self._cache.get(cid)
        if known is None:
            digest = hashlib.sha256(cid.encode()).hexdigest()
            known = digest[:9] if self._style == "mistral" else f"call_{digest[:24]}"
            self._cache[cid] = known
        return known


def ignored_fields(body: dict) -> list[str]:
    """Top-level fields of `body` that `request_to_openai` does not carry over."""
    return [k for k in body if k not in HANDLED_FIELDS]


def request_to_openai(
    body: dict,
    *,
    model: str,
    max_tokens_limit: int | None = None,
    reasoning: str = "auto",
    echo_reasoning: bool = False,
    tool_id_style: str = "default",
    mid_system: str = "user",
    max_tokens_field: str | None = None,
) -> tuple[dict, ToolNames]:
    """An Anthropic Messages request as a Chat Completions request for `model`.

    reasoning: "effort" always maps thinking/effort to `reasoning_effort`, "none"
      never does, "auto" does for model families known to accept it.
    echo_reasoning: send past thinking back as `reasoning_content` on assistant
      turns (DeepSeek thinking mode and similar require it; others reject it).
    tool_id_style: "default" or "mistral" (9 alphanumerics).
    mid_system: where `role: system` messages inside `messages` go: "user" (a
      user turn at the same place, cache-friendly) or "merge" (appended to the
      leading system message, for servers that allow only one).
    max_tokens_field: "max_tokens" or "max_completion_tokens"; by default the
      latter for the model families OpenAI requires it of (o-series, gpt-5).
    """
    if reasoning not in ("auto", "effort", "none"):
        raise ValueError(f"unknown reasoning mode {reasoning!r} (use auto, effort or none)")
    if mid_system not in ("user", "merge"):
        raise ValueError(f"unknown mid_system mode {mid_system!r} (use user or merge)")
    names = ToolNames()
    call_id = _CallIds(tool_id_style)
    system_texts = _system_texts(body.get("system"))
    referenced: set[str] = set()  # deferred tools loaded through ToolSearch
    out_messages = _convert_messages(
        body.get("messages") or (),
        names,
        call_id,
        system_texts,
        referenced,
        echo_reasoning=echo_reasoning,
        merge_system=mid_system == "merge",
    )
    if system_texts:
        out_messages.insert(0, {"role": "system", "content": "\n\n".join(system_texts)})
    out: dict[str, Any] = {"model": model, "messages": out_messages}

    tools = _convert_tools(body.get("tools"), names, referenced)
    if tools:
        out["tools"] = tools
        _apply_tool_choice(body.get("tool_choice"), names, tools, out)

    effort = _reasoning_effort(body)
    if effort and (reasoning == "effort" or (reasoning == "auto" and _takes_effort(model))):
        out["reasoning_effort"] = effort

    max_tokens = body.get("max_tokens")
    if max_tokens_limit is not None and (max_tokens is None or max_tokens > max_tokens_limit):
        max_tokens = max_tokens_limit
    if max_tokens is not None:
        if max_tokens_field is None:
            max_tokens_field = "max_completion_tokens" if _takes_effort(model) else "max_tokens"
        out[max_tokens_field] = max_tokens
    stop = body.get("stop_sequences")
    if stop:
        out["stop"] = stop
    for key in ("temperature", "top_p"):
        value = body.get(key)
        if value is not None:
            out[key] = value
    if body.get("stream"):
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}
    return out, names


# -- request pieces -------------------------------------------------------------


def _system_texts(system: Any) -> list[str]:
    if not system:
        return []
    if isinstance(system, str):
        return [system]
    texts = []
    for block in system:
        text = block.get("text") if isinstance(block, dict) else None
        # Claude Code's billing line changes every release and would bust the
        # upstream's prompt cache; it means nothing to another provider.
        if text and not text.startswith(_BILLING_HEADER):
            texts.append(text)
    return texts


def _texts(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "\n\n".join(
        b["text"] for b in content or () if b.get("type") == "text" and b.get("text")
    )


def _next_result_ids(messages: Any, i: int) -> set[str]:
    """tool_use ids answered by the next user message (system messages skipped)."""
    n = len(messages)
    j = i + 1
    while j < n and messages[j].get("role") == "system":
        j += 1
    if j == n or messages[j].get("role") != "user":
        return set()
    content = messages[j].get("content")
    if not isinstance(content, list):
        return set()
    return {b.get("tool_use_id") for b in content if b.get("type") == "tool_result"}


def _convert_messages(
    messages: Any,
    names: ToolNames,
    call_id: _CallIds,
    system_texts: list[str],
    referenced: set[str],
    *,
    echo_reasoning: bool,
    merge_system: bool,
) -> list[dict]:
    out: list[dict] = []
    awaiting: set[str] = set()  # tool_use ids whose results the next user turn carries
    pending_system: list[str] = []  # mid-conversation system text waiting for a safe spot
    for i, msg in enumerate(messages):
        role = msg.get("role")
        content = msg.get("content")
        if role == "system":
            text = _texts(content)
            if not text:
                continue
            if merge_system or not out:
                system_texts.append(text)
            elif out[-1]["role"] == "user":
                _append_user_text(out[-1], _as_reminder(text))
            else:
                # After tool calls the results must come first; otherwise the next
                # user turn (or a turn of its own) carries it.
                pending_system.append(_as_reminder(text))
            continue
        if role == "user":
            awaiting = _convert_user(content, out, call_id, awaiting, pending_system, referenced)
            pending_system = []
        elif role == "assistant":
            if pending_system:
                out.append(_user_message([{"type": "text", "text": t} for t in pending_system]))
                pending_system = []
            awaiting = _convert_assistant(
                content, messages, i, out, names, call_id, echo_reasoning=echo_reasoning
            )
        # Other roles do not exist in the Messages API; nothing to carry.
    if pending_system:
        out.append(_user_message([{"type": "text", "text": t} for t in pending_system]))
    return out


def _as_reminder(text: str) -> str:
    return f"<system-reminder>\n{text}\n</system-reminder>"


def _append_user_text(message: dict, text: str) -> None:
    content = message["content"]
    if isinstance(content, str):
        message["content"] = f"{content}\n\n{text}" if content else text
    else:
        content.append({"type": "text", "text": text})


def _user_message(parts: list[dict]) -> dict:
    # Plain strings where possible: some local servers take no content arrays.
    if all(p["type"] == "text" for p in parts):
        return {"role": "user", "content": "\n\n".join(p["text"] for p in parts)}
    return {"role": "user", "content": parts}


def _convert_user(
    content: Any,
    out: list[dict],
    call_id: _CallIds,
    awaiting: set[str],
    pending_system: list[str],
    referenced: set[str],
) -> set[str]:
    parts: list[dict] = [{"type": "text", "text": t} for t in pending_system]
    if isinstance(content, str):
        if content:
            parts.append({"type": "text", "text": content})
        if parts:
            out.append(_user_message(parts))
        return set()
    result_images: list[dict] = []
    own: list[dict] = []
    for block in content or ():
        kind = block.get("type")
        if kind == "text":
            if block.get("text"):
                own.append({"type": "text", "text": block["text"]})
        elif kind == "tool_result":
            cid = block.get("tool_use_id")
            if cid not in awaiting:
                continue  # orphan (its call was compacted away) or a duplicate
            awaiting.discard(cid)
            text, images = _tool_result(block, referenced)
            out.append({"role": "tool", "tool_call_id": call_id(cid), "content": text})
            result_images.extend(images)
        elif kind == "image":
            part = _image_part(block)
            if part:
                own.append(part)
        elif kind == "document":
            part = _document_part(block)
            if part:
                own.append(part)
        # thinking/redacted_thinking/search results in a user turn: nothing to carry.
    if result_images:
        # Tool messages are text-only on most servers; images a tool returned
        # (screenshots, PDF pages) ride in the user turn right after them.
        parts.append({"type": "text", "text": "Images returned by the tool calls above:"})
        parts.extend(result_images)
    parts.extend(own)
    if parts:
        out.append(_user_message(parts))
    return set()


def _tool_result(block: dict, referenced: set[str]) -> tuple[str, list[dict]]:
    content = block.get("content")
    images: list[dict] = []
    if isinstance(content, str):
        text = content
    else:
        texts = []
        for part in content or ():
            kind = part.get("type")
            if kind == "text":
                if part.get("text"):
                    texts.append(part["text"])
            elif kind == "image":
                image = _image_part(part)
                if image:
                    images.append(image)
            elif kind == "tool_reference":
                # ToolSearch loaded a deferred tool: send its schema from now on.
                name = part.get("tool_name") or ""
                referenced.add(name)
                texts.append(f"Tool {name} is now available.")
            elif kind == "document":
                doc = _document_part(part)
                if doc and doc["type"] == "text":
                    texts.append(doc["text"])
            elif isinstance(part.get("text"), str) and part["text"]:
                texts.append(part["text"])
        text = "\n".join(texts)
    if block.get("is_error") and not text.startswith(("Error", "<tool_use_error>")):
        text = f"Error: {text}" if text else "Error"
    return text or _EMPTY_RESULT, images


def _image_part(block: dict) -> dict | None:
    source = block.get("source") or {}
    kind = source.get("type")
    if kind == "base64":
        url = f"data:{source.get('media_type', 'image/png')};base64,{source.get('data', '')}"
    elif kind == "url":
        url = source.get("url") or ""
    else:
        return None  # Files API references cannot be resolved outside Anthropic
    return {"type": "image_url", "image_url": {"url": url}} if url else None


def _document_part(block: dict) -> dict | None:
    source = block.get("source") or {}
    kind = source.get("type")
    title = block.get("title")
    if kind == "base64":
        media = source.get("media_type", "application/pdf")
        return {
            "type": "file",
            "file": {
                "filename": title or "document.pdf",
                "file_data": f"data:{media};base64,{source.get('data', '')}",
            },
        }
    if kind == "text":
        text = source.get("data") or ""
    elif kind == "content":
        inner = source.get("content")
        text = _texts(inner) if inner else ""
    elif kind == "url":
        text = f"[document: {source.get('url', '')}]"
    else:
        return None
    if title and text:
        text = f"{title}\n\n{text}"
    return {"type": "text", "text": text} if text else None


def _convert_assistant(
    content: Any,
    messages: Any,
    i: int,
    out: list[dict],
    names: ToolNames,
    call_id: _CallIds,
    *,
    echo_reasoning: bool,
) -> set[str]:
    if isinstance(content, str):
        if content:
            out.append({"role": "assistant", "content": content})
        return set()
    texts: list[str] = []
    thoughts: list[str] = []
    calls: list[dict] = []
    for block in content or ():
        kind = block.get("type")
        if kind == "text":
            if block.get("text"):
                texts.append(block["text"])
        elif kind == "tool_use":
            calls.append(block)
        elif kind == "thinking" and echo_reasoning and block.get("thinking"):
            thoughts.append(block["thinking"])
        # redacted_thinking, server_tool_use and their results: Anthropic-only.
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) or None}
    if thoughts:
        message["reasoning_content"] = "\n\n".join(thoughts)
    if not calls:
        if message["content"] is not None:
            out.append(message)
        return set()
    answered = _next_result_ids(messages, i)
    awaiting: set[str] = set()
    missing: list[str] = []
    tool_calls = []
    for call in calls:
        cid = call.get("id") or ""
        if cid in awaiting:
            continue  # a repeated id would be two calls with one result
        upstream_id = call_id(cid)
        tool_calls.append(
            {
                "id": upstream_id,
                "type": "function",
                "function": {
                    "name": names.upstream(call.get("name") or "tool"),
                    "arguments": orjson.dumps(call.get("input") or {}).decode(),
                },
            }
        )
        if cid in answered:
            awaiting.add(cid)
        else:
            missing.append(upstream_id)
    message["tool_calls"] = tool_calls
    out.append(message)
    # A call without a result (interrupted turn, resumed session) would make the
    # upstream reject the whole request; say what happened instead.
    for upstream_id in missing:
        out.append({"role": "tool", "tool_call_id": upstream_id, "content": _INTERRUPTED})
    return awaiting


def _convert_tools(tools: Any, names: ToolNames, referenced: set[str]) -> list[dict]:
    out = []
    for tool in tools or ():
        schema = tool.get("input_schema")
        if schema is None:
            # Server tools (web_search_*, bash_*, text_editor_*, …) run inside
            # Anthropic's API; no other upstream can run them.
            continue
        name = tool.get("name") or ""
        if tool.get("defer_loading") and name not in referenced:
            continue  # not loaded through ToolSearch yet (or a placeholder)
        function: dict[str, Any] = {"name": names.upstream(name or "tool"), "parameters": schema}
        if tool.get("description"):
            function["description"] = tool["description"]
        out.append({"type": "function", "function": function})
    return out


def _apply_tool_choice(choice: Any, names: ToolNames, tools: list[dict], out: dict) -> None:
    if not isinstance(choice, dict):
        return
    kind = choice.get("type")
    if kind == "any":
        out["tool_choice"] = "required"
    elif kind == "none":
        out["tool_choice"] = "none"
    elif kind == "tool":
        name = names.upstream(choice.get("name") or "")
        # A choice naming a tool that was not sent (a server tool) would 400.
        if any(t["function"]["name"] == name for t in tools):
            out["tool_choice"] = {"type": "function", "function": {"name": name}}
    # "auto" is the default whenever tools are present; leaving it out suits
    # servers that reject an explicit tool_choice.
    if choice.get("disable_parallel_tool_use"):
        out["parallel_tool_calls"] = False


def _reasoning_effort(body: dict) -> str | None:
    thinking = body.get("thinking")
    kind = thinking.get("type") if isinstance(thinking, dict) else None
    if kind == "disabled":
        return None
    config = body.get("output_config")
    effort = config.get("effort") if isinstance(config, dict) else None
    if effort:
        return _EFFORT.get(effort, "medium")
    if kind == "adaptive":
        return "medium"
    if kind == "enabled":
        budget = thinking.get("budget_tokens") or 0
        return "low" if budget <= 2048 else "medium" if budget <= 16384 else "high"
    return None


def _takes_effort(model: str) -> bool:
    base = model.rsplit("/", 1)[-1].lower()
    return base.startswith(_EFFORT_MODELS)


# -- responses --------------------------------------------------------------------

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


# -- streaming --------------------------------------------------------------------

_THINK_OPEN = "<think>"
_THINK_CLOSE = "</think>"


def _partial_tag(s: str, tag: str) -> int:
    """Length of the longest proper prefix of `tag` that `s` ends with."""
    for k in range(min(len(tag) - 1, len(s)), 0, -1):
        if s.endswith(tag[:k]):
            return k
    return 0


class _Tool:
    __slots__ = ("args", "block", "id", "name")

    def __init__(self) -> None:
        self.id = ""
        self.name = ""
        self.args: list[str] = []
        self.block: int | None = None


Event = tuple[str, dict]


class OpenAIStreamTranslator:
    """chat.completion.chunk dicts in, Anthropic SSE `(event, data)` pairs out.

    Blocks open lazily on the first non-empty delta and strictly one after
    another. The first tool call streams its arguments live; parallel calls
    whose chunks interleave by `index` are buffered and emitted whole, in index
    order, when the stream finishes (Anthropic blocks cannot interleave).
    Text or thinking that arrives after tool calls started follows them.
    """

    def __init__(
        self,
        model: str,
        tool_names: ToolNames,
        message_id: str | None = None,
        *,
        input_tokens: int = 0,
        think_tags: bool = True,
    ) -> None:
        self.model = model
        self.tool_names = tool_names
        self.message_id = message_id or _new_message_id()
        self._input_tokens = input_tokens
        self._think_tags = think_tags
        self._client_id = _ClientIds(self.message_id)
        self._started = False
        self._done = False
        self._next_index = 0
        self._open: str | None = None  # "text" | "thinking" | "tool_use"
        self._tools: dict[int, _Tool] = {}
        self._live: _Tool | None = None
        self._deferred: list[list[str]] = []  # [kind, text] after tool calls began
        self._finish: str | None = None
        self._matched: Any = None
        self._usage: Any = None
        self._text_seen = False  # non-blank text was emitted: `<think>` is text now
        self._in_think = False
        self._tag_buf = ""
        self._blank = ""  # whitespace held until a text block has something to show

    # public API

    def feed(self, chunk: dict) -> list[Event]:
        out: list[Event] = []
        if self._done:
            return out
        if not self._started:
            self._start(out)
        if chunk.get("error"):
            out.extend(self.fail("api_error", upstream_error_message(chunk)))
            return out
        for choice in chunk.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue  # n > 1 is never requested
            delta = choice.get("delta")
            if delta:
                reasoning = delta.get("reasoning_content") or delta.get("reasoning")
                if reasoning and isinstance(reasoning, str):
                    self._thinking(reasoning, out)
                content = delta.get("content")
                if content and isinstance(content, str):
                    self._content(content, out)
                calls = delta.get("tool_calls")
                if calls:
                    for call in calls:
                        self._tool_delta(call, out)
                elif delta.get("function_call"):
                    self._tool_delta({"index": 0, "function": delta["function_call"]}, out)
            finish = choice.get("finish_reason")
            if finish:
                self._finish = finish
                self._matched = choice.get("stop_reason")
                if finish == "error":
                    out.extend(self.fail("api_error", upstream_error_message(choice)))
                    return out
        usage = chunk.get("usage")
        if usage:
            self._usage = usage
        return out

    def feed_data(self, data: str) -> list[Event]:
        """One SSE `data:` payload as received (JSON text or `[DONE]`)."""
        if data == "[DONE]":
            return self.finish()
        try:
            chunk = orjson.loads(data)
        except orjson.JSONDecodeError:
            return self.fail("api_error", "the upstream sent a stream chunk that is not JSON")
        return self.feed(chunk) if isinstance(chunk, dict) else []

    def finish(self) -> list[Event]:
        out: list[Event] = []
        if self._done:
            return out
        if not self._started:
            self._start(out)
        if self._tag_buf:
            rest, self._tag_buf = self._tag_buf, ""
            if self._in_think:
                self._thinking(rest, out)
            else:
                self._text(rest, out)
        self._close(out)
        for index in sorted(self._tools):
            tool = self._tools[index]
            if tool.block is None:
                self._open_tool(tool, out)
                self._close(out)
        for kind, text in self._deferred:
            if kind == "text":
                text = text.lstrip()
                if not text:
                    continue
            self._open_block(kind, out)
            out.append(self._delta(kind, text))
            self._close(out)
        stop_reason, stop_sequence = _stop_reason(self._finish, bool(self._tools), self._matched)
        out.append(
            (
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": stop_reason, "stop_sequence": stop_sequence},
                    "usage": _usage(self._usage, self._input_tokens),
                },
            )
        )
        out.append(("message_stop", {"type": "message_stop"}))
        self._done = True
        return out

    def fail(self, error_type: str, message: str) -> list[Event]:
        """End the stream with an `error` event (never as assistant text)."""
        if self._done:
            return []
        self._done = True
        return [("error", {"type": "error", "error": {"type": error_type, "message": message}})]

    @staticmethod
    def ping() -> Event:
        return ("ping", {"type": "ping"})

    @property
    def done(self) -> bool:
        return self._done

    # internals

    def _start(self, out: list[Event]) -> None:
        self._started = True
        out.append(
            (
                "message_start",
                {
                    "type": "message_start",
                    "message": {
                        "id": self.message_id,
                        "type": "message",
                        "role": "assistant",
                        "model": self.model,
                        "content": [],
                        "stop_reason": None,
                        "stop_sequence": None,
                        "usage": {
                            "input_tokens": self._input_tokens,
                            "output_tokens": 0,
                            "cache_creation_input_tokens": 0,
                            "cache_read_input_tokens": 0,
                        },
                    },
                },
            )
        )

    def _open_block(self, kind: str, out: list[Event], tool: _Tool | None = None) -> None:
        self._close(out)
        index = self._next_index
        self._next_index += 1
        if kind == "text":
            block: dict[str, Any] = {"type": "text", "text": ""}
        elif kind == "thinking":
            block = {"type": "thinking", "thinking": "", "signature": ""}
        else:
            assert tool is not None
            tool.block = index
            block = {
                "type": "tool_use",
                "id": self._client_id(tool.id),
                "name": self.tool_names.client(tool.name),
                "input": {},
            }
        self._open = kind
        out.append(
            (
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": block},
            )
        )

    def _close(self, out: list[Event]) -> None:
        if self._open is None:
            return
        index = self._next_index - 1
        if self._open == "thinking":
            out.append(
                (
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": index,
                        "delta": {"type": "signature_delta", "signature": THINKING_SIGNATURE},
                    },
                )
            )
        out.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
        self._open = None

    def _delta(self, kind: str, value: str) -> Event:
        if kind == "text":
            delta = {"type": "text_delta", "text": value}
        elif kind == "thinking":
            delta = {"type": "thinking_delta", "thinking": value}
        else:
            delta = {"type": "input_json_delta", "partial_json": value}
        return (
            "content_block_delta",
            {"type": "content_block_delta", "index": self._next_index - 1, "delta": delta},
        )

    def _defer(self, kind: str, text: str) -> None:
        if self._deferred and self._deferred[-1][0] == kind:
            self._deferred[-1][1] += text
        else:
            self._deferred.append([kind, text])

    def _thinking(self, text: str, out: list[Event]) -> None:
        if self._tools:
            self._defer("thinking", text)
            return
        self._blank = ""
        if self._open != "thinking":
            self._open_block("thinking", out)
        out.append(self._delta("thinking", text))

    def _text(self, text: str, out: list[Event]) -> None:
        if self._tools:
            self._defer("text", text)
            return
        if self._open != "text":
            if self._blank:
                text = self._blank + text
            if text.isspace():
                self._blank = text  # never open a block that would stay blank
                return
            self._blank = ""
            text = text.lstrip()
            self._open_block("text", out)
        self._text_seen = True
        out.append(self._delta("text", text))

    def _content(self, text: str, out: list[Event]) -> None:
        if not self._think_tags or (self._text_seen and not self._in_think):
            self._text(text, out)
            return
        s = self._tag_buf + text if self._tag_buf else text
        self._tag_buf = ""
        while s:
            if self._in_think:
                end = s.find(_THINK_CLOSE)
                if end == -1:
                    keep = _partial_tag(s, _THINK_CLOSE)
                    if keep:
                        s, self._tag_buf = s[:-keep], s[-keep:]
                    if s:
                        self._thinking(s, out)
                    return
                if end:
                    self._thinking(s[:end], out)
                self._in_think = False
                s = s[end + len(_THINK_CLOSE) :]
                continue
            if self._text_seen:
                self._text(s, out)
                return
            # `<think>` counts only before any visible text (where reasoning
            # models put it); later it is just text about tags.
            lead = s.lstrip()
            if lead.startswith(_THINK_OPEN):
                self._in_think = True
                self._blank = ""
                s = lead[len(_THINK_OPEN) :]
                continue
            if lead and _THINK_OPEN.startswith(lead):
                self._tag_buf = s  # maybe the start of `<think>`
                return
            self._text(s, out)
            return

    def _tool_delta(self, call: dict, out: list[Event]) -> None:
        index = call.get("index")
        if not isinstance(index, int):
            # Some servers (Gemini's compat layer) omit `index`: a new id is a new
            # call, a known id or none continues one.
            cid = call.get("id")
            known = [i for i, t in self._tools.items() if cid and t.id == cid]
            if known:
                index = known[0]
            elif cid or not self._tools:
                index = max(self._tools, default=-1) + 1
            else:
                index = max(self._tools)
        tool = self._tools.get(index)
        if tool is None:
            if not self._tools:
                self._flush_pending_text(out)
            tool = self._tools[index] = _Tool()
        if call.get("id") and not tool.id:
            tool.id = call["id"]
        function = call.get("function") or {}
        name = function.get("name")
        if name and tool.block is None:
            # Names arrive whole (possibly resent) or in fragments.
            if not tool.name or name.startswith(tool.name):
                tool.name = name
            elif name != tool.name:
                tool.name += name
        args = function.get("arguments")
        if args:
            if tool is self._live:
                out.append(self._delta("tool_use", args))
                return
            tool.args.append(args)
        if self._live is None and tool.name and tool.args and index == min(self._tools):
            self._live = tool
            self._open_tool(tool, out)

    def _open_tool(self, tool: _Tool, out: list[Event]) -> None:
        self._open_block("tool_use", out, tool)
        # A call without arguments still needs valid JSON for its input.
        out.append(self._delta("tool_use", "".join(tool.args) or "{}"))
        tool.args = []

    def _flush_pending_text(self, out: list[Event]) -> None:
        """Tool calls begin: what the tag parser held back is text or thinking now."""
        if self._tag_buf:
            rest, self._tag_buf = self._tag_buf, ""
            if self._in_think:
                self._thinking(rest, out)
            else:
                self._text(rest, out)
