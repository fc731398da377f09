"""Claude's can_use_tool ⇄ relay permission requests (pure mapping)."""

from __future__ import annotations

from claude_agent_sdk.types import (
    PermissionResultAllow,
    PermissionResultDeny,
    PermissionRuleValue,
    PermissionUpdate,
    ToolPermissionContext,
)

from tether.runner.permissions import EXPIRED, always_allow, request_body, to_result

WRITE = {"file_path": "/p/a.txt", "content": "hi\n"}
SET_MODE = PermissionUpdate(type="setMode", mode="acceptEdits", destination="session")


def resolved(status: str, **decision) -> dict:
    return {"id": "perm_1", "status": status, "decision": decision or None}


def test_request_body_carries_claudes_facts() -> None:
    ctx = ToolPermissionContext(
        suggestions=[SET_MODE],
        tool_use_id="toolu_1",
        title="Claude wants to write a.txt",
        description="a.txt",
        decision_reason="outside the project",
    )
    body = request_body("Write", WRITE, ctx, timeout=5)
    assert body == {
        "tool_name": "Write",
        "input": WRITE,
        "tool_use_id": "toolu_1",
        "title": "Claude wants to write a.txt",
        "description": "a.txt — outside the project",
        "suggestions": [{"type": "setMode", "mode": "acceptEdits", "destination": "session"}],
        "timeout": 5,
    }
    bare = request_body("Bash", {"command": "ls"}, ToolPermissionContext(tool_use_id="t"))
    assert bare["title"] == "Claude wants to use Bash" and "timeout" not in bare


def test_unsendable_suggestions_are_left_out() -> None:
    broken = PermissionUpdate(type="addRules")  # no rules, no behavior
    body = request_body("Write", WRITE, ToolPermissionContext(suggestions=[broken, SET_MODE]))
    assert body["suggestions"] == [SET_MODE.to_dict()]


def test_allow_echoes_the_original_input_or_the_edited_one() -> None:
    result = to_result(resolved("allowed", behavior="allow"), "Write", WRITE, [])
    assert isinstance(result, PermissionResultAllow)
    assert result.updated_input == WRITE and result.updated_permissions is None
    edited = {**WRITE, "content": "edited"}
    result = to_result(
        resolved("allowed", behavior="allow", updated_input=edited), "Write", WRITE, []
    )
    assert result.updated_input == edited


def test_always_allow_applies_claudes_suggestions_to_this_session_only() -> None:
    local = PermissionUpdate(
        type="addRules",
        rules=[PermissionRuleValue("Bash", "npm test")],
        behavior="allow",
        destination="localSettings",
    )
    result = to_result(
        resolved("allowed", behavior="allow", remember=True),
        "Bash",
        {"command": "npm test"},
        [local],
    )
    [update] = result.updated_permissions
    assert update.destination == "session" and update.rules == local.rules
    assert local.destination == "localSettings"  # not mutated
    [rule] = always_allow("Read", [])
    assert rule.to_dict() == {
        "type": "addRules",
        "destination": "session",
        "rules": [{"toolName": "Read"}],
        "behavior": "allow",
    }


def test_remember_applies_exactly_the_chosen_suggestions() -> None:
    npm = PermissionUpdate(
        type="addRules",
        rules=[PermissionRuleValue("Bash", "npm test:*")],
        behavior="allow",
        destination="localSettings",
    )
    broken = PermissionUpdate(type="addRules")  # never sent, so it has no index
    offered = [npm, broken, SET_MODE]

    def chosen(remember: object) -> list[dict] | None:
        result = to_result(
            resolved("allowed", behavior="allow", remember=remember), "Bash", {}, offered
        )
        updates = result.updated_permissions
        return None if updates is None else [u.to_dict() for u in updates]

    # Indexes count the suggestions as the request carried them (the unsendable one left out).
    assert chosen([1]) == [SET_MODE.to_dict()]
    assert chosen([0]) == [{**npm.to_dict(), "destination": "session"}]
    assert chosen([1, 0, 1]) == [SET_MODE.to_dict(), {**npm.to_dict(), "destination": "session"}]
    # Nothing chosen, or only indexes that name no suggestion: no rule at all, no blanket one.
    assert chosen([]) is None and chosen([7]) is None and chosen(False) is None
    assert chosen(True) == [{**npm.to_dict(), "destination": "session"}, SET_MODE.to_dict()]


def test_deny_expiry_and_cancel() -> None:
    deny = to_result(
        resolved("denied", behavior="deny", message="no", interrupt=True), "Write", WRITE, []
    )
    assert isinstance(deny, PermissionResultDeny)
    assert (deny.message, deny.interrupt) == ("no", True)
    plain = to_result(resolved("denied", behavior="deny"), "Write", WRITE, [])
    assert plain.message and plain.interrupt is False
    expired = to_result(
        resolved(
            "expired", behavior="deny", message="The permission request timed out after 1 seconds"
        ),
        "Write",
        WRITE,
        [],
    )
    assert "timed out" in expired.message and expired.interrupt is False
    assert to_result(resolved("expired"), "Write", WRITE, []).message == EXPIRED
    cancelled = to_result(
        resolved("cancelled", behavior="deny", message="The session ended."), "Write", WRITE, []
    )
    assert cancelled.interrupt is True and cancelled.message == "The session ended."


def test_ask_user_question_answers() -> None:
    question = {
        "questions": [
            {"question": "Which color?", "options": []},
            {"question": "Which size?", "options": []},
        ]
    }
    typed = to_result(
        resolved("allowed", behavior="allow", message="blue, large"),
        "AskUserQuestion",
        question,
        [],
    )
    assert typed.updated_input["answers"] == {
        "Which color?": "blue, large",
        "Which size?": "blue, large",
    }
    filled = {**question, "answers": {"Which color?": "red", "Which size?": "S"}}
    exact = to_result(
        resolved("allowed", behavior="allow", updated_input=filled, message="ignored"),
        "AskUserQuestion",
        question,
        [],
    )
    assert exact.updated_input == filled
