"""Agent Client Protocol ⇄ the relay's words. Pure functions and one pure accumulator.

`session/update` notifications become relay messages `{id, role, kind, content, raw}` with
the raw update kept beside (as `runner.normalize` does for Claude's stream):

- `agent_message_chunk` → `assistant_text`, consecutive chunks coalesced into one message
  that is published when something else happens or the turn ends;
- `agent_thought_chunk` → `thinking` (coalesced the same way);
- `tool_call` → `tool_call`; a `tool_call_update` (or `tool_call`) with a final status
  (`completed`/`failed`) → `tool_result` with its content, diffs and locations. A
  `tool_call_update` for a call never announced (Gemini CLI reports its calls this way)
  first stands in for the missing `tool_call`, so every result has its call;
- an `agent_message_chunk` that is one of the agent's own warnings (`warnings`, whole-chunk
  patterns per agent: codex-acp's "Model metadata … not found") → `status`
  `{status: "warning", text}`, never part of the answer;
- `plan` → `plan` (the whole checklist each time: ACP sends it whole);
- `available_commands_update` / `current_mode_update` / `usage_update` (the context
  window's fill) → agent_state, not messages; token usage comes with the turn's end.

`session/request_permission` becomes a relay permission request whose `suggestions` carry
the agent's options with its own labels (`{type: "acp_option", option_id, name, kind}`);
the relay's answer picks one of those options back.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tether.runner.normalize import bounded_raw, tool_output

FINAL_TOOL_STATUSES = frozenset({"completed", "failed"})
# Updates that carry session state, not conversation: kept in agent_state.
STATE_UPDATES = frozenset({"available_commands_update", "current_mode_update", "usage_update"})
# Replays of the person's own words (session/load): already on the relay as user_text.
SKIPPED_UPDATES = frozenset({"user_message_chunk"})

_COALESCED = {"agent_message_chunk": "assistant_text", "agent_thought_chunk": "thinking"}


def content_text(block: Any) -> str:
    """An ACP ContentBlock as text: its text, or a short stand-in for other content."""
    if not isinstance(block, dict):
        return ""
    kind = block.get("type")
    if kind == "text":
        return str(block.get("text") or "")
    if kind == "resource_link":
        return f"[{block.get('name') or block.get('uri') or 'resource'}]"
    if kind == "resource":
        resource = block.get("resource") or {}
        return str(resource.get("text") or f"[{resource.get('uri') or 'resource'}]")
    if kind in ("image", "audio"):
        return f"[{kind}]"
    return ""


def tool_content(items: Any) -> tuple[str, list[dict[str, Any]]]:
    """A tool call's `content` list → (its text, its diffs `{path, old_text, new_text}`)."""
    texts: list[str] = []
    diffs: list[dict[str, Any]] = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        if item.get("type") == "content":
            text = content_text(item.get("content"))
            if text:
                texts.append(text)
        elif item.get("type") == "diff":
            diffs.append(
                {
                    "path": item.get("path"),
                    "old_text": item.get("oldText"),
                    "new_text": item.get("newText"),
                }
            )
        elif item.get("type") == "terminal":
            texts.append(f"[terminal {item.get('terminalId')}]")
    return "\n".join(texts), diffs


def state_from_update(update: dict[str, Any]) -> dict[str, Any]:
    """agent_state facts carried by a state update ({} for other updates)."""
    kind = update.get("sessionUpdate")
    if kind == "available_commands_update":
        return {
            "commands": [
                {"name": c.get("name"), "description": c.get("description")}
                for c in update.get("availableCommands") or []
                if isinstance(c, dict)
            ]
        }
    if kind == "current_mode_update":
        return {"agent_mode": update.get("currentModeId")}
    if kind == "usage_update":
        return {"context_window": {"used": update.get("used"), "size": update.get("size")}}
    return {}


@dataclass
class Transcript:
    """One session's updates → relay messages, coalescing chunks within a turn.

    `prefix` keeps ids unique across runner processes that share one relay session
    (a resumed session starts counting again). `warnings` are patterns a whole message
    chunk matches when it is the agent talking about itself, not the model answering.
    """

    prefix: str
    warnings: Sequence[re.Pattern[str]] = ()
    _count: int = 0
    _buffer_kind: str | None = None
    _buffer: list[str] = field(default_factory=list)
    _buffer_raw: list[dict[str, Any]] = field(default_factory=list)
    _tools: dict[str, dict[str, Any]] = field(default_factory=dict)
    _finished: set[str] = field(default_factory=set)  # calls whose result is published
    _refused: dict[str, str] = field(default_factory=dict)  # denied, no result seen yet

    def feed(self, update: dict[str, Any]) -> list[dict[str, Any]]:
        """The messages ready after this update (a coalesced chunk waits for the next)."""
        kind = update.get("sessionUpdate")
        if self._refused and str(update.get("toolCallId") or "") not in self._refused:
            return [*self._close_refused(), *self.feed(update)]
        if kind == "agent_message_chunk" and self._is_warning(update):
            text = content_text(update.get("content")).strip()
            return [*self.flush(), self._msg("status", {"status": "warning", "text": text}, update)]
        if kind in _COALESCED:
            out = self.flush() if self._buffer_kind != _COALESCED[kind] else []
            self._buffer_kind = _COALESCED[kind]
            self._buffer.append(content_text(update.get("content")))
            self._buffer_raw.append(update)
            return out
        if kind in STATE_UPDATES or kind in SKIPPED_UPDATES:
            return []
        out = self.flush()
        if kind == "tool_call":
            out.extend(self._tool_call(update))
        elif kind == "tool_call_update":
            out.extend(self._tool_update(update))
        elif kind == "plan":
            entries = [
                {
                    "content": e.get("content"),
                    "status": e.get("status"),
                    "priority": e.get("priority"),
                }
                for e in update.get("entries") or []
                if isinstance(e, dict)
            ]
            out.append(self._msg("plan", {"entries": entries}, update))
        else:
            # An update this version does not know: kept, shown as a system note.
            out.append(self._msg("system", {"subtype": f"acp:{kind}"}, update))
        return out

    def _is_warning(self, update: dict[str, Any]) -> bool:
        # Only a chunk of its own, outside an answer: the same words mid-answer are text.
        if self._buffer_kind == "assistant_text":
            return False
        text = content_text(update.get("content")).strip()
        return bool(text) and any(p.search(text) for p in self.warnings)

    def flush(self) -> list[dict[str, Any]]:
        """The coalesced text so far as one message (at a turn's end, or a change)."""
        if self._buffer_kind is None:
            return []
        text = "".join(self._buffer)
        kind, raws = self._buffer_kind, self._buffer_raw
        self._buffer_kind, self._buffer, self._buffer_raw = None, [], []
        if not text:
            return []
        return [self._msg(kind, {"text": text}, {"chunks": raws})]

    def end_turn(self, response: dict[str, Any]) -> list[dict[str, Any]]:
        """The messages that close a turn: pending text, usage if reported, the result."""
        out = [*self._close_refused(), *self.flush()]
        usage = response.get("usage")
        if isinstance(usage, dict):
            out.append(self._msg("usage", usage_content(usage), response))
        stop = response.get("stopReason")
        out.append(
            self._msg(
                "result",
                {
                    "subtype": "success" if stop in ("end_turn", None) else str(stop),
                    "is_error": stop == "refusal",
                    "stop_reason": stop,
                },
                response,
            )
        )
        return out

    def asked(self, tool_call: Any) -> list[dict[str, Any]]:
        """A permission request's call, when the agent asks before announcing it (Gemini
        CLI announces a call only once it runs): the transcript shows what was asked."""
        if not isinstance(tool_call, dict) or not tool_call.get("toolCallId"):
            return []
        if str(tool_call["toolCallId"]) in self._tools:
            return []
        return self._tool_call({**tool_call, "status": "pending"})

    def refused(self, call_id: Any, reason: str | None) -> None:
        """A call a person denied ends failed in the transcript: with the agent's own report
        when it makes one next (claude-code-acp, codex-acp), else with the person's reason as
        soon as the agent moves on or the turn ends (Gemini CLI reports nothing)."""
        call = str(call_id or "")
        if call in self._tools and call not in self._finished:
            self._refused[call] = reason or "denied"

    def _close_refused(self) -> list[dict[str, Any]]:
        refused, self._refused = self._refused, {}
        out: list[dict[str, Any]] = []
        for call, reason in refused.items():
            update = {"toolCallId": call, "status": "failed", "rawOutput": reason}
            out.extend(self._tool_update(update))
        return out

    def _tool_call(self, update: dict[str, Any]) -> list[dict[str, Any]]:
        call_id = str(update.get("toolCallId") or "")
        if call_id in self._tools:  # announced already (when its permission was asked)
            return self._tool_update(update)
        self._tools[call_id] = dict(update)
        content = {
            "call_id": call_id,
            "name": update.get("title") or update.get("kind") or "tool",
            "input": update.get("rawInput") if isinstance(update.get("rawInput"), dict) else {},
            "tool_kind": update.get("kind"),
            "status": update.get("status"),
            "locations": update.get("locations") or [],
        }
        out = [self._msg("tool_call", content, update)]
        if update.get("status") in FINAL_TOOL_STATUSES:
            out.extend(self._tool_update(update))
        return out

    def _tool_update(self, update: dict[str, Any]) -> list[dict[str, Any]]:
        call_id = str(update.get("toolCallId") or "")
        if call_id not in self._tools:
            # Never announced: this first update is the call (and maybe its result too).
            return self._tool_call(update)
        known = self._tools[call_id]
        known.update({k: v for k, v in update.items() if v is not None})
        if update.get("status") not in FINAL_TOOL_STATUSES or call_id in self._finished:
            return []  # progress is folded into the final result, which comes once
        self._finished.add(call_id)
        self._refused.pop(call_id, None)
        text, diffs = tool_content(known.get("content"))
        output: Any = text
        if not text and known.get("rawOutput") is not None:
            output = tool_output(known["rawOutput"])
        content: dict[str, Any] = {
            "call_id": call_id,
            "output": output,
            "is_error": known.get("status") == "failed",
            "status": known.get("status"),
        }
        if diffs:
            content["diffs"] = diffs
        if known.get("locations"):
            content["locations"] = known["locations"]
        return [self._msg("tool_result", content, update)]

    def _msg(self, kind: str, content: dict[str, Any], raw: dict[str, Any]) -> dict[str, Any]:
        self._count += 1
        return {
            "id": f"acp-{self.prefix}-{self._count}",
            "role": "agent",
            "kind": kind,
            "content": content,
            "raw": bounded_raw(raw),
        }


def usage_content(usage: dict[str, Any]) -> dict[str, Any]:
    """ACP usage (camelCase token counts) → the relay's usage content."""
    names = {
        "input_tokens": ("inputTokens", "input_tokens"),
        "output_tokens": ("outputTokens", "output_tokens"),
        "cache_read_input_tokens": ("cachedReadTokens", "cache_read_input_tokens"),
        "cache_creation_input_tokens": ("cachedWriteTokens", "cache_creation_input_tokens"),
    }
    out: dict[str, Any] = {}
    for ours, theirs in names.items():
        out[ours] = int(next((usage[t] for t in theirs if usage.get(t) is not None), 0) or 0)
    return out


# ── permissions ───────────────────────────────────────────────────────────────────


def permission_body(
    params: dict[str, Any], agent: str, timeout: float | None = None
) -> dict[str, Any]:
    """The relay's `open_permission` arguments for one `session/request_permission`."""
    call = params.get("toolCall") or {}
    name = call.get("title") or call.get("kind") or "tool"
    text, diffs = tool_content(call.get("content"))
    where = ", ".join(
        str(loc.get("path")) for loc in call.get("locations") or [] if isinstance(loc, dict)
    )
    description = " — ".join(part for part in (where, text) if part) or None
    tool_input = dict(call["rawInput"]) if isinstance(call.get("rawInput"), dict) else {}
    if diffs and "diffs" not in tool_input:
        tool_input["diffs"] = diffs
    body: dict[str, Any] = {
        "tool_name": str(name)[:200],
        "tool_use_id": call.get("toolCallId"),
        "input": tool_input,
        "title": f"{agent} wants to: {name}",
        "description": description,
        "suggestions": [
            {
                "type": "acp_option",
                "option_id": o.get("optionId"),
                "name": o.get("name"),
                "kind": o.get("kind"),
            }
            for o in params.get("options") or []
            if isinstance(o, dict)
        ],
    }
    if timeout is not None:
        body["timeout"] = timeout
    return body


CANCELLED_OUTCOME: dict[str, Any] = {"outcome": {"outcome": "cancelled"}}


def permission_outcome(permission: dict[str, Any], options: list[dict[str, Any]]) -> dict[str, Any]:
    """The `session/request_permission` result for a resolved relay request.

    An answer that names one of the agent's options (`remember: [i]`, the index of its
    suggestion: the web card's buttons with the agent's own labels) selects exactly that
    one, when it agrees with the answer (an allow_* option for Allow, a reject_* for Deny).
    Otherwise Allow → the agent's allow_once (allow_always when the person chose to
    remember); Deny or a timeout → reject_once (else reject_always); cancelled → `cancelled`.
    """
    status = permission.get("status")
    decision = permission.get("decision") or {}
    remember = decision.get("remember")
    if status == "allowed":
        wanted = "allow_"
        order = ("allow_always", "allow_once") if remember else ("allow_once",)
        order = (*order, "allow_always")
    elif status in ("denied", "expired"):
        wanted = "reject_"
        order = ("reject_once", "reject_always")
    else:
        return CANCELLED_OUTCOME
    offered = [o for o in options if isinstance(o, dict)]  # as permission_body lists them
    if status != "expired" and isinstance(remember, list) and len(remember) == 1:
        index = remember[0]
        if isinstance(index, int) and 0 <= index < len(offered):
            named = offered[index]
            if str(named.get("kind") or "").startswith(wanted) and named.get("optionId"):
                return {"outcome": {"outcome": "selected", "optionId": named["optionId"]}}
    for kind in order:
        for option in offered:
            if option.get("kind") == kind and option.get("optionId"):
                return {"outcome": {"outcome": "selected", "optionId": option["optionId"]}}
    return CANCELLED_OUTCOME


def agent_mode(mode: str, modes: list[dict[str, Any]]) -> str:
    """The agent's mode id for a tether permission mode: the same id when the agent offers
    it. Raise ValueError listing what the agent offers otherwise (never a guess)."""
    ids = [str(m.get("id")) for m in modes if isinstance(m, dict) and m.get("id")]
    if mode in ids:
        return mode
    if not ids:
        raise ValueError("this agent offers no modes")
    return_list = ", ".join(ids)
    raise ValueError(f"this agent has no mode {mode!r}; it offers: {return_list}")
