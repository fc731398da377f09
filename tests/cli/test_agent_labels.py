"""The terminal's answers in an ACP agent's own words (pure)."""

from __future__ import annotations

from tether.cli.answers import Answer, agent_labels, choices, parse_answer, respond_args, verdict
from tether.runner.acp_normalize import permission_outcome

ACP = {
    "tool_name": "Write",
    "suggestions": [
        {"type": "acp_option", "option_id": "y", "name": "Yes, write it", "kind": "allow_once"},
        {"type": "acp_option", "option_id": "a", "name": "Always", "kind": "allow_always"},
        {"type": "acp_option", "option_id": "n", "name": "No,\n keep it", "kind": "reject_once"},
        {"type": "acp_option", "option_id": "x", "name": "Never", "kind": "reject_always"},
    ],
}
CLAUDE = {
    "tool_name": "Bash",
    "suggestions": [{"type": "addRules", "rules": [{"toolName": "Bash"}]}],
}


def test_the_agents_labels_name_the_typed_answers() -> None:
    assert agent_labels(ACP) == {
        "allow": "Yes, write it",
        "always": "Always",
        "deny": "No, keep it",
    }
    assert agent_labels(CLAUDE) == {}
    assert agent_labels({"suggestions": [{"type": "acp_option", "kind": "allow_once"}]}) == {}
    assert choices(ACP) == [
        ("y", "Yes, write it"),
        ("1", "Always"),
        ("n", "No, keep it (n <reason> tells the agent why)"),
        ("N", "Never (N <reason> tells the agent why)"),
    ]


def test_n_is_no_and_capital_n_the_agents_reject_always() -> None:
    """The web card's "Never" button, as a key: a deny naming the agent's reject_always
    option by its index, which the runner selects; `n` stays a plain no."""
    never = parse_answer("N not this file", [1], [3])
    assert never == Answer("deny", "not this file", index=3)
    assert respond_args(never) == {"behavior": "deny", "message": "not this file", "remember": [3]}
    assert verdict(never, ACP) == "denied; Never"
    assert respond_args(parse_answer("n", [1], [3])) == {"behavior": "deny", "message": None}
    assert parse_answer("N", [], []) == Answer("deny")  # nothing to remember: a plain no
    options = [
        {"optionId": s["option_id"], "name": s["name"], "kind": s["kind"]}
        for s in ACP["suggestions"]
    ]
    decision = {"status": "denied", "decision": respond_args(never)}
    assert permission_outcome(decision, options) == {
        "outcome": {"outcome": "selected", "optionId": "x"}
    }
    assert "N" not in dict(choices(CLAUDE))


def test_without_the_agents_labels_the_answers_are_tethers_own() -> None:
    keys = [key for key, _ in choices(CLAUDE)]
    labels = dict(choices(CLAUDE))
    assert keys == ["y", "1", "n"]
    assert labels["y"] == "Yes"
    assert labels["n"].startswith("No ")
