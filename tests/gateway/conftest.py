"""Gateway fixtures: scripted upstreams, and a real `tether serve --only gateway` in front
of them (one per test module; each test resets the upstreams' scripts and records)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.gateway.upstreams import ScriptedUpstream
from tests.support.server import TetherServer

GATEWAY_KEY = "gw-test-key"


def gateway_config(oa: ScriptedUpstream, an: ScriptedUpstream, **extra) -> dict:
    return {
        "gateway": {
            "ping_interval": 0.3,
            "providers": {
                "oa": {
                    "type": "openai",
                    "base_url": f"{oa.url}/v1",
                    "api_key": "oa-upstream-key",
                    "retries": 2,
                    "retry_backoff": 0.01,
                    "timeout": 20,
                    "max_tokens": 2000,
                },
                "an": {
                    "type": "anthropic",
                    "base_url": an.url,
                    "api_key": "an-upstream-key",
                    "retries": 0,
                    "timeout": 20,
                    "max_tokens": 1000,
                },
                "an_pass": {
                    "type": "anthropic",
                    "base_url": an.url,
                    "pass_client_key": True,
                    "retries": 0,
                },
                "oa_hasty": {
                    "type": "openai",
                    "base_url": f"{oa.url}/v1",
                    "retries": 0,
                    "timeout": 1.0,
                },
            },
            "routes": [
                {"match": "claude-hasty-*", "provider": "oa_hasty", "model": "gpt-test"},
                {"match": "claude-*", "provider": "oa", "model": "gpt-test"},
                {"match": "gpt-*", "provider": "an", "model": "claude-real"},
                {"match": "pass-*", "provider": "an", "model": "claude-real"},
                {"match": "same-*", "provider": "an"},
                {"match": "own-key-*", "provider": "an_pass"},
            ],
            **extra,
        }
    }


def start_gateway(data_dir: Path, config: dict) -> TetherServer:
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "config.yaml").write_text(yaml.safe_dump(config))
    return TetherServer(data_dir=data_dir, extra_args=["--only", "gateway"]).start()


@pytest.fixture(scope="module")
def oa_upstream() -> Iterator[ScriptedUpstream]:
    upstream = ScriptedUpstream().start()
    yield upstream
    upstream.stop()


@pytest.fixture(scope="module")
def an_upstream() -> Iterator[ScriptedUpstream]:
    upstream = ScriptedUpstream().start()
    yield upstream
    upstream.stop()


@pytest.fixture(scope="module")
def gateway(
    tmp_path_factory: pytest.TempPathFactory,
    oa_upstream: ScriptedUpstream,
    an_upstream: ScriptedUpstream,
) -> Iterator[TetherServer]:
    server = start_gateway(
        tmp_path_factory.mktemp("gateway"), gateway_config(oa_upstream, an_upstream)
    )
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _fresh_scripts(request: pytest.FixtureRequest) -> None:
    for name in ("oa_upstream", "an_upstream"):
        if name in request.fixturenames:
            request.getfixturevalue(name).reset()
