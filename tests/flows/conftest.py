"""Flows fixtures: a whole tether server (gateway and relay on one port, so flows are
stored) in front of scripted upstreams, on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

# The scripted upstreams and their per-test reset are the gateway tests' own.
from tests.gateway.conftest import (  # noqa: F401
    _fresh_scripts,
    an_upstream,
    gateway_config,
    oa_upstream,
)
from tests.gateway.upstreams import ScriptedUpstream
from tests.support.server import TetherServer

SECRET_IN_BODY = "sk-live-0123456789abcdef"
REDACT = [r"sk-live-[0-9a-f]+"]


def flows_config(oa: ScriptedUpstream, an: ScriptedUpstream, **flows: Any) -> dict:
    settings = {
        "redact": REDACT,
        "prices": {"gpt-test": {"input": 1.0, "output": 2.0}},
        **flows,
    }
    return gateway_config(oa, an, flows=settings)


@pytest.fixture
def start_flows_server(
    server_factory,
    tmp_path: Path,
    oa_upstream,  # noqa: F811
    an_upstream,  # noqa: F811
) -> Callable[..., TetherServer]:
    def start(
        edit_providers: dict[str, dict[str, Any]] | None = None, **flows: Any
    ) -> TetherServer:
        """`edit_providers` changes the scripted providers' settings, by name."""
        data_dir = tmp_path / f"flows{time.monotonic_ns()}"
        data_dir.mkdir()
        config = flows_config(oa_upstream, an_upstream, **flows)
        for name, edits in (edit_providers or {}).items():
            config["gateway"]["providers"][name].update(edits)
        (data_dir / "config.yaml").write_text(yaml.safe_dump(config))
        return server_factory(data_dir=data_dir)

    return start


@pytest.fixture
def flows_server(start_flows_server) -> TetherServer:
    return start_flows_server()


def open_session(server: TetherServer, session_id: str) -> str:
    """A relay session of that id, for calls to be tagged with (`X-Tether-Session`)."""
    with server.client() as http:
        http.post("/api/v1/sessions", json={"id": session_id}).raise_for_status()
    return session_id


def wait_flows(server: TetherServer, count: int, **query: Any) -> list[dict[str, Any]]:
    """The newest flows once at least `count` are stored (the writer is behind the call)."""
    deadline = time.monotonic() + 10
    with server.client() as http:
        while True:
            answer = http.get("/api/v1/flows", params=query)
            answer.raise_for_status()
            flows = answer.json()["flows"]
            if len(flows) >= count or time.monotonic() > deadline:
                return flows
            time.sleep(0.05)


def get_flow(server: TetherServer, flow_id: str) -> dict[str, Any]:
    with server.client() as http:
        answer = http.get(f"/api/v1/flows/{flow_id}")
        answer.raise_for_status()
        return answer.json()


def raw_body(server: TetherServer, flow_id: str, part: str) -> bytes:
    with server.client() as http:
        answer = http.get(f"/api/v1/flows/{flow_id}/body/{part}")
        answer.raise_for_status()
        return answer.content


def health(server: TetherServer) -> dict[str, Any]:
    return httpx.get(f"{server.url}/healthz", timeout=10).json()
