"""`tether gateway check` and `tether gateway route`, run as real commands."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.gateway.test_config import ISSUE_EXAMPLE
from tests.support import forkserver


def tether(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("TETHER_") and k not in ("LOCAL_KEY", "ANTHROPIC_API_KEY")
    }
    return forkserver.run(args, {**base, "COLUMNS": "200", **(env or {})}, timeout=60)


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "gateway": {
                    **ISSUE_EXAMPLE,
                    "scenarios": {
                        "thinking": "local,deep-thinker",
                        "long_context": {"provider": "local", "model": "long", "threshold": 100000},
                    },
                }
            }
        )
    )
    return path


ENV = {"LOCAL_KEY": "lk-secret", "ANTHROPIC_API_KEY": "ak-secret"}


def test_check_prints_providers_and_routes(config_file):
    result = tether("gateway", "check", "--config", str(config_file), env=ENV)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "http://127.0.0.1:11434/v1" in out and "https://api.anthropic.com" in out
    lines = out.splitlines()
    order = [
        next(i for i, line in enumerate(lines) if needle in line)
        for needle in ("long_context", "thinking", "'claude-haiku-*'", "'*'")
    ]
    assert order == sorted(order)
    assert "qwen3-coder" in out and "ok: 2 provider(s)" in out
    assert "secret" not in out  # keys are never printed


def test_check_masks_a_base_urls_userinfo(tmp_path):
    config = tmp_path / "config.yaml"
    provider = {"type": "openai", "base_url": "https://tether:pw-in-url@llm.example/v1"}
    routes = [{"match": "*", "provider": "p"}]
    config.write_text(yaml.safe_dump({"gateway": {"providers": {"p": provider}, "routes": routes}}))
    for args in (("check",), ("route", "m")):
        result = tether("gateway", *args, "--config", str(config))
        assert result.returncode == 0, result.stderr
        assert "https://[redacted]@llm.example/v1" in result.stdout
        assert "pw-in-url" not in result.stdout + result.stderr
    provider["base_url"] = "ftp://tether:pw-in-url@llm.example/v1"
    config.write_text(yaml.safe_dump({"gateway": {"providers": {"p": provider}, "routes": routes}}))
    result = tether("gateway", "check", "--config", str(config))
    assert result.returncode == 1 and "ftp://[redacted]@llm.example" in result.stderr
    assert "pw-in-url" not in result.stdout + result.stderr


def test_check_fails_in_one_line_on_a_bad_config(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"gateway": {"routes": [{"match": "*", "provider": "ghost"}]}}))
    result = tether("gateway", "check", "--config", str(bad))
    assert result.returncode == 1
    assert "gateway.routes[0].provider: no provider named 'ghost'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_check_with_a_missing_secret(config_file):
    result = tether("gateway", "check", "--config", str(config_file))
    assert result.returncode == 1
    assert "api_key: environment variable" in result.stderr
    assert "is not set" in result.stderr


def test_check_on_no_config_shows_the_default(tmp_path):
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    result = tether("gateway", "check", "--config", str(empty))
    assert result.returncode == 0
    assert "api.anthropic.com" in result.stdout and "client's key" in result.stdout


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["claude-haiku-4-5"],
            "claude-haiku-4-5 → local (openai, http://127.0.0.1:11434/v1) model qwen3-coder",
        ),
        (
            ["claude-opus-4"],
            "claude-opus-4 → anthropic (anthropic, https://api.anthropic.com) model claude-opus-4",
        ),
        (
            ["claude-opus-4", "--thinking"],
            "→ local (openai, http://127.0.0.1:11434/v1) model deep-thinker",
        ),
        (["claude-opus-4", "--tokens", "150000"], "model long"),
    ],
)
def test_route_shows_where_a_model_goes(config_file, args, expected):
    result = tether("gateway", "route", *args, "--config", str(config_file), env=ENV)
    assert result.returncode == 0, result.stderr
    assert expected in result.stdout


def test_route_with_no_match_fails(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(
        yaml.safe_dump(
            {"gateway": {**ISSUE_EXAMPLE, "routes": [{"match": "gpt-*", "provider": "local"}]}}
        )
    )
    result = tether("gateway", "route", "claude-x", "--config", str(path), env=ENV)
    assert result.returncode == 1
    assert "no gateway route matches model 'claude-x'" in result.stderr


def test_help_explains_the_commands():
    result = tether("gateway", "--help")
    assert result.returncode == 0
    assert "check" in result.stdout and "route" in result.stdout
