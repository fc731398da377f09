"""OpenAI Responses request (Codex, `openai.responses.create`) → Anthropic Messages (the hub).

Pure: one pass over the request. What the way back needs (which tools were `custom`
freeform tools, whether reasoning summaries and encrypted reasoning were asked for, the
fields a Response object echoes) travels in a `ResponsesContext`.

Reasoning round-trip: a thinking block leaves as a `reasoning` item whose
`encrypted_content` is `REASONING_PREFIX` + base64 of the thinking text and signature, so
it comes back exactly (Anthropic checks the signature); reasoning items from elsewhere
cannot be replayed to Anthropic and are left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Shared with the Chat Completions → Anthropic translator: the same rules apply.
from tether.gateway.translate.hub_request import add_turn
from tether.gateway.translate.openai_request_to_anthropic import (
    _arguments,
    _media_block,
    _results_first,
    _tool_id,
    function_tool,
    with_parallel,
    word_tool_choice,
)
from tether.gateway.translate.packed import pack, unpack

__all__ = [
    "REASONING_PREFIX",
    "ResponsesContext",
    "pack_reasoning",
    "responses_to_anthropic",
    "unpack_reasoning",
]

REASONING_PREFIX = "tether-an1:"
# Anthropic requires max_tokens; Codex never sends max_output_tokens.
DEFAULT_MAX_TOKENS = 32000
# reasoning.effort → thinking budget (Anthropic's minimum budget is 1024).
_BUDGETS = {"minimal": 1024, "low": 2048, "medium": 8192, "high": 24576, "xhigh": 32000}
_INTERRUPTED = "The tool call was interrupted before it returned a result."
_CUSTOM_INPUT = "input"
# Fields that need server-side state tether does not keep.
_STATEFUL = {
    "previous_response_id": "previous_response_id is not supported by this gateway: it keeps "
    "no responses; send the whole conversation in `input` with store: false",
    "conversation": "conversation is not supported by this gateway: it keeps no "
    "conversations; send the whole conversation in `input` with store: false",
}


@dataclass
class ResponsesContext:
    """What the answer's translation needs to know about the request."""

    model: str
    custom_tools: set[str] = field(default_factory=set)
    # tool name → namespace, for tools offered inside a `namespace` tool.
    namespaces: dict[str, str] = field(default_factory=dict)
    summaries: bool = False
    encrypted_reasoning: bool = False
    # Request fields a Response object repeats back.
    echo: dict[str, Any] = field(default_factory=dict)


def pack_reasoning(thinking: str, signature: str) -> str:
    return pack(REASONING_PREFIX, {"thinking": thinking, "signature": signature})


def unpack_reasoning(encrypted: Any) -> dict[str, str] | None:
    """The thinking block packed by `pack_reasoning`, or None for anyone else's."""
    data = unpack(REASONING_PREFIX, encrypted)
    if data is None:
        return None
    thinking, signature = data.get("thinking"), data.get("signature")
    if not isinstance(thinking, str) or not isinstance(signature, str):
        return None
    if thinking == "" and signature.startswith("redacted:"):
        return {"type": "redacted_thinking", "data": signature[len("redacted:") :]}
    return {"type": "thinking", "thinking": thinking, "signature": signature}


def responses_to_anthropic(
    body: dict, *, model: str, max_tokens_limit: int | None = None
) -> tuple[dict, ResponsesContext]:
    """A Responses request as an Anthropic Messages request for `model`.

    Raises ValueError (a 400 for the client) for what cannot be served:
    previous_response_id / conversation (no stored state), background mode, no input.
    """
    for key, message in _STATEFUL.items():
        if body.get(key):
            raise ValueError(message)
    if body.get("background"):
        raise ValueError("background responses are not supported by this gateway")
    ctx = ResponsesContext(model=str(body.get("model") or model))
    tools = _convert_tools(body.get("tools"), ctx)

    system: list[dict] = []
    instructions = body.get("instructions")
    if isinstance(instructions, str) and instructions:
        system.append({"type": "text", "text": instructions})
    messages = _convert_input(body.get("input"), system, ctx)
    if not messages:
        raise ValueError("input must hold at least one message")
    out: dict[str, Any] = {"model": model, "messages": messages}
    if system:
        out["system"] = system

    max_tokens = body.get("max_output_tokens")
    if not isinstance(max_tokens, int) or max_tokens < 1:
        max_tokens = max_tokens_limit or DEFAULT_MAX_TOKENS
    elif max_tokens_limit is not None:
        max_tokens = min(max_tokens, max_tokens_limit)
    out["max_tokens"] = max_tokens

    if tools:
        out["tools"] = tools
        choice = _tool_choice(body.get("tool_choice"), body.get("parallel_tool_calls"), tools)
        if choice is not None:
            out["tool_choice"] = choice

    reasoning = body.get("reasoning")
    reasoning = reasoning if isinstance(reasoning, dict) else {}
    effort = reasoning.get("effort")
    budget = _BUDGETS.get(effort) if isinstance(effort, str) else None
    if budget is not None and max_tokens > 1024 and _can_think(messages):
        out["thinking"] = {"type": "enabled", "budget_tokens": min(budget, max_tokens - 1)}
    else:
        # Thinking requires the default sampling, so these go only without it.
        temperature = body.get("temperature")
        if isinstance(temperature, int | float):
            out["temperature"] = min(max(float(temperature), 0.0), 1.0)  # OpenAI allows 2
        if isinstance(body.get("top_p"), int | float):
            out["top_p"] = body["top_p"]
    summary = reasoning.get("summary") or reasoning.get("generate_summary")
    ctx.summaries = isinstance(summary, str) and summary != "none"
    include = body.get("include")
    ctx.encrypted_reasoning = isinstance(include, list) and (
        "reasoning.encrypted_content" in include
    )

    user = body.get("user") or body.get("safety_identifier")
    if isinstance(user, str) and user:
        out["metadata"] = {"user_id": user[:256]}
    text = body.get("text")
    fmt = text.get("format") if isinstance(text, dict) else None
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema" and fmt.get("schema"):
        out["output_config"] = {"format": {"type": "json_schema", "schema": fmt["schema"]}}
    if body.get("stream"):
        out["stream"] = True
    if body.get("prompt_cache_key"):
        _cache_breakpoints(out)

    ctx.echo = {
        "instructions": instructions if isinstance(instructions, str) else None,
        "max_output_tokens": body.get("max_output_tokens"),
        "metadata": body.get("metadata") if isinstance(body.get("metadata"), dict) else {},
        "parallel_tool_calls": body.get("parallel_tool_calls") is not False,
        "reasoning": {"effort": effort, "summary": summary} if reasoning else None,
        "temperature": body.get("temperature"),
        "text": text if isinstance(text, dict) else {"format": {"type": "text"}},
        "tool_choice": body.get("tool_choice") or "auto",
        "tools": body.get("tools") if isinstance(body.get("tools"), list) else [],
        "top_p": body.get("top_p"),
        "user": body.get("user"),
        "prompt_cache_key": body.get("prompt_cache_key"),
        "store": False,
    }
    return out, ctx


def _can_think(messages: list[dict]) -> bool:
    """Anthropic refuses thinking mid tool loop when the assistant turn that called the
    tools carries no thinking block (a client that did not keep its reasoning items):
    such a turn goes without thinking rather than fail."""
    last = messages[-1]
    if len(messages) < 2 or last["role"] != "user" or last["content"][0]["type"] != "tool_result":
        return True
    return any(b["type"] in ("thinking", "redacted_thinking") for b in messages[-2]["content"])


def _cache_breakpoints(out: dict) -> None:
    """The client asks for prompt caching (Codex always does); Anthropic caches only up to
    marked blocks. Mark the end of the tools, of the system prompt and of the conversation:
    each turn then reads the previous turn's prefix from the cache."""
    marker = {"type": "ephemeral"}
    if out.get("tools"):
        out["tools"][-1] = {**out["tools"][-1], "cache_control": marker}
    if out.get("system"):
        out["system"][-1] = {**out["system"][-1], "cache_control": marker}
    content = out["messages"][-1]["content"]
    for i in range(len(content) - 1, -1, -1):
        if content[i]["type"] not in ("thinking", "redacted_thinking"):
            content[i] = {**content[i], "cache_control": marker}
            break


# -- input items -------------------------------------------------------------------


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(
        p.get("text") or ""
        for p in content or ()
        if isinstance(p, dict) and p.get("type") in ("input_text", "output_text", "text")
    )


def _content_blocks(content: Any) -> list[dict]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    blocks: list[dict] = []
    for part in content or ():
        if not isinstance(part, dict):
            continue
        kind = part.get("type")
        if kind in ("input_text", "output_text", "text"):
            if part.get("text"):
                blocks.append({"type": "text", "text": part["text"]})
        elif kind == "refusal":
            if part.get("refusal"):
                blocks.append({"type": "text", "text": part["refusal"]})
        elif kind == "input_image":
            url = part.get("image_url")
            block = _media_block("image", url) if isinstance(url, str) else None
            if block:
                blocks.append(block)
        elif kind == "input_file":
            data = part.get("file_data") or part.get("file_url")
            block = _media_block("document", data) if isinstance(data, str) else None
            if block:
                blocks.append(block)
    return blocks


def _output_blocks(output: Any) -> list[dict]:
    if isinstance(output, str):
        return [{"type": "text", "text": output}] if output else []
    return _content_blocks(output)


def _convert_input(items: Any, system: list[dict], ctx: ResponsesContext) -> list[dict]:
    if isinstance(items, str):
        return [{"role": "user", "content": [{"type": "text", "text": items}]}] if items else []
    out: list[dict] = []
    called: set[str] = set()
    answered: set[str] = set()

    def add(role: str, blocks: list[dict]) -> None:
        add_turn(out, role, blocks)

    for item in items or ():
        if not isinstance(item, dict):
            continue
        kind = item.get("type") or "message"
        if kind == "message":
            role = item.get("role")
            if role in ("system", "developer"):
                text = _text_of(item.get("content"))
                if text:
                    system.append({"type": "text", "text": text})
            elif role in ("user", "assistant"):
                add(role, _content_blocks(item.get("content")))
        elif kind in ("function_call", "custom_tool_call"):
            cid = _tool_id(item.get("call_id") or item.get("id"))
            called.add(cid)
            name = item.get("name") or "tool"
            if kind == "custom_tool_call":
                tool_input: dict = {_CUSTOM_INPUT: item.get("input") or ""}
            else:
                tool_input = _arguments(item.get("arguments"))
            add("assistant", [{"type": "tool_use", "id": cid, "name": name, "input": tool_input}])
        elif kind in ("function_call_output", "custom_tool_call_output"):
            cid = _tool_id(item.get("call_id"))
            if cid not in called or cid in answered:
                continue  # an orphan result would be refused by Anthropic
            answered.add(cid)
            block: dict[str, Any] = {"type": "tool_result", "tool_use_id": cid}
            content = _output_blocks(item.get("output"))
            if content:
                block["content"] = content
            add("user", [block])
        elif kind == "reasoning":
            restored = unpack_reasoning(item.get("encrypted_content"))
            if restored is not None:
                add("assistant", [restored])
        # item_reference, web_search_call, local_shell_call, ...: nothing to replay.
    _answer_interrupted(out, called - answered)
    if out and out[0]["role"] != "user":
        out.insert(0, {"role": "user", "content": [{"type": "text", "text": "(continue)"}]})
    for message in out:
        if message["role"] == "assistant":
            _thinking_first(message)
        else:
            _results_first(message)
    return out


def _answer_interrupted(messages: list[dict], unanswered: set[str]) -> None:
    """A tool call with no result (an interrupted turn) gets one, right after it:
    Anthropic refuses a tool_use that is not answered in the next message."""
    if not unanswered:
        return
    i = 0
    while i < len(messages):
        message = messages[i]
        ids = [
            b["id"]
            for b in message["content"]
            if message["role"] == "assistant" and b["type"] == "tool_use" and b["id"] in unanswered
        ]
        if ids:
            results = [
                {
                    "type": "tool_result",
                    "tool_use_id": cid,
                    "content": [{"type": "text", "text": _INTERRUPTED}],
                    "is_error": True,
                }
                for cid in ids
            ]
            following = messages[i + 1] if i + 1 < len(messages) else None
            if following is not None and following["role"] == "user":
                following["content"][:0] = results
            else:
                messages.insert(i + 1, {"role": "user", "content": results})
        i += 1


def _thinking_first(message: dict) -> None:
    blocks = message["content"]
    thoughts = [b for b in blocks if b["type"] in ("thinking", "redacted_thinking")]
    if thoughts and blocks[: len(thoughts)] != thoughts:
        message["content"] = thoughts + [b for b in blocks if b not in thoughts]


# -- tools -------------------------------------------------------------------------


def _custom_tool(tool: dict) -> dict:
    """A freeform tool (its input is raw text, e.g. Codex's apply_patch grammar) as a
    function taking that text as one string; the grammar rides in the description."""
    fmt = tool.get("format") if isinstance(tool.get("format"), dict) else {}
    described = tool.get("description") or ""
    if fmt.get("type") == "grammar" and fmt.get("definition"):
        syntax = fmt.get("syntax") or "grammar"
        described = (
            f"{described}\n\nThe `{_CUSTOM_INPUT}` string must follow this {syntax} grammar:"
            f"\n{fmt['definition']}"
        ).strip()
    out: dict[str, Any] = {
        "name": tool.get("name") or "tool",
        "input_schema": {
            "type": "object",
            "properties": {
                _CUSTOM_INPUT: {"type": "string", "description": "The tool's raw input text."}
            },
            "required": [_CUSTOM_INPUT],
        },
    }
    if described:
        out["description"] = described
    return out


def _convert_tools(tools: Any, ctx: ResponsesContext) -> list[dict]:
    out: list[dict] = []
    for tool in tools or ():
        if not isinstance(tool, dict):
            continue
        kind = tool.get("type")
        if kind == "function":
            out.append(function_tool(tool))
        elif kind == "custom":
            ctx.custom_tools.add(tool.get("name") or "tool")
            out.append(_custom_tool(tool))
        elif kind == "namespace":
            for inner in tool.get("tools") or ():
                if not isinstance(inner, dict):
                    continue
                ctx.namespaces[inner.get("name") or "tool"] = tool.get("name") or ""
                if inner.get("type") == "custom":
                    ctx.custom_tools.add(inner.get("name") or "tool")
                    out.append(_custom_tool(inner))
                elif inner.get("type") == "function":
                    out.append(function_tool(inner))
        # Hosted tools (web_search, file_search, code_interpreter, mcp, ...) run at
        # OpenAI; an Anthropic model cannot call them.
    return out


def _tool_choice(choice: Any, parallel: Any, tools: list[dict]) -> dict | None:
    out = word_tool_choice(choice)
    if isinstance(choice, dict):
        name = choice.get("name")
        if choice.get("type") in ("function", "custom") and isinstance(name, str):
            # A choice naming a tool that was not offered would be refused.
            if any(t["name"] == name for t in tools):
                out = {"type": "tool", "name": name}
        elif choice.get("type") == "allowed_tools":
            out = {"type": "any"} if choice.get("mode") == "required" else {"type": "auto"}
    return with_parallel(out, parallel)
