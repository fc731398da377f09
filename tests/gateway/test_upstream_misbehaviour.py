"""A misbehaving upstream behind the two passthrough surfaces (Gemini to a `gemini`
provider, Responses to an `openai-responses` one): a 200 that is no answer becomes a 502
in the client's own error format, never a success the client cannot read."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.gateway.conftest import GATEWAY_KEY, start_gateway
from tests.gateway.gemini_upstream import gm_text_stream
from tests.gateway.upstreams import Json, ScriptedUpstream, Sse, rs_stream
from tests.support.server import TetherServer

HELLO = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}


@pytest.fixture(scope="module")
def upstream() -> Iterator[ScriptedUpstream]:
    server = ScriptedUpstream().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gw(
    tmp_path_factory: pytest.TempPathFactory, upstream: ScriptedUpstream
) -> Iterator[TetherServer]:
    common = {"retries": 0, "timeout": 10, "api_key": "up-key"}
    config = {
        "gateway": {
            "keys": [GATEWAY_KEY],
            "providers": {
                "gm": {"type": "gemini", "base_url": upstream.url, **common},
                "rs": {"type": "openai-responses", "base_url": f"{upstream.url}/v1", **common},
            },
            "routes": [
                {"match": "gemini-*", "provider": "gm", "model": "gemini-real"},
                {"match": "gpt-*", "provider": "rs", "model": "gpt-real"},
            ],
        }
    }
    server = start_gateway(tmp_path_factory.mktemp("gw-misbehave"), config)
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _fresh(upstream: ScriptedUpstream) -> None:
    upstream.reset()


def _gemini(gw: TetherServer) -> httpx.Response:
    return httpx.post(
        f"{gw.url}/v1beta/models/gemini-x:generateContent",
        json=HELLO,
        headers={"x-goog-api-key": GATEWAY_KEY},
        timeout=15,
    )


def _responses(gw: TetherServer) -> httpx.Response:
    return httpx.post(
        f"{gw.url}/v1/responses",
        json={"model": "gpt-x", "input": "hi"},
        headers={"Authorization": f"Bearer {GATEWAY_KEY}"},
        timeout=15,
    )


BROKEN_ANSWERS = {
    "an error body with status 200": Json(
        {"error": {"code": 500, "message": "boom inside", "status": "INTERNAL"}}
    ),
    "JSON that is not an object": Json("<html>oops</html>"),
    "a stream where JSON was asked": Sse(gm_text_stream("a", "b")),
}


@pytest.mark.parametrize("answer", BROKEN_ANSWERS.values(), ids=BROKEN_ANSWERS.keys())
def test_gemini_passthrough_200_that_is_no_answer_is_a_502(
    gw: TetherServer, upstream: ScriptedUpstream, answer: Json | Sse
) -> None:
    upstream.push(answer)
    response = _gemini(gw)
    assert response.status_code == 502, response.text
    error = response.json()["error"]
    assert error["code"] == 502 and error["status"] == "UNAVAILABLE"
    if isinstance(answer, Json) and isinstance(answer.body, dict):
        assert error["message"] == "boom inside"


@pytest.mark.parametrize(
    "answer",
    [*BROKEN_ANSWERS.values(), Sse(rs_stream("a", "b"))],
    ids=[*BROKEN_ANSWERS.keys(), "a Responses stream where JSON was asked"],
)
def test_responses_passthrough_200_that_is_no_answer_is_a_502(
    gw: TetherServer, upstream: ScriptedUpstream, answer: Json | Sse
) -> None:
    upstream.push(answer)
    response = _responses(gw)
    assert response.status_code == 502, response.text
    error = response.json()["error"]
    assert error["type"] == "server_error" and error["message"]


def test_responses_passthrough_keeps_a_failed_response_object(
    gw: TetherServer, upstream: ScriptedUpstream
) -> None:
    """A Response whose status is failed is still an answer: it goes back as it came."""
    failed = {
        "id": "resp_1",
        "object": "response",
        "status": "failed",
        "error": {"code": "server_error", "message": "model crashed"},
        "output": [],
    }
    upstream.push(Json(failed))
    response = _responses(gw)
    assert response.status_code == 200
    assert response.json() == failed
