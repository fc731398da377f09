"""Inbound gateway keys, the body limit, and serve refusing a bad gateway config."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest
import yaml

from tests.gateway.conftest import GATEWAY_KEY, gateway_config
from tests.gateway.upstreams import Json, an_message, oa_completion
from tests.support.sdks import anthropic, openai
from tests.support.server import TetherServer


@pytest.fixture(scope="module")
def locked(tmp_path_factory, oa_upstream, an_upstream):
    config = gateway_config(
        oa_upstream, an_upstream, keys=["env:GW_TEST_KEY", "second-key"], max_body_bytes=4096
    )
    data_dir = tmp_path_factory.mktemp("locked")
    (data_dir / "config.yaml").write_text(yaml.safe_dump(config))
    server = TetherServer(
        data_dir=data_dir, extra_args=["--only", "gateway"], extra_env={"GW_TEST_KEY": GATEWAY_KEY}
    ).start()
    yield server
    server.stop()


BODY = {"model": "claude-x", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}


def test_request_without_key_is_refused(locked, oa_upstream):
    r = httpx.post(f"{locked.url}/v1/messages", json=BODY)
    assert r.status_code == 401
    assert r.json()["error"]["type"] == "authentication_error"
    r = httpx.post(f"{locked.url}/v1/messages", json=BODY, headers={"x-api-key": "nope"})
    assert r.status_code == 401 and r.json()["error"]["message"] == "invalid gateway key"
    assert httpx.get(f"{locked.url}/v1/models").status_code == 401
    assert oa_upstream.received == []


def test_sdks_with_a_gateway_key(locked, oa_upstream, an_upstream):
    oa_upstream.push(Json(oa_completion("in")))
    client = anthropic.Anthropic(base_url=locked.url, api_key=GATEWAY_KEY, max_retries=0)
    assert client.messages.create(**BODY).content[0].text == "in"
    # The gateway key stays here: the upstream gets the provider's key.
    assert oa_upstream.received[-1].headers["authorization"] == "Bearer oa-upstream-key"

    an_upstream.push(Json(an_message("also in")))
    oa_client = openai.OpenAI(base_url=f"{locked.url}/v1", api_key="second-key", max_retries=0)
    reply = oa_client.chat.completions.create(model="gpt-x", messages=BODY["messages"])
    assert reply.choices[0].message.content == "also in"
    assert GATEWAY_KEY not in str(an_upstream.received[-1].headers)

    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(
            base_url=f"{locked.url}/v1", api_key="wrong", max_retries=0
        ).chat.completions.create(model="gpt-x", messages=BODY["messages"])


@pytest.mark.parametrize("path", ["/v1/messages", "/v1/chat/completions"])
def test_body_over_the_limit_is_413(locked, path):
    big = {**BODY, "messages": [{"role": "user", "content": "x" * 5000}]}
    r = httpx.post(f"{locked.url}{path}", json=big, headers={"x-api-key": GATEWAY_KEY})
    assert r.status_code == 413
    if path == "/v1/messages":
        assert r.json()["error"]["type"] == "request_too_large"
    else:
        assert (
            "limit of 4096" in r.json()["error"]["message"]
            or "at most 4096" in r.json()["error"]["message"]
        )


def test_chunked_body_over_the_limit_is_413(locked):
    def chunks():
        for _ in range(10):
            yield b"x" * 1000

    r = httpx.post(
        f"{locked.url}/v1/messages",
        content=chunks(),
        headers={"x-api-key": GATEWAY_KEY, "content-type": "application/json"},
    )
    assert r.status_code == 413


def test_serve_refuses_an_invalid_gateway_config(tmp_path):
    (tmp_path / "config.yaml").write_text(
        yaml.safe_dump(
            {"gateway": {"providers": {"x": {"type": "grpc", "base_url": "http://127.0.0.1:1"}}}}
        )
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tether",
            "serve",
            "--only",
            "gateway",
            "--port",
            "0",
            "--config",
            str(tmp_path / "config.yaml"),
            "--data-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0
    assert "gateway.providers.x.type" in proc.stderr
    assert "Traceback" not in proc.stderr
