"""An Anthropic Messages request → an OpenAI Chat Completions request.

`request_to_openai` makes one pass over the request, sanitizing history on the way. Pure:
no I/O, no logging, no deep copies; large leaves (tool schemas, image data, text) are shared
with the input, never copied.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from typing import Any

import orjson

# Top-level request fields that have no Chat Completions equivalent and are left
# out on purpose. `request_to_openai` carries over only the fields it knows, so a
# field new to Claude Code is left out too.
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
        apply_tool_choice(
            body.get("tool_choice"),
            names,
            {t["function"]["name"] for t in tools},
            out,
            lambda name: {"type": "function", "function": {"name": name}},
        )

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


def apply_tool_choice(
    choice: Any, names: ToolNames, sent: set[str], out: dict, named: Callable[[str], dict]
) -> None:
    """Anthropic's `tool_choice` in OpenAI's words (chat and Responses alike); `named`
    writes a choice of one tool in the surface's own shape."""
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
        if name in sent:
            out["tool_choice"] = named(name)
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
