"""The hub format (an Anthropic Messages request) → a Gemini generateContent request.

The model goes in the URL, not the body. Tool schemas are rewritten to Gemini's subset
(gemini_schema); tool names too long or odd for Gemini are shortened the way the OpenAI
translator does (`ToolNames`), and mapped back on the way home. tool_result blocks become
functionResponse parts named after their call; a call left without a result gets an
"interrupted" response, since Gemini wants exactly one response per call. Thought
signatures come back from where the response translator put them (tool_use ids, thinking
signatures). Pure: no I/O.
"""

from __future__ import annotations

from typing import Any

from tether.gateway.translate.anthropic_request_to_openai import ToolNames
from tether.gateway.translate.gemini_schema import schema_to_gemini
from tether.gateway.translate.gemini_wire import GEMINI_SIGNATURE, signature_from_id
from tether.gateway.translate.hub_request import add_turn

__all__ = ["anthropic_request_to_gemini"]

_BILLING_HEADER = "x-anthropic-billing-header:"
_INTERRUPTED = "The function call was interrupted before it returned a result."


def anthropic_request_to_gemini(
    body: dict[str, Any], *, max_tokens_limit: int | None = None
) -> tuple[dict[str, Any], ToolNames]:
    """A Messages request as a generateContent body, and the tool-name map for the answer."""
    names = ToolNames()
    system = _system_texts(body.get("system"))
    out: dict[str, Any] = {"contents": _contents(body.get("messages") or (), names, system)}
    if not out["contents"]:
        raise ValueError("messages must hold at least one user or assistant message")
    if system:
        out["systemInstruction"] = {"parts": [{"text": "\n\n".join(system)}]}

    declarations = [
        _declaration(t, names)
        for t in body.get("tools") or ()
        if isinstance(t, dict) and "input_schema" in t  # server tools run at Anthropic only
    ]
    if declarations:
        out["tools"] = [{"functionDeclarations": declarations}]
        config = _tool_config(body.get("tool_choice"), names)
        if config:
            out["toolConfig"] = {"functionCallingConfig": config}

    generation: dict[str, Any] = {}
    max_tokens = body.get("max_tokens")
    if max_tokens_limit is not None and (max_tokens is None or max_tokens > max_tokens_limit):
        max_tokens = max_tokens_limit
    if max_tokens:
        generation["maxOutputTokens"] = max_tokens
    for source, target in (("temperature", "temperature"), ("top_p", "topP"), ("top_k", "topK")):
        if body.get(source) is not None:
            generation[target] = body[source]
    if body.get("stop_sequences"):
        generation["stopSequences"] = body["stop_sequences"][:5]  # Gemini takes up to 5
    thinking = _thinking_config(body)
    if thinking:
        generation["thinkingConfig"] = thinking
    output = body.get("output_config")
    fmt = output.get("format") if isinstance(output, dict) else None
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        generation["responseMimeType"] = "application/json"
        if isinstance(fmt.get("schema"), dict):
            generation["responseSchema"] = schema_to_gemini(fmt["schema"])
    if generation:
        out["generationConfig"] = generation
    return out, names


def _system_texts(system: Any) -> list[str]:
    if isinstance(system, str):
        return [system] if system else []
    return [
        b["text"]
        for b in system or ()
        if isinstance(b, dict)
        and b.get("text")
        # Claude Code's per-release billing line means nothing to Gemini and busts its cache.
        and not b["text"].startswith(_BILLING_HEADER)
    ]


def _contents(messages: Any, names: ToolNames, system: list[str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    call_names: dict[str, str] = {}  # tool_use id → upstream name
    waiting: list[str] = []  # ids of the last model turn's calls not yet answered

    def add(role: str, parts: list[dict[str, Any]]) -> None:
        add_turn(out, role, parts, key="parts")

    def interrupted() -> list[dict[str, Any]]:
        parts = [
            {"functionResponse": {"name": call_names[cid], "response": {"error": _INTERRUPTED}}}
            for cid in waiting
        ]
        waiting.clear()
        return parts

    for message in messages:
        if not isinstance(message, dict):
            continue
        role = message.get("role")
        content = message.get("content")
        if isinstance(content, str):
            content = [{"type": "text", "text": content}]
        if not isinstance(content, list):
            continue
        if role == "system":
            # Claude Code puts system messages mid-conversation; Gemini has one instruction.
            text = "\n\n".join(b.get("text") or "" for b in content if isinstance(b, dict))
            if text.strip():
                if out:
                    add("user", [{"text": f"<system-reminder>\n{text}\n</system-reminder>"}])
                else:
                    system.append(text)
            continue
        if role == "assistant":
            add("user", interrupted())
            parts = _model_parts(content, names, call_names, waiting)
            add("model", parts)
        elif role == "user":
            results, others = _user_parts(content, call_names, waiting)
            add("user", results + interrupted() + others)
    add("user", interrupted())
    return out


def _model_parts(
    content: list[Any], names: ToolNames, call_names: dict[str, str], waiting: list[str]
) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    for block in content:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text" and block.get("text"):
            parts.append({"text": block["text"]})
        elif kind == "thinking":
            signature = block.get("signature") or ""
            # Only Gemini's own thoughts go back; other providers' signatures mean nothing.
            if signature.startswith(GEMINI_SIGNATURE):
                part: dict[str, Any] = {"text": block.get("thinking") or "", "thought": True}
                if len(signature) > len(GEMINI_SIGNATURE):
                    part["thoughtSignature"] = signature[len(GEMINI_SIGNATURE) :]
                parts.append(part)
        elif kind == "tool_use":
            cid = str(block.get("id") or "")
            name = names.upstream(str(block.get("name") or "tool"))
            if cid in call_names:
                continue  # a repeated id would be two calls with one response
            call_names[cid] = name
            waiting.append(cid)
            args = block.get("input")
            part = {"functionCall": {"name": name, "args": args if isinstance(args, dict) else {}}}
            signature = signature_from_id(cid)
            if signature:
                part["thoughtSignature"] = signature
            parts.append(part)
    return parts


def _user_parts(
    content: list[Any], call_names: dict[str, str], waiting: list[str]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(functionResponse parts, in call order; other parts)."""
    responses: dict[str, dict[str, Any]] = {}
    media: list[dict[str, Any]] = []
    others: list[dict[str, Any]] = []
    for block in content:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "tool_result":
            cid = block.get("tool_use_id")
            if cid not in waiting or cid in responses:
                continue  # orphan (its call was compacted away) or a duplicate
            text, images = _result(block.get("content"))
            key = "error" if block.get("is_error") else "output"
            response = {"name": call_names[cid], "response": {key: text}}
            responses[cid] = {"functionResponse": response}
            media.extend(images)
        elif kind == "text" and block.get("text"):
            others.append({"text": block["text"]})
        else:
            part = _media(block)
            if part is not None:
                others.append(part)
    ordered = [responses[cid] for cid in waiting if cid in responses]
    for cid in responses:
        waiting.remove(cid)
    return ordered, media + others


def _result(content: Any) -> tuple[str, list[dict[str, Any]]]:
    if isinstance(content, str):
        return content or "(no output)", []
    texts: list[str] = []
    images: list[dict[str, Any]] = []
    for part in content or ():
        if not isinstance(part, dict):
            continue
        if part.get("type") == "text" and part.get("text"):
            texts.append(part["text"])
        elif part.get("type") == "tool_reference":
            texts.append(f"Tool {part.get('tool_name', '')} is now available.")
        else:
            media = _media(part)
            if media is not None:
                images.append(media)
    return "\n".join(texts) or "(no output)", images


def _media(block: dict[str, Any]) -> dict[str, Any] | None:
    source = block.get("source")
    if block.get("type") not in ("image", "document") or not isinstance(source, dict):
        return None
    kind = source.get("type")
    if kind == "base64":
        default = "image/png" if block["type"] == "image" else "application/pdf"
        mime = source.get("media_type") or default
        return {"inlineData": {"mimeType": mime, "data": source.get("data") or ""}}
    if kind == "url" and source.get("url"):
        return {"fileData": {"fileUri": source["url"]}}
    if kind == "text" and source.get("data"):
        return {"text": source["data"]}
    return None


def _declaration(tool: dict[str, Any], names: ToolNames) -> dict[str, Any]:
    out: dict[str, Any] = {"name": names.upstream(str(tool.get("name") or "tool"))}
    if tool.get("description"):
        out["description"] = tool["description"]
    schema = schema_to_gemini(tool.get("input_schema"))
    if schema.get("properties"):
        out["parameters"] = schema  # Gemini rejects an OBJECT schema with no properties
    return out


def _tool_config(choice: Any, names: ToolNames) -> dict[str, Any] | None:
    if not isinstance(choice, dict):
        return None
    kind = choice.get("type")
    if kind == "any":
        return {"mode": "ANY"}
    if kind == "none":
        return {"mode": "NONE"}
    if kind == "tool" and choice.get("name"):
        return {"mode": "ANY", "allowedFunctionNames": [names.upstream(choice["name"])]}
    return None  # auto is Gemini's default


def _thinking_config(body: dict[str, Any]) -> dict[str, Any] | None:
    thinking = body.get("thinking")
    kind = thinking.get("type") if isinstance(thinking, dict) else None
    if kind == "enabled":
        budget = thinking.get("budget_tokens")
        if isinstance(budget, int) and budget > 0:
            return {"thinkingBudget": budget, "includeThoughts": True}
    if kind == "adaptive":
        return {"thinkingBudget": -1, "includeThoughts": True}
    return None
