"""A misbehaving upstream behind the two passthrough surfaces (Gemini to a `gemini`
provider, Responses to an `openai-responses` one): a 200 that is no answer becomes a 502
in the client's own error format, never a success the client cannot read."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import yaml

from tests.gateway.conftest import GATEWAY_KEY
from tests.gateway.gemini_upstream import gm_reply, gm_text_stream
from tests.gateway.upstreams import Json, ScriptedUpstream, Sse, an_text_stream, rs_stream
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
                "an": {"type": "anthropic", "base_url": upstream.url, **common},
                "gm_own_key": {"type": "gemini", "base_url": upstream.url, "pass_client_key": True},
            },
            "routes": [
                {"match": "gemini-own-*", "provider": "gm_own_key", "model": "gemini-real"},
                {"match": "gemini-*", "provider": "gm", "model": "gemini-real"},
                {"match": "gpt-*", "provider": "rs", "model": "gpt-real"},
                {"match": "claude-*", "provider": "an", "model": "claude-real"},
            ],
        }
    }
    data_dir = tmp_path_factory.mktemp("gw-misbehave")
    (data_dir / "config.yaml").write_text(yaml.safe_dump(config))
    # Debug logging: the test of keys below reads the log for them.
    args = ["--only", "gateway", "--log-level", "debug"]
    # A child process: the tests read its log for keys that must not be there.
    server = TetherServer(data_dir=data_dir, extra_args=args, process=True).start()
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


@pytest.mark.parametrize("method", ["generateContent", "streamGenerateContent"])
def test_gemini_query_key_reaches_a_pass_client_key_provider_as_a_header(
    gw: TetherServer, upstream: ScriptedUpstream, method: str
) -> None:
    """Gemini clients may send their key as `?key=`; a provider set to pass the client's key
    on got none (the query key is taken off the forwarded URL). It goes as a header, and
    is never logged, even at debug level."""
    upstream.push(gm_reply())
    response = httpx.post(
        f"{gw.url}/v1beta/models/gemini-own-x:{method}?alt=sse&key={GATEWAY_KEY}",
        json=HELLO,
        timeout=15,
    )
    assert response.status_code == 200, response.text
    received = upstream.received[0]
    assert received.headers["x-goog-api-key"] == GATEWAY_KEY
    assert "key=" not in received.query
    assert gw.log_path is not None and GATEWAY_KEY not in gw.log_path.read_text()


def test_a_provider_key_never_reaches_the_log_or_a_wrong_key_the_upstream(
    gw: TetherServer, upstream: ScriptedUpstream
) -> None:
    for query, headers in [("?key=wrong-key-1", {}), ("", {"x-goog-api-key": "wrong-key-2"})]:
        response = httpx.post(
            f"{gw.url}/v1beta/models/gemini-x:generateContent{query}",
            json=HELLO,
            headers=headers,
            timeout=15,
        )
        assert response.status_code == 401
        assert response.json()["error"]["status"] == "UNAUTHENTICATED"
    upstream.push(gm_reply())
    assert _gemini(gw).status_code == 200
    assert upstream.received[-1].headers["x-goog-api-key"] == "up-key"
    assert len(upstream.received) == 1
    log = gw.log_path.read_text() if gw.log_path else ""
    for secret in ("up-key", "wrong-key-1", "wrong-key-2", GATEWAY_KEY):
        assert secret not in log


LONG = tuple("abcdefghijklmnopqrst")
GEMINI_STREAM = "/v1beta/models/{model}:streamGenerateContent?alt=sse"


@pytest.mark.parametrize(
    ("path", "body", "frames"),
    [
        (GEMINI_STREAM.format(model="gemini-x"), HELLO, gm_text_stream(*LONG)),
        (GEMINI_STREAM.format(model="gpt-x"), HELLO, rs_stream(*LONG)),
        (GEMINI_STREAM.format(model="claude-x"), HELLO, an_text_stream(*LONG)),
        ("/v1/responses", {"model": "gpt-x", "input": "hi", "stream": True}, rs_stream(*LONG)),
        (
            "/v1/responses",
            {"model": "gemini-x", "input": "hi", "stream": True},
            gm_text_stream(*LONG),
        ),
    ],
    ids=[
        "gemini-to-gemini",
        "gemini-to-responses",
        "gemini-to-anthropic",
        "responses-to-responses",
        "responses-to-gemini",
    ],
)
def test_a_client_leaving_mid_stream_stops_the_upstream(
    gw: TetherServer, upstream: ScriptedUpstream, path: str, body: dict, frames: list[bytes]
) -> None:
    upstream.push(Sse(frames, delay=0.2))
    headers = {"x-goog-api-key": GATEWAY_KEY, "Authorization": f"Bearer {GATEWAY_KEY}"}
    with httpx.stream("POST", gw.url + path, json=body, headers=headers, timeout=10) as response:
        assert response.status_code == 200
        next(response.iter_bytes())  # the stream has begun; now leave
    assert upstream.wait_outcome(0, timeout=8) == "stopped"


STREAM_ERRORS = {
    "an error object": Json(
        {"error": {"code": 500, "message": "boom inside", "status": "INTERNAL"}}
    ),
    "an array with an error": Json([{"error": {"code": 500, "message": "boom inside"}}]),
}


@pytest.mark.parametrize("answer", STREAM_ERRORS.values(), ids=STREAM_ERRORS.keys())
@pytest.mark.parametrize("query", ["?alt=sse", ""])
def test_gemini_stream_answered_by_a_json_error_with_200_is_a_502(
    gw: TetherServer, upstream: ScriptedUpstream, answer: Json, query: str
) -> None:
    upstream.push(answer)
    response = httpx.post(
        f"{gw.url}/v1beta/models/gemini-x:streamGenerateContent{query}",
        json=HELLO,
        headers={"x-goog-api-key": GATEWAY_KEY},
        timeout=15,
    )
    assert response.status_code == 502, response.text
    assert response.json()["error"]["message"] == "boom inside"


def test_gemini_json_array_stream_still_passes_through(
    gw: TetherServer, upstream: ScriptedUpstream
) -> None:
    chunks = [{"candidates": [{"content": {"role": "model", "parts": [{"text": "hi"}]}}]}]
    upstream.push(Json(chunks))
    response = httpx.post(
        f"{gw.url}/v1beta/models/gemini-x:streamGenerateContent",
        json=HELLO,
        headers={"x-goog-api-key": GATEWAY_KEY},
        timeout=15,
    )
    assert response.status_code == 200
    assert response.json() == chunks


def test_responses_stream_answered_by_a_json_error_with_200_is_a_502(
    gw: TetherServer, upstream: ScriptedUpstream
) -> None:
    upstream.push(Json({"error": {"message": "boom inside", "type": "server_error"}}))
    response = httpx.post(
        f"{gw.url}/v1/responses",
        json={"model": "gpt-x", "input": "hi", "stream": True},
        headers={"Authorization": f"Bearer {GATEWAY_KEY}"},
        timeout=15,
    )
    assert response.status_code == 502, response.text
    assert response.json()["error"]["message"] == "boom inside"
