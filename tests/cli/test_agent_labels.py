"""The terminal's answer prompts in an ACP agent's own words (pure)."""

from __future__ import annotations

from tether.cli.attach import answer_prompt
from tether.cli.permissions import ANSWER_HELP, answer_help
from tether.cli.render import agent_labels

ACP = {
    "suggestions": [
        {"type": "acp_option", "option_id": "y", "name": "Yes, write it", "kind": "allow_once"},
        {"type": "acp_option", "option_id": "a", "name": "Always", "kind": "allow_always"},
        {"type": "acp_option", "option_id": "n", "name": "No,\n keep it", "kind": "reject_once"},
        {"type": "acp_option", "option_id": "x", "name": "Never", "kind": "reject_always"},
    ]
}
CLAUDE = {"suggestions": [{"type": "addRules", "rules": [{"toolName": "Bash"}]}]}


def test_the_agents_labels_name_the_typed_answers() -> None:
    assert agent_labels(ACP) == {
        "allow": "Yes, write it",
        "always": "Always",
        "deny": "No, keep it",
    }
    assert agent_labels(CLAUDE) == {}
    assert agent_labels({"suggestions": [{"type": "acp_option", "kind": "allow_once"}]}) == {}
    assert answer_help(ACP) == (
        "[a] Yes, write it · [d] No, keep it (d <reason>) · [A] Always · [s]kip · [q]uit"
    )
    assert (
        answer_prompt(ACP) == "answer with y (Yes, write it), n [reason] (No, keep it), A (Always)"
    )


def test_without_the_agents_labels_the_prompts_are_as_before() -> None:
    assert answer_help(CLAUDE) == ANSWER_HELP
    assert answer_prompt(CLAUDE) == "answer with y (allow), n [reason] (deny), A (always)"
