"""`--agent NAME` → the command to start, found on PATH, with the gateway's environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from tether.runner.agents import AgentChoiceError, resolve, session_env


@pytest.fixture
def bin_dir(tmp_path: Path) -> Path:
    for name in ("codex-acp", "gemini", "claude-code-acp", "my-agent"):
        path = tmp_path / name
        path.write_text("#!/bin/sh\n")
        path.chmod(0o755)
    return tmp_path


def env(bin_dir: Path, **extra: str) -> dict[str, str]:
    return {"PATH": str(bin_dir), **extra}


def test_builtins_found_on_path_with_args_after_dashes(bin_dir: Path) -> None:
    codex = resolve("codex", ["--flag"], {}, environ=env(bin_dir))
    assert (codex.name, codex.argv) == ("codex", [str(bin_dir / "codex-acp"), "--flag"])
    gemini = resolve("gemini", [], {}, environ=env(bin_dir))
    assert gemini.argv == [str(bin_dir / "gemini"), "--acp"]
    assert resolve("claude-acp", [], {}, environ=env(bin_dir)).name == "claude-code"
    any_agent = resolve("acp", ["my-agent", "--acp"], {}, environ=env(bin_dir))
    assert (any_agent.name, any_agent.argv) == ("my-agent", [str(bin_dir / "my-agent"), "--acp"])


def test_missing_binary_says_how_to_install(tmp_path: Path) -> None:
    with pytest.raises(AgentChoiceError) as caught:
        resolve("codex", [], {}, environ={"PATH": str(tmp_path)})
    assert str(caught.value) == (
        "codex-acp is not on PATH: install it with `npm install -g @zed-industries/codex-acp`"
    )
    with pytest.raises(AgentChoiceError, match="needs the agent's command after `--`"):
        resolve("acp", [], {}, environ=env(tmp_path))
    with pytest.raises(AgentChoiceError, match="unknown agent 'nope'; one of claude, codex"):
        resolve("nope", [], {}, environ=env(tmp_path))


def test_configured_agents_override_and_are_checked(bin_dir: Path) -> None:
    configured = {
        "codex": {"command": "my-agent", "args": ["--x"], "env": {"A": 1}},
        "mine": {"command": "my-agent", "name": "mine-agent"},
        "broken": {"args": []},
    }
    codex = resolve("codex", ["--y"], configured, environ=env(bin_dir))
    assert codex.argv == [str(bin_dir / "my-agent"), "--x", "--y"]
    assert codex.env == {"A": "1"}
    assert resolve("mine", [], configured, environ=env(bin_dir)).name == "mine-agent"
    with pytest.raises(AgentChoiceError, match=r"agents\.broken in the config file needs"):
        resolve("broken", [], configured, environ=env(bin_dir))


def test_gateway_env_per_agent(bin_dir: Path) -> None:
    url = "http://127.0.0.1:8787/"
    claude = resolve("claude-acp", [], {}, gateway=url, environ=env(bin_dir))
    assert claude.env == {"ANTHROPIC_BASE_URL": "http://127.0.0.1:8787"}
    gemini = resolve("gemini", [], {}, gateway=url, environ=env(bin_dir, TETHER_GATEWAY_KEY="k"))
    assert gemini.env == {"GOOGLE_GEMINI_BASE_URL": "http://127.0.0.1:8787", "GEMINI_API_KEY": "k"}
    codex = resolve("codex", [], {}, gateway=url, environ=env(bin_dir))
    assert 'model_providers.tether.base_url="http://127.0.0.1:8787/v1"' in codex.argv
    assert 'model_providers.tether.wire_api="responses"' in codex.argv
    assert codex.env == {"TETHER_GATEWAY_KEY": "tether"}
    # Its own warnings (kept out of answers) survive the gateway's rewrite.
    assert codex.warnings == resolve("codex", [], {}, environ=env(bin_dir)).warnings != ()
    with pytest.raises(AgentChoiceError, match="--gateway does not know how agent 'acp'"):
        resolve("acp", ["my-agent"], {}, gateway=url, environ=env(bin_dir))


def test_session_header_for_every_agent(bin_dir: Path) -> None:
    codex = resolve("codex", [], {}, gateway="http://127.0.0.1:1", environ=env(bin_dir))
    assert 'model_providers.tether.env_http_headers={"X-Tether-Session"="TETHER_SESSION_ID"}' in (
        codex.argv
    )
    fresh = session_env("ses_1", {})
    assert fresh == {
        "TETHER_SESSION_ID": "ses_1",
        "ANTHROPIC_CUSTOM_HEADERS": "X-Tether-Session: ses_1",
        "GEMINI_CLI_CUSTOM_HEADERS": "X-Tether-Session: ses_1",
    }
    kept = session_env(
        "ses_1", {"ANTHROPIC_CUSTOM_HEADERS": "A: 1", "GEMINI_CLI_CUSTOM_HEADERS": "B: 2"}
    )
    assert kept["ANTHROPIC_CUSTOM_HEADERS"] == "A: 1\nX-Tether-Session: ses_1"
    assert kept["GEMINI_CLI_CUSTOM_HEADERS"] == "B: 2, X-Tether-Session: ses_1"
