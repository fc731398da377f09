"""The terminal's answers in an ACP agent's own words (pure)."""

from __future__ import annotations

from tether.cli.answers import agent_labels, choices

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
    ]


def test_without_the_agents_labels_the_answers_are_tethers_own() -> None:
    keys = [key for key, _ in choices(CLAUDE)]
    labels = dict(choices(CLAUDE))
    assert keys == ["y", "1", "n"]
    assert labels["y"] == "Yes"
    assert labels["n"].startswith("No ")
