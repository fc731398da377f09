"""The official `anthropic` SDK against the real gateway, routed to a scripted
OpenAI-compatible upstream: what Claude Code's calls look like after translation."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.gateway.upstreams import (
    Json,
    Sse,
    oa_chunk,
    oa_completion,
    oa_error,
    oa_text_stream,
    oa_tool_stream,
)
from tests.support.sdks import anthropic

HI = [{"role": "user", "content": "hi"}]
TOOLS = [
    {
        "name": "Bash",
        "description": "Run a command",
        "input_schema": {
            "type": "object",
            "properties": {"command": {"type": "string"}},
            "required": ["command"],
        },
    },
    {
        "name": "Read",
        "description": "Read a file",
        "input_schema": {"type": "object", "properties": {"file_path": {"type": "string"}}},
    },
]


@pytest.fixture
def client(gateway) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        base_url=gateway.url, api_key="client-key", max_retries=0, timeout=30
    )


def test_text_not_streamed(client, oa_upstream):
    oa_upstream.push(Json(oa_completion("hello there")))
    message = client.messages.create(
        model="claude-sonnet-4", max_tokens=100, messages=HI, system="be brief"
    )
    assert [b.type for b in message.content] == ["text"]
    assert message.content[0].text == "hello there"
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens == 11 and message.usage.output_tokens == 7
    sent = oa_upstream.received[-1]
    assert sent.path == "/v1/chat/completions"
    assert sent.json["model"] == "gpt-test"
    assert sent.json["messages"][0] == {"role": "system", "content": "be brief"}
    # The upstream gets the provider's key, never the client's.
    assert sent.headers["authorization"] == "Bearer oa-upstream-key"
    assert "client-key" not in json.dumps(sent.headers)


def test_text_and_thinking_streamed(client, oa_upstream):
    oa_upstream.push(Sse(oa_text_stream("Hel", "lo ", "world", reasoning=("let me ", "think"))))
    with client.messages.stream(
        model="claude-sonnet-4",
        max_tokens=100,
        messages=HI,
        thinking={"type": "enabled", "budget_tokens": 1024},
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "Hello world"
    assert [b.type for b in final.content] == ["thinking", "text"]
    assert final.content[0].thinking == "let me think"
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == 7
    assert oa_upstream.received[-1].json["stream"] is True


def test_parallel_tool_calls_streamed(client, oa_upstream):
    calls = [
        ("call_a", "Bash", json.dumps({"command": "echo one && echo two"})),
        ("call_b", "Read", json.dumps({"file_path": "/tmp/some/long/path.txt"})),
    ]
    oa_upstream.push(Sse(oa_tool_stream(calls, split=4)))
    with client.messages.stream(
        model="claude-sonnet-4", max_tokens=100, messages=HI, tools=TOOLS
    ) as stream:
        final = stream.get_final_message()
    uses = [b for b in final.content if b.type == "tool_use"]
    assert [(u.name, u.input) for u in uses] == [
        ("Bash", {"command": "echo one && echo two"}),
        ("Read", {"file_path": "/tmp/some/long/path.txt"}),
    ]
    assert len({u.id for u in uses}) == 2
    assert final.stop_reason == "tool_use"
    sent = oa_upstream.received[-1].json
    assert [t["function"]["name"] for t in sent["tools"]] == ["Bash", "Read"]


def test_tool_calls_not_streamed_then_result(client, oa_upstream):
    oa_upstream.push(Json(oa_completion(tool_calls=[("call_1", "Bash", '{"command": "ls"}')])))
    first = client.messages.create(
        model="claude-sonnet-4", max_tokens=100, messages=HI, tools=TOOLS
    )
    use = first.content[-1]
    assert use.type == "tool_use" and use.input == {"command": "ls"}
    assert first.stop_reason == "tool_use"
    oa_upstream.push(Json(oa_completion("two files")))
    history = [
        *HI,
        {"role": "assistant", "content": [b.model_dump() for b in first.content]},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "a.txt\nb.txt"}],
        },
    ]
    second = client.messages.create(
        model="claude-sonnet-4", max_tokens=100, messages=history, tools=TOOLS
    )
    assert second.content[0].text == "two files"
    sent = oa_upstream.received[-1].json["messages"]
    tool_msg = next(m for m in sent if m["role"] == "tool")
    assert "a.txt" in str(tool_msg["content"])
    assistant = next(m for m in sent if m["role"] == "assistant")
    assert assistant["tool_calls"][0]["id"] == tool_msg["tool_call_id"]


@pytest.mark.parametrize(
    ("status", "error_class", "kind"),
    [
        (429, "RateLimitError", "rate_limit_error"),
        (400, "BadRequestError", "invalid_request_error"),
        (401, "AuthenticationError", "authentication_error"),
        (503, "InternalServerError", "overloaded_error"),
    ],
)
def test_upstream_errors_keep_status_and_message(client, oa_upstream, status, error_class, kind):
    # Enough failures to exhaust the provider's retries (2) for the retried statuses.
    oa_upstream.push(*[oa_error(status, f"upstream says no ({status})")] * 3)
    with pytest.raises(getattr(anthropic, error_class)) as info:
        client.messages.create(model="claude-sonnet-4", max_tokens=10, messages=HI)
    assert info.value.status_code == status
    assert info.value.body["error"]["type"] == kind
    assert f"upstream says no ({status})" in info.value.body["error"]["message"]
    assert len(oa_upstream.received) == (3 if status in (429, 503) else 1)


def test_retry_recovers_before_any_byte(client, oa_upstream):
    oa_upstream.push(
        oa_error(500, "flaky"), oa_error(429, "slow down"), Sse(oa_text_stream("recovered"))
    )
    with client.messages.stream(model="claude-sonnet-4", max_tokens=10, messages=HI) as stream:
        assert "".join(stream.text_stream) == "recovered"
    assert len(oa_upstream.received) == 3


def test_streamed_error_status_before_start(client, oa_upstream):
    oa_upstream.push(oa_error(400, "This model's maximum context length is 8192 tokens"))
    with (
        pytest.raises(anthropic.BadRequestError) as info,
        client.messages.stream(model="claude-sonnet-4", max_tokens=10, messages=HI) as stream,
    ):
        stream.get_final_message()
    assert info.value.body["error"]["message"].startswith("prompt is too long")


def test_mid_stream_failure_is_an_error_event(client, oa_upstream):
    frames = oa_text_stream("partial ", "answer", "never sent")
    oa_upstream.push(Sse(frames, break_after=3))
    with (
        pytest.raises(anthropic.APIStatusError) as info,
        client.messages.stream(model="claude-sonnet-4", max_tokens=10, messages=HI) as stream,
    ):
        for _ in stream:
            pass
    assert "broke off" in str(info.value)


def test_mid_stream_failure_raw_events(gateway, oa_upstream):
    """On the wire: text so far, then `event: error`, and no message_stop/end_turn."""
    oa_upstream.push(Sse(oa_text_stream("partial"), break_after=3))
    with httpx.stream(
        "POST",
        f"{gateway.url}/v1/messages",
        timeout=30,
        json={"model": "claude-x", "max_tokens": 5, "messages": HI, "stream": True},
    ) as r:
        body = r.read().decode()
    assert r.status_code == 200
    assert "event: error" in body
    assert "message_stop" not in body and "end_turn" not in body


def test_ping_during_long_silence(gateway, oa_upstream):
    frames = [
        oa_chunk({"role": "assistant", "content": ""}),
        oa_chunk({"content": "slow"}),
        oa_chunk(finish="stop"),
    ]
    oa_upstream.push(Sse(frames, delay=1.0))
    with httpx.stream(
        "POST",
        f"{gateway.url}/v1/messages",
        timeout=30,
        json={"model": "claude-x", "max_tokens": 5, "messages": HI, "stream": True},
    ) as r:
        events = [line[7:] for line in r.iter_lines() if line.startswith("event: ")]
    assert "ping" in events
    assert events[-1] == "message_stop"


def test_client_disconnect_cancels_upstream(gateway, oa_upstream):
    frames = (
        [oa_chunk({"role": "assistant", "content": ""})]
        + [oa_chunk({"content": f"w{i} "}) for i in range(200)]
        + [oa_chunk(finish="stop")]
    )
    oa_upstream.push(Sse(frames, delay=0.1))
    with httpx.stream(
        "POST",
        f"{gateway.url}/v1/messages",
        timeout=30,
        json={"model": "claude-x", "max_tokens": 5, "messages": HI, "stream": True},
    ) as r:
        for line in r.iter_lines():
            if "w1 " in line:
                break
    assert oa_upstream.wait_outcome(0) == "stopped"


def test_count_tokens_is_an_estimate_for_openai_providers(gateway, oa_upstream):
    short = httpx.post(
        f"{gateway.url}/v1/messages/count_tokens", json={"model": "claude-x", "messages": HI}
    )
    long = httpx.post(
        f"{gateway.url}/v1/messages/count_tokens",
        json={
            "model": "claude-x",
            "messages": [{"role": "user", "content": "word " * 2000}],
            "tools": TOOLS,
        },
    )
    assert short.status_code == long.status_code == 200
    assert short.headers["tether-count"] == "estimate"
    assert 0 < short.json()["input_tokens"] < 20
    assert 2000 < long.json()["input_tokens"] < 5000
    assert oa_upstream.received == []


def test_sdk_count_tokens(client):
    count = client.messages.count_tokens(model="claude-x", messages=HI, tools=TOOLS)
    assert count.input_tokens > 0


def test_upstream_timeout_is_a_timeout_error(client, oa_upstream):
    oa_upstream.push(Json(oa_completion("too late"), delay=3))
    with pytest.raises(anthropic.APIStatusError) as info:
        client.messages.create(model="claude-hasty-1", max_tokens=10, messages=HI)
    assert info.value.status_code == 504
    assert info.value.body["error"]["type"] == "timeout_error"
    assert "did not answer within 1s" in info.value.body["error"]["message"]


def test_upstream_silent_mid_stream_ends_with_error_event(client, oa_upstream):
    frames = oa_text_stream("first ", "then nothing")
    oa_upstream.push(Sse(frames, delay=3))
    with (
        pytest.raises(anthropic.APIStatusError) as info,
        client.messages.stream(model="claude-hasty-1", max_tokens=10, messages=HI) as stream,
    ):
        for _ in stream:
            pass
    assert "went silent" in str(info.value)


def test_long_retry_after_goes_back_to_the_client(gateway, oa_upstream):
    oa_upstream.push(oa_error(429, "quota", headers={"retry-after": "120"}))
    r = httpx.post(
        f"{gateway.url}/v1/messages",
        timeout=30,
        json={"model": "claude-x", "max_tokens": 5, "messages": HI},
    )
    assert r.status_code == 429
    assert r.headers["retry-after"] == "120"
    assert r.json()["error"]["type"] == "rate_limit_error"
    assert len(oa_upstream.received) == 1  # not held for two minutes, not retried


def test_upstream_ignoring_stream_is_replayed_as_a_stream(client, oa_upstream):
    """Some servers answer `stream: true` with one JSON body; the client still gets SSE."""
    oa_upstream.push(
        Json(
            oa_completion(
                "whole answer",
                reasoning="mulling",
                tool_calls=[("call_9", "Bash", '{"command": "pwd"}')],
            )
        )
    )
    with client.messages.stream(
        model="claude-x", max_tokens=10, messages=HI, tools=TOOLS
    ) as stream:
        final = stream.get_final_message()
    assert [b.type for b in final.content] == ["thinking", "text", "tool_use"]
    assert final.content[1].text == "whole answer"
    assert final.content[2].input == {"command": "pwd"}
    assert final.stop_reason == "tool_use"
