"""Claude's can_use_tool ⇄ relay permission requests. Pure functions.

Claude asks (tool, input, context) → we open a relay request with the same facts; the
request's resolution (first answer wins on the relay) → the PermissionResult Claude gets.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from claude_agent_sdk.types import (
    PermissionResultAllow,
    PermissionResultDeny,
    PermissionRuleValue,
    PermissionUpdate,
    ToolPermissionContext,
)

PermissionResult = PermissionResultAllow | PermissionResultDeny

DENIED = "The user denied this tool call."
CANCELLED = "The permission request was cancelled."
EXPIRED = "Nobody answered the permission request in time, so it was denied."


def request_body(
    tool_name: str,
    tool_input: dict[str, Any],
    context: ToolPermissionContext,
    timeout: float | None = None,
) -> dict[str, Any]:
    """The relay's `open_permission` arguments for one can_use_tool request."""
    title = context.title or (f"Claude wants to use {context.display_name or tool_name}")
    description = context.description
    if context.decision_reason:
        description = (
            f"{description} — {context.decision_reason}" if description else context.decision_reason
        )
    body: dict[str, Any] = {
        "tool_name": tool_name,
        "input": tool_input,
        "tool_use_id": context.tool_use_id,
        "title": title,
        "description": description,
        "suggestions": [s.to_dict() for s in _sendable(context.suggestions)],
    }
    if timeout is not None:
        body["timeout"] = timeout
    return body


def to_result(
    permission: dict[str, Any],
    tool_name: str,
    original_input: dict[str, Any],
    suggestions: list[PermissionUpdate],
) -> PermissionResult:
    """What Claude gets for a resolved relay request."""
    status = permission.get("status")
    decision = permission.get("decision") or {}
    message = decision.get("message")
    if status == "allowed" or (status is None and decision.get("behavior") == "allow"):
        updated = decision.get("updated_input")
        if not isinstance(updated, dict):
            updated = dict(original_input)
        if tool_name == "AskUserQuestion":
            updated = with_answers(updated, message)
        updates = remembered(decision.get("remember"), tool_name, suggestions)
        return PermissionResultAllow(updated_input=updated, updated_permissions=updates)
    if status == "expired":
        return PermissionResultDeny(message=message or EXPIRED)
    if status == "cancelled":
        # Cancelled from outside (the session ended): stop the turn, don't let it retry.
        return PermissionResultDeny(message=message or CANCELLED, interrupt=True)
    return PermissionResultDeny(
        message=message or DENIED, interrupt=bool(decision.get("interrupt"))
    )


def remembered(
    remember: object, tool_name: str, suggestions: list[PermissionUpdate]
) -> list[PermissionUpdate] | None:
    """The rules an answer's `remember` adds: a list picks Claude's suggestions by their
    index in the request (exactly the ones the person saw and chose, kept to this session);
    `true` is the older all-of-them form."""
    if remember is True:
        return always_allow(tool_name, suggestions)
    if not isinstance(remember, list):
        return None
    offered = _sendable(suggestions)
    chosen = [
        replace(offered[i], destination="session")
        for i in dict.fromkeys(remember)
        if isinstance(i, int) and not isinstance(i, bool) and 0 <= i < len(offered)
    ]
    return chosen or None


def always_allow(tool_name: str, suggestions: list[PermissionUpdate]) -> list[PermissionUpdate]:
    """Claude's own suggestions, kept to this session (a phone tap must not rewrite the
    user's settings files); a session rule for the tool when Claude suggested nothing."""
    usable = [replace(s, destination="session") for s in _sendable(suggestions)]
    if usable:
        return usable
    return [
        PermissionUpdate(
            type="addRules",
            rules=[PermissionRuleValue(tool_name=tool_name)],
            behavior="allow",
            destination="session",
        )
    ]


def with_answers(tool_input: dict[str, Any], message: str | None) -> dict[str, Any]:
    """AskUserQuestion is answered through `updatedInput.answers`; a person who typed one
    reply (message) instead of filling the answers answers every question with it."""
    if tool_input.get("answers") or not message:
        return tool_input
    questions = tool_input.get("questions") or []
    answers = {q.get("question", ""): message for q in questions if isinstance(q, dict)}
    return {**tool_input, "answers": answers} if answers else tool_input


def _sendable(suggestions: list[PermissionUpdate]) -> list[PermissionUpdate]:
    out = []
    for suggestion in suggestions:
        try:
            suggestion.to_dict()
        except ValueError:
            continue  # a kind this SDK cannot send back; leave it out
        out.append(suggestion)
    return out
