"""Claude Code's stream-json messages → the relay's unified message kinds. Pure functions.

Each raw message the CLI writes (system/init, assistant, user, result, …) becomes zero or
more relay messages `{id, role, kind, content, raw}`, with the raw event kept beside the
normalized content so nothing Claude said is lost to a viewer that wants more.

Ids are deterministic: Claude's own `uuid` for the message plus the block's index (or a
digest of the event when Claude gave no uuid). Publishing the same event twice — a replay
from the outbox after a relay restart — therefore stores it once.

Roles: everything read from Claude's stream is published as `agent` (or `system` for
init), even Claude's own "user" frames (tool results, the interrupt notice). Only people
speak as `user`, which is what the runner listens to for prompts: it can never feed its
own output back to Claude.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

# Frames that carry nothing a viewer needs, or that are too chatty to store.
SKIPPED_TYPES = frozenset(
    {
        "stream_event",
        "keep_alive",
        "tool_progress",
        "control_request",
        "control_response",
        "control_cancel_request",
        "transcript_mirror",
        "streamlined_text",
        "streamlined_tool_use_summary",
        "post_turn_summary",
    }
)
SKIPPED_SYSTEM_SUBTYPES = frozenset({"session_state_changed", "hook_progress"})

# A raw event bigger than this (a tool result with a whole file, say) is stored cut down:
# the relay caps a body at 8 MiB, and a viewer rarely needs the raw copy of a huge output.
MAX_RAW_BYTES = 256 * 1024
MAX_TEXT_CHARS = 200_000


def message_id(raw: dict[str, Any], part: str | int = 0) -> str:
    """A stable id for the `part`-th relay message made from this raw event."""
    base = raw.get("uuid")
    if not isinstance(base, str) or not base:
        base = (
            "sha-" + hashlib.sha256(orjson.dumps(raw, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]
        )
    return f"cc-{base}:{part}"


def normalize(raw: dict[str, Any]) -> list[dict[str, Any]]:
    """The relay messages for one raw CLI message; [] for frames not worth storing."""
    kind = raw.get("type")
    if kind in SKIPPED_TYPES:
        return []
    if kind == "system":
        return _system(raw)
    if kind == "assistant":
        return _assistant(raw)
    if kind == "user":
        return _user(raw)
    if kind == "result":
        return _result(raw)
    if kind == "conversation_reset":
        return [
            _msg(
                raw,
                0,
                "system",
                "system",
                {
                    "subtype": "conversation_reset",
                    "claude_session_id": raw.get("new_conversation_id"),
                },
            )
        ]
    # Unknown and minor frames (rate_limit_event, tool_use_summary, …) are kept raw.
    return [_msg(raw, 0, "system", "system", {"subtype": str(kind)})]


def _system(raw: dict[str, Any]) -> list[dict[str, Any]]:
    subtype = raw.get("subtype")
    if subtype in SKIPPED_SYSTEM_SUBTYPES:
        return []
    if subtype == "init":
        return [_msg(raw, 0, "system", "system", init_content(raw))]
    if subtype == "status":
        status = raw.get("status") or "running"
        return [_msg(raw, 0, "agent", "status", {"status": status, "text": status})]
    if subtype == "api_retry":
        text = (
            f"model API error {raw.get('error_status') or ''}; retry "
            f"{raw.get('attempt')}/{raw.get('max_retries')} in "
            f"{(raw.get('retry_delay_ms') or 0) / 1000:g}s"
        ).replace("  ", " ")
        return [_msg(raw, 0, "agent", "status", {"status": "retrying", "text": text})]
    return [_msg(raw, 0, "system", "system", {"subtype": str(subtype)})]


def init_content(raw: dict[str, Any]) -> dict[str, Any]:
    return {
        "subtype": "init",
        "model": raw.get("model"),
        "tools": raw.get("tools") or [],
        "cwd": raw.get("cwd"),
        "claude_session_id": raw.get("session_id"),
        "permission_mode": raw.get("permissionMode"),
        "claude_code_version": raw.get("claude_code_version"),
        "mcp_servers": raw.get("mcp_servers") or [],
    }


def _assistant(raw: dict[str, Any]) -> list[dict[str, Any]]:
    message = raw.get("message") or {}
    out: list[dict[str, Any]] = []
    for index, block in enumerate(message.get("content") or []):
        if not isinstance(block, dict):
            continue
        btype = block.get("type")
        if btype == "text":
            if block.get("text"):  # never an empty bubble
                out.append(
                    _msg(raw, index, "agent", "assistant_text", {"text": _clip(block["text"])})
                )
        elif btype in ("thinking", "redacted_thinking"):
            text = block.get("thinking") or ""
            if text:
                out.append(_msg(raw, index, "agent", "thinking", {"text": _clip(text)}))
        elif btype in ("tool_use", "server_tool_use", "mcp_tool_use"):
            out.append(
                _msg(
                    raw,
                    index,
                    "agent",
                    "tool_call",
                    {
                        "call_id": block.get("id"),
                        "name": block.get("name"),
                        "input": block.get("input") or {},
                    },
                )
            )
        elif btype and btype.endswith("tool_result"):
            out.append(_msg(raw, index, "agent", "tool_result", _tool_result(block)))
    if raw.get("error"):
        out.append(
            _msg(
                raw,
                "error",
                "agent",
                "error",
                {"message": f"model error: {raw['error']}", "type": raw["error"]},
            )
        )
    # Parent tool use = a subagent's message; say so, so a viewer can nest it.
    parent = raw.get("parent_tool_use_id")
    if parent:
        for item in out:
            item["content"]["parent_tool_use_id"] = parent
    return _attach_raw(out, raw)


def _user(raw: dict[str, Any]) -> list[dict[str, Any]]:
    content = (raw.get("message") or {}).get("content")
    out: list[dict[str, Any]] = []
    if isinstance(content, str):
        if content:
            out.append(_msg(raw, 0, "agent", "user_text", _said(content)))
    elif isinstance(content, list):
        for index, block in enumerate(content):
            if not isinstance(block, dict):
                continue
            if block.get("type") == "tool_result":
                out.append(_msg(raw, index, "agent", "tool_result", _tool_result(block)))
            elif block.get("type") == "text" and block.get("text"):
                out.append(_msg(raw, index, "agent", "user_text", _said(block["text"])))
    parent = raw.get("parent_tool_use_id")
    if parent:
        for item in out:
            item["content"]["parent_tool_use_id"] = parent
    return _attach_raw(out, raw)


# Claude Code's words for a turn or a tool stopped by an interrupt. The tool's result reads
# as a refusal ("The user doesn't want to proceed…") even when the person had allowed the
# tool and then interrupted; tether's own denies always carry their reason instead. Both are
# marked so viewers can say "interrupted" rather than repeat Claude's words.
INTERRUPT_NOTICE = "[Request interrupted by user"
INTERRUPTED_TOOL = "The user doesn't want to proceed with this tool use."


def _tool_result(block: dict[str, Any]) -> dict[str, Any]:
    output = tool_output(block.get("content"))
    content = {
        "call_id": block.get("tool_use_id"),
        "output": output,
        "is_error": bool(block.get("is_error")),
    }
    if _text_of(output).startswith(INTERRUPTED_TOOL):
        content["interrupted"] = True
    return content


def _text_of(output: Any) -> str:
    if isinstance(output, str):
        return output
    if isinstance(output, list) and output and isinstance(output[0], dict):
        return str(output[0].get("text") or "")
    return ""


def _said(text: str) -> dict[str, Any]:
    """Claude's own "user" text: an interrupt notice is marked as one."""
    content: dict[str, Any] = {"text": _clip(text)}
    if text.startswith(INTERRUPT_NOTICE):
        content["interrupt"] = True
    return content


def tool_output(content: Any) -> Any:
    """A tool result's content as text when it is text (the common case), else as given."""
    if content is None:
        return ""
    if isinstance(content, str):
        return _clip(content)
    if isinstance(content, list) and all(
        isinstance(b, dict) and b.get("type") == "text" for b in content
    ):
        return _clip("\n".join(b.get("text", "") for b in content))
    return content


def _result(raw: dict[str, Any]) -> list[dict[str, Any]]:
    usage = raw.get("usage") or {}
    result: dict[str, Any] = {
        "subtype": raw.get("subtype"),
        "is_error": bool(raw.get("is_error")),
        "duration_ms": raw.get("duration_ms"),
        "num_turns": raw.get("num_turns"),
        "total_cost_usd": raw.get("total_cost_usd"),
        "stop_reason": raw.get("stop_reason"),
        "terminal_reason": raw.get("terminal_reason"),
        "usage": usage_content(usage, raw.get("total_cost_usd")),
    }
    if isinstance(raw.get("result"), str) and raw["result"]:
        result["text"] = _clip(raw["result"])
    if raw.get("errors"):
        result["errors"] = raw["errors"]
    if raw.get("permission_denials"):
        result["permission_denials"] = raw["permission_denials"]
    out = [
        _msg(raw, "usage", "agent", "usage", usage_content(usage, raw.get("total_cost_usd"))),
        _msg(raw, 0, "agent", "result", result),
    ]
    return _attach_raw(out, raw)


def usage_content(usage: dict[str, Any], cost: Any = None) -> dict[str, Any]:
    out = {
        key: int(usage.get(key) or 0)
        for key in (
            "input_tokens",
            "output_tokens",
            "cache_read_input_tokens",
            "cache_creation_input_tokens",
        )
    }
    if cost is not None:
        out["cost_usd"] = cost
    return out


def _msg(
    raw: dict[str, Any], part: str | int, role: str, kind: str, content: dict[str, Any]
) -> dict[str, Any]:
    return {
        "id": message_id(raw, part),
        "role": role,
        "kind": kind,
        "content": content,
        "raw": bounded_raw(raw),
    }


def _attach_raw(out: list[dict[str, Any]], raw: dict[str, Any]) -> list[dict[str, Any]]:
    # The raw event is kept once per event, on its first message; the rest point to it.
    for item in out[1:]:
        item["raw"] = {"see": out[0]["id"]}
    return out


def bounded_raw(raw: dict[str, Any]) -> dict[str, Any]:
    size = len(orjson.dumps(raw))
    if size <= MAX_RAW_BYTES:
        return raw
    keep = {
        k: raw[k]
        for k in ("type", "subtype", "uuid", "session_id", "parent_tool_use_id")
        if k in raw
    }
    return {**keep, "truncated": True, "bytes": size}


def _clip(text: str) -> str:
    if len(text) <= MAX_TEXT_CHARS:
        return text
    return text[:MAX_TEXT_CHARS] + f"\n… [{len(text) - MAX_TEXT_CHARS} more characters]"
