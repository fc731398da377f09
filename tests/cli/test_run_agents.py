"""`tether run --agent …` refuses what it cannot start in one line, before touching the
relay: a missing agent binary (with how to install it), an unknown name, a bad config."""

from __future__ import annotations

from pathlib import Path

from tests.cli.support import cli_env, one_line_error, tether


def env_without_agents(tmp_path: Path) -> dict[str, str]:
    env = cli_env("http://127.0.0.1:9", "unused", tmp_path)
    (tmp_path / "config.yaml").write_text("")
    env["PATH"] = str(tmp_path / "empty-bin")  # nothing to find; python runs by full path
    return env


def test_missing_agent_binary_says_how_to_install(tmp_path: Path) -> None:
    env = env_without_agents(tmp_path)
    line = one_line_error(tether(env, "run", "--agent", "codex", "--cwd", str(tmp_path)))
    assert line == (
        "error: codex-acp is not on PATH: install it with "
        "`npm install -g @zed-industries/codex-acp`"
    )
    line = one_line_error(tether(env, "run", "--agent", "gemini", "--cwd", str(tmp_path)))
    assert "npm install -g @google/gemini-cli" in line


def test_unknown_agent_acp_without_command_and_fork(tmp_path: Path) -> None:
    env = env_without_agents(tmp_path)
    line = one_line_error(tether(env, "run", "--agent", "nope", "--cwd", str(tmp_path)))
    assert line.startswith("error: unknown agent 'nope'; one of claude, codex, gemini")
    line = one_line_error(tether(env, "run", "--agent", "acp", "--cwd", str(tmp_path)))
    assert "needs the agent's command after `--`" in line
    done = tether(env, "run", "--agent", "codex", "--resume", "ses_x", "--fork")
    assert "--fork works with --agent claude only" in one_line_error(done)


def test_configured_agent_must_name_a_command(tmp_path: Path) -> None:
    env = env_without_agents(tmp_path)
    (tmp_path / "config.yaml").write_text("agents:\n  mine:\n    args: [--acp]\n")
    line = one_line_error(tether(env, "run", "--agent", "mine", "--cwd", str(tmp_path)))
    assert line == "error: agents.mine in the config file needs a `command` string"
