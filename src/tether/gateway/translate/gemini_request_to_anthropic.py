"""Gemini client (generateContent) → the hub format (an Anthropic Messages request).

Gemini function calls carry no ids (or ids the client made up), so each call gets one here
and each functionResponse is paired with a call of the previous model turn: by id when
the client echoed one we know, else the first unanswered call of the same name. Calls
left unanswered get an "interrupted" result, responses
without a call become text: Anthropic rejects either orphan. Pure: no I/O.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from tether.gateway.translate.gemini_schema import schema_from_gemini
from tether.gateway.translate.gemini_wire import decode_thinking, get
from tether.gateway.translate.hub_request import add_turn

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "THINKING_BUDGETS",
    "count_request_to_anthropic",
    "gemini_request_to_anthropic",
]

DEFAULT_MAX_TOKENS = 16384
MIN_THINKING_BUDGET = 1024  # Anthropic's minimum
# Gemini's thinkingLevel → an Anthropic thinking budget.
THINKING_BUDGETS = {"MINIMAL": 1024, "LOW": 2048, "MEDIUM": 8192, "HIGH": 24576}
_DYNAMIC_BUDGET = 8192  # thinkingBudget -1: "as much as it needs"
_BAD_ID_CHARS = re.compile(r"[^A-Za-z0-9_-]")
_INTERRUPTED = "The function call was interrupted before it returned a result."


def gemini_request_to_anthropic(
    body: dict[str, Any],
    *,
    model: str,
    stream: bool = False,
    max_tokens_limit: int | None = None,
) -> dict[str, Any]:
    """A generateContent request body as an Anthropic Messages request for `model`.

    Raises ValueError (a 400 for the client) for what cannot be translated."""
    config = get(body, "generationConfig") or {}
    if not isinstance(config, dict):
        raise ValueError("generationConfig must be an object")
    candidates = get(config, "candidateCount")
    if candidates not in (None, 1):
        raise ValueError("candidateCount > 1 is not supported through this gateway")
    out: dict[str, Any] = {"model": model, "messages": _messages(get(body, "contents"))}
    system = _system(get(body, "systemInstruction"))
    max_tokens = get(config, "maxOutputTokens") or max_tokens_limit or DEFAULT_MAX_TOKENS
    if max_tokens_limit is not None:
        max_tokens = min(max_tokens, max_tokens_limit)
    out["max_tokens"] = max_tokens

    tools, names = _tools(get(body, "tools"))
    choice = _tool_choice(get(get(body, "toolConfig"), "functionCallingConfig"), names)
    allowed = choice.pop("allowed", None) if choice is not None else None
    if allowed is not None:
        tools = [t for t in tools if t["name"] in allowed]
    if tools:
        out["tools"] = tools
        if choice:
            out["tool_choice"] = choice

    budget = _thinking_budget(get(config, "thinkingConfig"), max_tokens)
    if budget:
        out["thinking"] = {"type": "enabled", "budget_tokens": budget}
    else:
        # Anthropic allows sampling settings only without thinking.
        temperature = get(config, "temperature")
        if isinstance(temperature, int | float):
            out["temperature"] = min(max(float(temperature), 0.0), 1.0)  # Gemini allows 2
        for gemini_key, anthropic_key in (("topP", "top_p"), ("topK", "top_k")):
            value = get(config, gemini_key)
            if isinstance(value, int | float):
                out[anthropic_key] = value
    stop = get(config, "stopSequences")
    if isinstance(stop, list) and stop:
        out["stop_sequences"] = [s for s in stop if isinstance(s, str) and s]
    schema = _response_schema(config)
    if schema is not None:
        out["output_config"] = {"format": {"type": "json_schema", "schema": schema}}
        # Said in words too: providers without structured output (most OpenAI-compatible
        # servers) drop output_config, and Gemini CLI retries until the JSON fits.
        system.append(
            "Answer with one JSON value only, no prose and no code fences, that fits this "
            f"JSON schema: {orjson.dumps(schema).decode()}"
        )
    elif get(config, "responseMimeType") == "application/json":
        system.append("Answer with one JSON value only, no prose and no code fences.")
    if system:
        out["system"] = [{"type": "text", "text": text} for text in system]
    if stream:
        out["stream"] = True
    return out


def count_request_to_anthropic(body: dict[str, Any], *, model: str) -> dict[str, Any]:
    """A countTokens body (`contents`, or a whole `generateContentRequest`) as an Anthropic
    count_tokens request: only the fields that endpoint takes."""
    inner = get(body, "generateContentRequest")
    full = gemini_request_to_anthropic(inner if isinstance(inner, dict) else body, model=model)
    return {k: v for k, v in full.items() if k in ("model", "messages", "system", "tools")}


# --- contents ---------------------------------------------------------------------------


def _system(instruction: Any) -> list[str]:
    if isinstance(instruction, str):
        return [instruction] if instruction else []
    parts = get(instruction, "parts") or []
    if not isinstance(parts, list):
        raise ValueError("systemInstruction.parts must be a list")
    for i, part in enumerate(parts):
        if isinstance(part, dict) and not isinstance(part.get("text") or "", str):
            raise ValueError(f"systemInstruction.parts[{i}].text must be a string")
    text = "\n".join(p["text"] for p in parts if isinstance(p, dict) and p.get("text"))
    return [text] if text else []


class _Calls:
    """The function calls of the last model turn still waiting for a response."""

    def __init__(self) -> None:
        self.pending: list[tuple[str, str]] = []  # (id, name)
        self.turn = 0

    def open(self, turn_calls: list[tuple[str, str]]) -> None:
        self.pending = list(turn_calls)

    def answer(self, name: str, given_id: Any) -> str | None:
        for match in (lambda cid, cname: cid == given_id, lambda cid, cname: cname == name):
            for i, (cid, cname) in enumerate(self.pending):
                if match(cid, cname):
                    del self.pending[i]
                    return cid
        return None


def _messages(contents: Any) -> list[dict[str, Any]]:
    if isinstance(contents, dict):
        contents = [contents]
    if not isinstance(contents, list) or not contents:
        raise ValueError("contents must hold at least one message")
    out: list[dict[str, Any]] = []
    calls = _Calls()
    for turn, content in enumerate(contents):
        if not isinstance(content, dict):
            raise ValueError(f"contents[{turn}] must be an object")
        parts = content.get("parts") or []
        if not isinstance(parts, list):
            raise ValueError(f"contents[{turn}].parts must be a list")
        if content.get("role") == "model":
            blocks, turn_calls = _model_blocks(parts, turn)
            _interrupt(out, calls)
            calls.open(turn_calls)
            add_turn(out, "assistant", blocks)
        else:
            blocks = _user_blocks(parts, calls)
            add_turn(out, "user", blocks)
    _interrupt(out, calls)
    if not out:
        raise ValueError("contents hold no text, media or function parts")
    if out[0]["role"] != "user":
        out.insert(0, {"role": "user", "content": [{"type": "text", "text": "(continue)"}]})
    for message in out:
        if message["role"] == "user":
            # Anthropic wants a user turn's tool_result blocks before anything else.
            blocks = message["content"]
            results = [b for b in blocks if b["type"] == "tool_result"]
            if results and blocks[: len(results)] != results:
                message["content"] = results + [b for b in blocks if b["type"] != "tool_result"]
    return out


def _interrupt(out: list[dict[str, Any]], calls: _Calls) -> None:
    """Calls the model made that no response answered: say so, as their results."""
    if not calls.pending:
        return
    results = [
        {"type": "tool_result", "tool_use_id": cid, "content": _INTERRUPTED, "is_error": True}
        for cid, _ in calls.pending
    ]
    calls.pending = []
    if out and out[-1]["role"] == "user":
        out[-1]["content"][:0] = results
    else:
        out.append({"role": "user", "content": results})


def _model_blocks(
    parts: list[Any], turn: int
) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    blocks: list[dict[str, Any]] = []
    thinking: list[dict[str, Any]] = []
    turn_calls: list[tuple[str, str]] = []
    for part in parts:
        if not isinstance(part, dict):
            continue
        # Our own envelope: the signed thinking of this turn, for Anthropic.
        if not thinking:
            thinking = decode_thinking(get(part, "thoughtSignature"))
        call = get(part, "functionCall")
        if isinstance(call, dict):
            name = str(call.get("name") or "tool")
            given = call.get("id")
            cid = _BAD_ID_CHARS.sub("_", given) if isinstance(given, str) and given else ""
            if not cid or any(cid == c for c, _ in turn_calls):
                cid = f"toolu_g{turn}_{len(turn_calls) + 1}"
            args = call.get("args")
            blocks.append(
                {
                    "type": "tool_use",
                    "id": cid,
                    "name": name,
                    "input": args if isinstance(args, dict) else {},
                }
            )
            turn_calls.append((cid, name))
        elif part.get("thought") is True:
            continue  # unsigned thought text: Anthropic takes thinking only with its signature
        elif isinstance(part.get("text"), str):
            if part["text"]:
                blocks.append({"type": "text", "text": part["text"]})
        else:
            block = _other_part(part)
            if block is not None:
                blocks.append(block)
    return thinking + blocks if blocks else blocks, turn_calls


def _user_blocks(parts: list[Any], calls: _Calls) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    for part in parts:
        if not isinstance(part, dict):
            continue
        response = get(part, "functionResponse")
        if isinstance(response, dict):
            name = str(response.get("name") or "")
            cid = calls.answer(name, response.get("id"))
            text, is_error = _response_text(response.get("response"))
            media = [b for b in map(_other_part, response.get("parts") or []) if b]
            if cid is None:
                blocks.append({"type": "text", "text": f"Result of {name or 'a call'}: {text}"})
                blocks.extend(media)
                continue
            result: dict[str, Any] = {"type": "tool_result", "tool_use_id": cid}
            result["content"] = [{"type": "text", "text": text}, *media] if media else text
            if is_error:
                result["is_error"] = True
            blocks.append(result)
        elif isinstance(part.get("text"), str):
            if part["text"] and part.get("thought") is not True:
                blocks.append({"type": "text", "text": part["text"]})
        else:
            block = _other_part(part)
            if block is not None:
                blocks.append(block)
    return blocks


def _response_text(response: Any) -> tuple[str, bool]:
    """A functionResponse's `response` as tool_result text. Gemini CLI sends
    `{"output": "..."}` or `{"error": "..."}`; anything else goes as JSON."""
    if isinstance(response, dict):
        keys = set(response)
        if keys == {"output"} and isinstance(response["output"], str):
            return response["output"] or "(no output)", False
        if keys == {"error"}:
            error = response["error"]
            return (error if isinstance(error, str) else orjson.dumps(error).decode()), True
        if keys == {"content"} and isinstance(response["content"], str):
            return response["content"] or "(no output)", False
    if response is None:
        return "(no output)", False
    return orjson.dumps(response).decode(), False


def _other_part(part: Any) -> dict[str, Any] | None:
    """Media and code parts as Anthropic blocks; None for what has no equivalent."""
    if not isinstance(part, dict):
        return None
    inline = get(part, "inlineData")
    if isinstance(inline, dict):
        mime = str(get(inline, "mimeType") or "application/octet-stream")
        data = inline.get("data") or ""
        if mime.startswith("image/"):
            return {"type": "image", "source": {"type": "base64", "media_type": mime, "data": data}}
        if mime == "application/pdf":
            return {
                "type": "document",
                "source": {"type": "base64", "media_type": mime, "data": data},
            }
        return {"type": "text", "text": f"[attached {mime} data not shown to this model]"}
    file = get(part, "fileData")
    if isinstance(file, dict):
        uri = str(get(file, "fileUri") or "")
        mime = str(get(file, "mimeType") or "")
        if uri.startswith(("http://", "https://")):
            kind = "image" if mime.startswith("image/") else "document"
            return {"type": kind, "source": {"type": "url", "url": uri}}
        return {"type": "text", "text": f"[file {uri}]"}
    code = get(part, "executableCode")
    if isinstance(code, dict) and code.get("code"):
        language = str(code.get("language") or "").lower()
        return {"type": "text", "text": f"```{language}\n{code['code']}\n```"}
    result = get(part, "codeExecutionResult")
    if isinstance(result, dict) and result.get("output"):
        return {"type": "text", "text": str(result["output"])}
    return None


# --- tools and config -------------------------------------------------------------------


def _tools(tools: Any) -> tuple[list[dict[str, Any]], set[str]]:
    out: list[dict[str, Any]] = []
    if isinstance(tools, dict):
        tools = [tools]
    for i, tool in enumerate(tools if isinstance(tools, list) else ()):
        declarations = get(tool, "functionDeclarations") or []
        if not isinstance(declarations, list):
            raise ValueError(f"tools[{i}].functionDeclarations must be a list")
        for decl in declarations:
            if not isinstance(decl, dict) or not decl.get("name"):
                continue
            json_schema = get(decl, "parametersJsonSchema")
            if isinstance(json_schema, dict):
                schema = json_schema
            elif isinstance(decl.get("parameters"), dict):
                schema = schema_from_gemini(decl["parameters"])
            else:
                schema = {"type": "object", "properties": {}}
            if schema.get("type") != "object":
                schema = {**schema, "type": "object"}
            entry: dict[str, Any] = {"name": str(decl["name"]), "input_schema": schema}
            if decl.get("description"):
                entry["description"] = decl["description"]
            out.append(entry)
        # googleSearch, codeExecution, urlContext run inside Google's API only.
    return out, {t["name"] for t in out}


def _tool_choice(config: Any, names: set[str]) -> dict[str, Any] | None:
    if not isinstance(config, dict):
        return None
    mode = str(config.get("mode") or "AUTO").upper()
    allowed = get(config, "allowedFunctionNames")
    allowed = [n for n in allowed if n in names] if isinstance(allowed, list) else None
    if mode == "NONE":
        return {"type": "none"}
    if mode == "ANY":
        if allowed and len(allowed) == 1:
            return {"type": "tool", "name": allowed[0], "allowed": allowed}
        return {"type": "any", "allowed": allowed} if allowed else {"type": "any"}
    return {"type": "auto"}  # AUTO, VALIDATED


def _thinking_budget(config: Any, max_tokens: int) -> int | None:
    if not isinstance(config, dict):
        return None
    budget = get(config, "thinkingBudget")
    level = get(config, "thinkingLevel")
    if isinstance(budget, int) and not isinstance(budget, bool):
        if budget == 0:
            return None
        if budget < 0:
            budget = _DYNAMIC_BUDGET
    elif isinstance(level, str):
        budget = THINKING_BUDGETS.get(level.upper(), _DYNAMIC_BUDGET)
    elif get(config, "includeThoughts") is True:
        budget = _DYNAMIC_BUDGET
    else:
        return None
    # Anthropic wants the budget under max_tokens, and at least 1024.
    budget = min(max(budget, MIN_THINKING_BUDGET), max_tokens // 2)
    return budget if budget >= MIN_THINKING_BUDGET else None


def _response_schema(config: dict[str, Any]) -> dict[str, Any] | None:
    for key in ("responseJsonSchema", "_responseJsonSchema"):
        schema = get(config, key)
        if isinstance(schema, dict):
            # Gemini CLI writes OpenAPI-style types here too ("STRING").
            return schema_from_gemini(schema)
    schema = get(config, "responseSchema")
    return schema_from_gemini(schema) if isinstance(schema, dict) else None
