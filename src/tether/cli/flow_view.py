"""A flow's request and answer in a reader's terms, whatever format it was in: the system
prompt, the tools, each message, the answer's text; and what changed between two requests.

Pure: flow dicts (as `GET /api/v1/flows/{id}` answers, bodies as text) in, text out.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from typing import Any

from tether.sse import SSEParser


@dataclass
class Conversation:
    system: str = ""
    tools: dict[str, Any] = field(default_factory=dict)  # name → definition
    messages: list[tuple[str, str]] = field(default_factory=list)  # (role, text)
    model: str | None = None


def _json(text: str | None) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _block_text(block: Any) -> str:
    """One content block (any format) as a line of text."""
    if isinstance(block, str):
        return block
    if not isinstance(block, dict):
        return _dump(block)
    kind = block.get("type")
    if "text" in block and isinstance(block["text"], str):
        return block["text"]
    if kind == "tool_use":
        return f"[tool_use {block.get('name')} {_dump(block.get('input'))}]"
    if kind == "tool_result":
        return f"[tool_result {block.get('tool_use_id')}: {_content_text(block.get('content'))}]"
    if kind == "thinking":
        return f"[thinking] {block.get('thinking', '')}"
    if kind in ("function_call",):
        return f"[function_call {block.get('name')} {block.get('arguments')}]"
    if kind == "function_call_output":
        return f"[function_call_output {block.get('call_id')}: {block.get('output')}]"
    if "functionCall" in block:
        call = block["functionCall"]
        return f"[functionCall {call.get('name')} {_dump(call.get('args'))}]"
    if "functionResponse" in block:
        response = block["functionResponse"]
        return f"[functionResponse {response.get('name')}: {_dump(response.get('response'))}]"
    return _dump(block)


def _content_text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, list):
        return "\n".join(_block_text(block) for block in content)
    return _block_text(content)


def conversation(surface: str, body: Any) -> Conversation:
    """The request as system prompt, tools and messages, read in its own format."""
    out = Conversation()
    if not isinstance(body, dict):
        return out
    out.model = body.get("model") if isinstance(body.get("model"), str) else None
    if surface == "gemini":
        system = body.get("systemInstruction") or body.get("system_instruction") or {}
        out.system = _content_text(system.get("parts") if isinstance(system, dict) else system)
        for tool in body.get("tools") or ():
            for fn in (tool or {}).get("functionDeclarations") or ():
                out.tools[fn.get("name", "?")] = fn
        for item in body.get("contents") or ():
            if isinstance(item, dict):
                out.messages.append((item.get("role", "user"), _content_text(item.get("parts"))))
        return out
    if surface == "responses":
        out.system = body.get("instructions") or ""
        items = body.get("input")
        if isinstance(items, str):
            items = [{"role": "user", "content": items}]
        for item in items or ():
            if not isinstance(item, dict):
                continue
            if "role" in item:
                out.messages.append((item["role"], _content_text(item.get("content"))))
            else:
                out.messages.append((item.get("type", "item"), _block_text(item)))
        for tool in body.get("tools") or ():
            if isinstance(tool, dict):
                out.tools[tool.get("name") or tool.get("type", "?")] = tool
        return out
    # Anthropic Messages and OpenAI chat.
    system = body.get("system")
    systems = [_content_text(system)] if system else []
    for message in body.get("messages") or ():
        if not isinstance(message, dict):
            continue
        role = message.get("role", "?")
        text = _content_text(message.get("content"))
        for call in message.get("tool_calls") or ():
            fn = call.get("function") or {}
            text += f"\n[tool_call {fn.get('name')} {fn.get('arguments')}]"
        if role in ("system", "developer") and not out.messages:
            systems.append(text)
        else:
            out.messages.append((role, text.strip("\n")))
    out.system = "\n".join(systems)
    for tool in body.get("tools") or ():
        if isinstance(tool, dict):
            fn = tool.get("function") if isinstance(tool.get("function"), dict) else tool
            out.tools[fn.get("name") or tool.get("type", "?")] = tool
    return out


def answer_text(body: str | None) -> str:
    """The text (and tool calls) of an answer, whole or streamed, in any format."""
    if not body:
        return ""
    parts: list[str] = []
    for item in _objects(body):
        parts.extend(_answer_parts(item))
    return "".join(parts)


def _objects(body: str) -> list[Any]:
    whole = _json(body)
    if whole is not None:
        return whole if isinstance(whole, list) else [whole]
    parser = SSEParser()
    raw = body.encode()
    out = []
    for message in [*parser.feed(raw), *parser.close()]:
        value = _json(message.data)
        if value is not None:
            out.append(value)
    return out


def _answer_parts(item: Any) -> list[str]:
    if not isinstance(item, dict):
        return []
    kind = item.get("type")
    if kind == "message" and isinstance(item.get("content"), list):  # Anthropic, whole
        return [_block_text(b) for b in item["content"]]
    if kind == "content_block_delta":
        delta = item.get("delta") or {}
        return [delta.get("text") or delta.get("partial_json") or ""]
    if kind == "content_block_start":
        block = item.get("content_block") or {}
        return [f"[tool_use {block.get('name')}] "] if block.get("type") == "tool_use" else []
    if kind == "response.output_text.delta":
        return [item.get("delta", "")]
    if item.get("object") == "response":  # Responses, whole
        return [_content_text(o.get("content")) for o in item.get("output") or () if o]
    if "choices" in item:  # OpenAI chat, whole or chunk
        out = []
        for choice in item["choices"] or ():
            part = choice.get("delta") or choice.get("message") or {}
            out.append(part.get("content") or "")
            for call in part.get("tool_calls") or ():
                fn = call.get("function") or {}
                name = f"[tool_call {fn['name']}] " if fn.get("name") else ""
                out.append(name + (fn.get("arguments") or ""))
        return out
    if "candidates" in item:  # Gemini
        return [
            _block_text(p)
            for c in item["candidates"] or ()
            for p in ((c.get("content") or {}).get("parts") or ())
            if not p.get("thought")
        ]
    if "error" in item and isinstance(item["error"], dict):
        return [f"[error] {item['error'].get('message')}"]
    return []


def describe(flow: dict[str, Any], side: str = "client") -> str:
    """A flow, readable: the call's facts, then the request and the answer."""
    upstream = side == "upstream"
    request = flow.get("upstream_request_body" if upstream else "request_body")
    answer = flow.get("upstream_response_body" if upstream else "response_body")
    surface = _upstream_surface(flow) if upstream else flow.get("surface", "anthropic")
    conv = conversation(surface, _json(request))
    lines = [
        f"flow {flow['id']}  {flow.get('received_at')}  session {flow.get('session_id') or '-'}",
        f"{flow.get('method')} {flow.get('path')}  →  {flow.get('provider')}/"
        f"{flow.get('upstream_model')}  ({flow.get('route_reason')})",
        f"status {flow.get('status')} (upstream {flow.get('upstream_status')})  "
        f"tokens in {flow.get('input_tokens')} out {flow.get('output_tokens')}  "
        f"cost {flow.get('cost')}  "
        f"first byte {flow.get('first_byte_ms')} ms  total {flow.get('duration_ms')} ms",
    ]
    if flow.get("error"):
        lines.append(f"error: {flow['error']}")
    for run in flow.get("hook_runs") or ():
        lines.append(f"hook {run.get('name')} ({run.get('phase')}): {run.get('outcome')}")
    lines.append(f"\n── {'upstream' if upstream else 'client'} side ({surface}) ──")
    if request is None:
        lines.append(f"(no bodies kept: capture was {flow.get('capture')})")
        return "\n".join(lines)
    lines.append(f"model: {conv.model}")
    lines.append("system:\n" + _indent(conv.system or "(none)"))
    lines.append(f"tools ({len(conv.tools)}): " + (", ".join(conv.tools) or "none"))
    for index, (role, text) in enumerate(conv.messages):
        lines.append(f"[{index}] {role}:\n{_indent(text)}")
    lines.append("answer:\n" + _indent(answer_text(answer) or "(empty)"))
    return "\n".join(lines)


def _upstream_surface(flow: dict[str, Any]) -> str:
    url = flow.get("upstream_url") or ""
    if "/chat/completions" in url:
        return "openai"
    if url.endswith("/responses"):
        return "responses"
    if ":generateContent" in url or ":streamGenerateContent" in url:
        return "gemini"
    return "anthropic"


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines()) or "    "


def diff(a: dict[str, Any], b: dict[str, Any]) -> str:
    """What changed from request A to request B (client side): system, tools, messages."""
    one = conversation(a.get("surface", "anthropic"), _json(a.get("request_body")))
    two = conversation(b.get("surface", "anthropic"), _json(b.get("request_body")))
    lines = [f"--- {a['id']}", f"+++ {b['id']}"]
    if one.model != two.model:
        lines.append(f"model: {one.model} → {two.model}")
    if one.system != two.system:
        lines.append("system prompt changed:")
        lines += [
            "    " + line
            for line in difflib.unified_diff(
                one.system.splitlines(), two.system.splitlines(), lineterm="", n=1
            )
        ][2:]
    else:
        lines.append("system prompt: unchanged")
    added = [n for n in two.tools if n not in one.tools]
    removed = [n for n in one.tools if n not in two.tools]
    changed = [n for n in two.tools if n in one.tools and one.tools[n] != two.tools[n]]
    if added or removed or changed:
        for name in added:
            lines.append(f"+ tool {name}")
        for name in removed:
            lines.append(f"- tool {name}")
        for name in changed:
            lines.append(f"~ tool {name} (definition changed)")
    else:
        lines.append(f"tools: unchanged ({len(two.tools)})")
    same = 0
    for index in range(max(len(one.messages), len(two.messages))):
        old = one.messages[index] if index < len(one.messages) else None
        new = two.messages[index] if index < len(two.messages) else None
        if old == new:
            same += 1
        elif old is None and new is not None:
            lines.append(f"+ [{index}] {new[0]}:\n{_indent(new[1])}")
        elif new is None and old is not None:
            lines.append(f"- [{index}] {old[0]}:\n{_indent(old[1])}")
        elif old is not None and new is not None:
            lines.append(f"~ [{index}] {old[0]} → {new[0]}:")
            lines += [
                "    " + line
                for line in difflib.unified_diff(
                    old[1].splitlines(), new[1].splitlines(), lineterm="", n=1
                )
            ][2:]
    lines.append(f"messages: {same} unchanged, {len(two.messages)} in B ({len(one.messages)} in A)")
    return "\n".join(lines)
