"""The official `openai` SDK against the real gateway: routed to a scripted Anthropic
upstream (translated) and to a scripted OpenAI upstream (passed through)."""

from __future__ import annotations

import httpx
import pytest

from tests.gateway.upstreams import (
    Json,
    Sse,
    an_error,
    an_event,
    an_message,
    an_text_stream,
    oa_completion,
    oa_error,
    oa_text_stream,
)
from tests.support.sdks import openai

HI = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]


@pytest.fixture
def client(gateway) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=f"{gateway.url}/v1", api_key="client-key", max_retries=0, timeout=30
    )


def test_chat_to_anthropic_not_streamed(client, an_upstream):
    an_upstream.push(Json(an_message("hello from claude")))
    completion = client.chat.completions.create(model="gpt-4o", messages=HI, max_tokens=50)
    assert completion.choices[0].message.content == "hello from claude"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.prompt_tokens >= 12
    sent = an_upstream.received[-1]
    assert sent.path == "/v1/messages"
    assert sent.json["model"] == "claude-real"
    assert sent.json["system"] in ("be brief", [{"type": "text", "text": "be brief"}])
    assert sent.headers["x-api-key"] == "an-upstream-key"
    assert sent.headers["anthropic-version"]


def test_chat_to_anthropic_streamed(client, an_upstream):
    an_upstream.push(Sse(an_text_stream("Hel", "lo", "!")))
    stream = client.chat.completions.create(
        model="gpt-4o",
        messages=HI,
        max_tokens=50,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello!"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 5
    assert an_upstream.received[-1].json["stream"] is True


def test_chat_to_anthropic_error_status(client, an_upstream):
    an_upstream.push(an_error(429, "rate_limit_error", "too many requests, slow down"))
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model="gpt-4o", messages=HI, max_tokens=5)
    assert "slow down" in info.value.body["message"]


def test_chat_to_anthropic_overloaded_is_503(client, an_upstream):
    an_upstream.push(an_error(529, "overloaded_error", "Overloaded"))
    with pytest.raises(openai.InternalServerError) as info:
        client.chat.completions.create(model="gpt-4o", messages=HI, max_tokens=5)
    assert info.value.status_code == 503


def test_chat_to_anthropic_mid_stream_error_event(client, an_upstream):
    error = {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded mid-way"},
    }
    frames = [*an_text_stream("partial")[:3], an_event("error", error)]
    an_upstream.push(Sse(frames))
    stream = client.chat.completions.create(model="gpt-4o", messages=HI, max_tokens=5, stream=True)
    with pytest.raises(openai.APIError) as info:
        list(stream)
    assert "Overloaded mid-way" in str(info.value)


def test_chat_to_anthropic_broken_stream(client, an_upstream):
    an_upstream.push(Sse(an_text_stream("partial", "more"), break_after=4))
    stream = client.chat.completions.create(model="gpt-4o", messages=HI, max_tokens=5, stream=True)
    with pytest.raises(openai.APIError) as info:
        list(stream)
    assert "broke off" in str(info.value)


def test_chat_to_openai_passthrough(client, oa_upstream):
    """OpenAI client → OpenAI provider: only the model changes."""
    oa_upstream.push(Json(oa_completion("direct")))
    completion = client.chat.completions.create(model="claude-like-name", messages=HI, max_tokens=5)
    assert completion.choices[0].message.content == "direct"
    sent = oa_upstream.received[-1]
    assert sent.json == {"model": "gpt-test", "messages": HI, "max_tokens": 5}
    assert sent.headers["authorization"] == "Bearer oa-upstream-key"


def test_chat_to_openai_passthrough_streamed_and_errors(client, oa_upstream):
    oa_upstream.push(Sse(oa_text_stream("a", "b")))
    stream = client.chat.completions.create(model="claude-like", messages=HI, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "ab"
    oa_upstream.push(oa_error(400, "bad thing"))
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="claude-like", messages=HI)
    assert info.value.body["message"] == "bad thing"


def test_models_in_both_shapes(gateway):
    oa = httpx.get(f"{gateway.url}/v1/models").json()
    assert oa["object"] == "list"
    ids = {m["id"] for m in oa["data"]}
    assert {"gpt-test", "claude-real"} <= ids
    an = httpx.get(f"{gateway.url}/v1/models", headers={"anthropic-version": "2023-06-01"}).json()
    assert {m["id"] for m in an["data"]} == ids
    assert all(m["type"] == "model" for m in an["data"]) and an["has_more"] is False


def test_sdk_lists_models(client):
    assert "gpt-test" in {m.id for m in client.models.list()}
