"""Anthropic client → Anthropic provider: bytes pass through, only model and auth change."""

from __future__ import annotations

import httpx
import orjson
import pytest

import tether
from tests.gateway.upstreams import Json, Sse, an_error, an_message, an_text_stream, oa_completion
from tests.support.sdks import anthropic

# Odd spacing and a non-ASCII character: a re-serializer would change these bytes.
RAW = (
    '{"model": "same-model",  "max_tokens": 64,\n "messages": [{"role": "user", '
    '"content": "h\\u00e9llo caf\u00e9"}], "metadata": {"user_id": "u1"}}'
).encode()


def post(gateway, body: bytes, path: str = "/v1/messages", **headers: str) -> httpx.Response:
    return httpx.post(
        f"{gateway.url}{path}",
        content=body,
        timeout=30,
        headers={
            "content-type": "application/json",
            "anthropic-version": "2023-06-01",
            "x-api-key": "client-secret",
            **headers,
        },
    )


def test_unchanged_model_sends_the_clients_exact_bytes(gateway, an_upstream):
    an_upstream.push(Json(an_message("ok", model="same-model")))
    r = post(gateway, RAW, **{"anthropic-beta": "interleaved-thinking-2025-05-14"})
    assert r.status_code == 200 and r.json()["content"][0]["text"] == "ok"
    sent = an_upstream.received[-1]
    assert sent.raw == RAW
    assert sent.headers["x-api-key"] == "an-upstream-key"
    assert sent.headers["anthropic-beta"] == "interleaved-thinking-2025-05-14"
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert "client-secret" not in orjson.dumps(sent.headers).decode()
    assert r.headers["tether-route"] == "an/same-model"


def test_model_rewrite_changes_nothing_else(gateway, an_upstream):
    body = orjson.loads(RAW) | {"model": "pass-me"}
    an_upstream.push(Json(an_message("ok")))
    r = post(gateway, orjson.dumps(body), authorization="Bearer also-secret")
    assert r.status_code == 200
    sent = an_upstream.received[-1]
    assert sent.json == body | {"model": "claude-real"}
    assert "authorization" not in sent.headers


def test_stream_bytes_come_back_unchanged(gateway, an_upstream):
    frames = an_text_stream("one ", "two")
    an_upstream.push(Sse(frames))
    body = orjson.loads(RAW) | {"stream": True}
    with httpx.stream("POST", f"{gateway.url}/v1/messages", json=body, timeout=30) as r:
        received = r.read()
    assert r.headers["content-type"].startswith("text/event-stream")
    assert received == b"".join(frames)


def test_sdk_stream_through_passthrough(gateway, an_upstream):
    an_upstream.push(Sse(an_text_stream("pass", "through")))
    client = anthropic.Anthropic(base_url=gateway.url, api_key="k", max_retries=0)
    with client.messages.stream(
        model="pass-x", max_tokens=5, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        assert "".join(stream.text_stream) == "passthrough"


def test_errors_pass_through_unchanged(gateway, an_upstream):
    an_upstream.push(an_error(529, "overloaded_error", "Overloaded"))
    r = post(gateway, RAW)
    assert r.status_code == 529
    assert r.json() == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
    }


def test_non_anthropic_error_body_becomes_one(gateway, an_upstream):
    an_upstream.push(Json("<html><title>502 Bad Gateway</title></html>", status=502))
    r = post(gateway, RAW)
    assert r.status_code == 502
    assert r.json()["type"] == "error" and "502 Bad Gateway" in r.json()["error"]["message"]


def test_broken_stream_ends_with_error_event(gateway, an_upstream):
    an_upstream.push(Sse(an_text_stream("partial", "rest"), break_after=4))
    with httpx.stream(
        "POST", f"{gateway.url}/v1/messages", timeout=30, json=orjson.loads(RAW) | {"stream": True}
    ) as r:
        text = r.read().decode()
    assert text.rstrip().splitlines()[-2] == "event: error"
    assert "message_stop" not in text


def test_client_key_passed_only_when_configured(gateway, an_upstream):
    an_upstream.push(Json(an_message("ok")))
    r = post(gateway, orjson.dumps(orjson.loads(RAW) | {"model": "own-key-model"}))
    assert r.status_code == 200
    assert an_upstream.received[-1].headers["x-api-key"] == "client-secret"


def test_count_tokens_uses_the_upstream_endpoint(gateway, an_upstream):
    an_upstream.push(Json({"input_tokens": 4242}))
    r = post(
        gateway,
        orjson.dumps({"model": "pass-x", "messages": [{"role": "user", "content": "hi"}]}),
        path="/v1/messages/count_tokens",
    )
    assert r.json() == {"input_tokens": 4242}
    assert an_upstream.received[-1].path == "/v1/messages/count_tokens"
    assert an_upstream.received[-1].json["model"] == "claude-real"


@pytest.mark.parametrize("path", ["/v1/messages", "/v1/chat/completions"])
def test_malformed_json_is_400_in_the_clients_format(gateway, path):
    r = post(gateway, b'{"model": "x", ', path=path)
    assert r.status_code == 400
    body = r.json()
    if path == "/v1/messages":
        assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
    else:
        assert body["error"]["type"] == "invalid_request_error"
    assert "not valid JSON" in r.text


def test_missing_model_and_wrong_shapes(gateway):
    assert post(gateway, b'{"messages": []}').status_code == 400
    assert (
        post(gateway, b"[1, 2]").json()["error"]["message"] == "request body must be a JSON object"
    )


def test_unroutable_model_is_404(gateway):
    r = post(gateway, b'{"model": "mystery", "messages": []}')
    assert r.status_code == 404
    assert r.json()["error"]["type"] == "not_found_error"
    assert "mystery" in r.json()["error"]["message"]


def test_unreachable_provider_is_502(tmp_path, oa_upstream, an_upstream):
    from tests.gateway.conftest import start_gateway
    from tests.support.server import refused_port

    dead = f"http://127.0.0.1:{refused_port()}"
    server = start_gateway(
        tmp_path,
        {
            "gateway": {
                "providers": {
                    "gone": {
                        "type": "anthropic",
                        "base_url": dead,
                        "retries": 1,
                        "retry_backoff": 0.01,
                    }
                }
            }
        },
    )
    try:
        r = post(server, RAW)
        assert r.status_code == 502
        assert r.json()["error"]["type"] == "api_error"
        assert "cannot reach provider 'gone'" in r.json()["error"]["message"]
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/messages", {"model": "claude-x", "max_tokens": 5, "messages": "hi"}),
        ("/v1/messages", {"model": "claude-x", "max_tokens": 5, "messages": [1, 2]}),
        ("/v1/chat/completions", {"model": "gpt-x", "messages": [{"role": "user", "content": 5}]}),
    ],
)
def test_translated_body_of_the_wrong_shape_is_400(gateway, oa_upstream, an_upstream, path, body):
    r = post(gateway, orjson.dumps(body), path=path)
    assert r.status_code == 400
    assert "unexpected shape" in r.json()["error"]["message"]
    assert oa_upstream.received == [] and an_upstream.received == []


def test_untranslatable_upstream_answer_is_502(gateway, oa_upstream):
    oa_upstream.push(Json({"choices": "not a list", "object": "chat.completion"}))
    r = post(
        gateway,
        orjson.dumps(
            {"model": "claude-x", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
        ),
    )
    assert r.status_code == 502
    assert r.json()["type"] == "error"


def test_passthrough_pings_between_events_in_long_silences(gateway, an_upstream):
    frames = an_text_stream("slow")
    an_upstream.push(Sse(frames, delay=0.8))
    with httpx.stream(
        "POST", f"{gateway.url}/v1/messages", timeout=30, json=orjson.loads(RAW) | {"stream": True}
    ) as r:
        received = r.read()
    ours = b'event: ping\ndata: {"type": "ping"}\n\n'
    assert ours in received
    # Taking our pings out leaves exactly the upstream's bytes: none landed mid-event.
    assert received.replace(ours, b"") == b"".join(frames)


def test_max_tokens_clamped_to_the_providers_limit(gateway, an_upstream, oa_upstream):
    an_upstream.push(Json(an_message("ok")))
    body = orjson.loads(RAW) | {"model": "same-model", "max_tokens": 64000}
    assert post(gateway, orjson.dumps(body)).status_code == 200
    assert an_upstream.received[-1].json == body | {"max_tokens": 1000}

    oa_upstream.push(Json(oa_completion("ok")), Json(oa_completion("ok")))
    body = {
        "model": "claude-x",
        "max_tokens": 64000,
        "messages": [{"role": "user", "content": "hi"}],
    }
    assert post(gateway, orjson.dumps(body)).status_code == 200
    assert oa_upstream.received[-1].json["max_tokens"] == 2000
    chat = {
        "model": "claude-x",
        "max_completion_tokens": 9000,
        "messages": [{"role": "user", "content": "hi"}],
    }
    assert post(gateway, orjson.dumps(chat), path="/v1/chat/completions").status_code == 200
    assert oa_upstream.received[-1].json["max_completion_tokens"] == 2000


def test_the_clients_user_agent_goes_upstream_and_tether_names_itself_when_there_is_none(
    gateway, an_upstream
):
    an_upstream.push(Json(an_message("ok", model="same-model")))
    assert post(gateway, RAW, **{"user-agent": "claude-cli/2.0.1"}).status_code == 200
    assert an_upstream.received[-1].headers["user-agent"] == "claude-cli/2.0.1"
    an_upstream.push(Json(an_message("ok", model="same-model")))
    with httpx.Client(timeout=30) as client:
        del client.headers["user-agent"]  # a client that sends none at all
        r = client.post(
            f"{gateway.url}/v1/messages",
            content=RAW,
            headers={"content-type": "application/json", "anthropic-version": "2023-06-01"},
        )
    assert r.status_code == 200, r.text
    assert an_upstream.received[-1].headers["user-agent"] == f"tether/{tether.__version__}"
