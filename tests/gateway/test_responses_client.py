"""The OpenAI Responses API through the gateway, judged by the official `openai` SDK:
inbound `/v1/responses` to an Anthropic provider, a chat-only OpenAI provider and a
Responses-capable one (passthrough), and the `openai-responses` provider reached by
Anthropic Messages and Chat Completions clients."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from tests.gateway.conftest import GATEWAY_KEY, start_gateway
from tests.gateway.upstreams import (
    AN_USAGE,
    Json,
    ScriptedUpstream,
    Sse,
    an_error,
    an_event,
    an_message,
    an_text_stream,
    an_tool_stream,
    an_with_thinking,
    oa_completion,
    oa_text_stream,
    oa_tool_stream,
    rs_call_item,
    rs_response,
    rs_stream,
    rs_text_item,
)
from tests.support.sdks import anthropic, openai
from tests.support.server import TetherServer

FIXTURES = Path(__file__).parent / "fixtures"
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}
APPLY_PATCH = {
    "type": "custom",
    "name": "apply_patch",
    "description": "Apply a patch to files.",
    "format": {
        "type": "grammar",
        "syntax": "lark",
        "definition": 'start: "*** Begin Patch" LF hunk+ "*** End Patch"',
    },
}
PATCH = "*** Begin Patch\n*** Add File: hello.txt\n+hello\n*** End Patch"


@pytest.fixture(scope="module")
def rs_upstream() -> Iterator[ScriptedUpstream]:
    upstream = ScriptedUpstream().start()
    yield upstream
    upstream.stop()


@pytest.fixture(scope="module")
def gw(
    tmp_path_factory: pytest.TempPathFactory,
    oa_upstream: ScriptedUpstream,
    an_upstream: ScriptedUpstream,
    rs_upstream: ScriptedUpstream,
) -> Iterator[TetherServer]:
    common = {"retries": 0, "timeout": 20}
    config = {
        "gateway": {
            "keys": [GATEWAY_KEY],
            "ping_interval": 0.3,
            "providers": {
                "an": {
                    "type": "anthropic",
                    "base_url": an_upstream.url,
                    "api_key": "an-key",
                    **common,
                    "max_tokens": 4000,
                },
                "oa": {
                    "type": "openai",
                    "base_url": f"{oa_upstream.url}/v1",
                    "api_key": "oa-key",
                    **common,
                },
                "oars": {
                    "type": "openai",
                    "responses": True,
                    "base_url": f"{rs_upstream.url}/v1",
                    "api_key": "rs-key",
                    **common,
                },
                "rs": {
                    "type": "openai-responses",
                    "base_url": f"{rs_upstream.url}/v1",
                    "api_key": "rs-key",
                    **common,
                },
            },
            "routes": [
                {"match": "to-an", "provider": "an", "model": "claude-real"},
                {"match": "to-oa", "provider": "oa", "model": "gpt-test"},
                {"match": "to-oars", "provider": "oars", "model": "gpt-real"},
                {"match": "to-rs", "provider": "rs", "model": "gpt-real"},
            ],
        }
    }
    server = start_gateway(tmp_path_factory.mktemp("gw-responses"), config)
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _fresh(rs_upstream: ScriptedUpstream) -> None:
    rs_upstream.reset()


@pytest.fixture
def client(gw: TetherServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gw.url}/v1", api_key=GATEWAY_KEY, max_retries=0)


def _seqs(events: list) -> list[int]:
    return [e.sequence_number for e in events]


# --- to an Anthropic provider ----------------------------------------------------------


def test_create_to_anthropic_maps_request_and_answer(
    client: openai.OpenAI, an_upstream: ScriptedUpstream
) -> None:
    an_upstream.push(Json(an_message("Sunny.")))
    response = client.responses.create(
        model="to-an",
        instructions="Be brief.",
        input=[
            {"role": "developer", "content": "Use metric units."},
            {"role": "user", "content": [{"type": "input_text", "text": "Weather in Paris?"}]},
        ],
        tools=[WEATHER],
        tool_choice="required",
        parallel_tool_calls=False,
        reasoning={"effort": "low", "summary": "auto"},
        max_output_tokens=9000,
        user="u-1",
        metadata={"ticket": "7"},
        store=False,
    )
    assert response.output_text == "Sunny."
    assert response.status == "completed"
    assert response.model == "to-an"
    assert response.metadata == {"ticket": "7"}
    assert response.usage is not None
    assert response.usage.input_tokens == AN_USAGE["input_tokens"]
    assert response.usage.output_tokens == AN_USAGE["output_tokens"]
    sent = an_upstream.received[0]
    assert sent.path == "/v1/messages"
    assert sent.headers["x-api-key"] == "an-key"
    body = sent.json
    assert body["model"] == "claude-real"
    assert body["system"] == [
        {"type": "text", "text": "Be brief."},
        {"type": "text", "text": "Use metric units."},
    ]
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Weather in Paris?"}]}
    ]
    assert body["tools"] == [
        {
            "name": "get_weather",
            "description": "Weather for a city",
            "input_schema": WEATHER["parameters"],
        }
    ]
    assert body["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}
    assert body["max_tokens"] == 4000  # the provider's limit
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert body["metadata"] == {"user_id": "u-1"}


def test_stream_to_anthropic_function_call(
    client: openai.OpenAI, an_upstream: ScriptedUpstream
) -> None:
    an_upstream.push(Sse(an_tool_stream("toolu_1", "get_weather", '{"city": "Paris"}', split=4)))
    with client.responses.stream(model="to-an", input="Weather in Paris?", tools=[WEATHER]) as s:
        events = list(s)
        final = s.get_final_response()
    kinds = [e.type for e in events]
    assert kinds[:3] == ["response.created", "response.in_progress", "response.output_item.added"]
    assert "response.function_call_arguments.delta" in kinds
    assert kinds[-3:] == [
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert _seqs(events) == list(range(len(events)))
    deltas = "".join(e.delta for e in events if e.type == "response.function_call_arguments.delta")
    assert orjson.loads(deltas) == {"city": "Paris"}
    call = final.output[0]
    assert call.type == "function_call"
    assert call.call_id == "toolu_1"
    assert call.name == "get_weather"
    assert orjson.loads(call.arguments) == {"city": "Paris"}
    assert an_upstream.received[0].json["stream"] is True


def test_stream_to_anthropic_text_and_reasoning_summary(
    client: openai.OpenAI, an_upstream: ScriptedUpstream
) -> None:
    an_upstream.push(Sse(an_with_thinking(an_text_stream("Hel", "lo"), "Let me think.", "sig-abc")))
    with client.responses.stream(
        model="to-an",
        input="hi",
        reasoning={"effort": "medium", "summary": "auto"},
        include=["reasoning.encrypted_content"],
    ) as s:
        events = list(s)
        final = s.get_final_response()
    kinds = [e.type for e in events]
    assert kinds == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert final.output_text == "Hello"
    reasoning = final.output[0]
    assert reasoning.type == "reasoning"
    assert reasoning.summary[0].text == "Let me think."
    assert reasoning.encrypted_content

    # The next turn sends the reasoning item back: Anthropic gets the very same block.
    an_upstream.push(Json(an_message("ok")))
    client.responses.create(
        model="to-an",
        input=[
            {"role": "user", "content": "hi"},
            reasoning.model_dump(exclude_none=True),
            final.output[1].model_dump(exclude_none=True),
            {"role": "user", "content": "and?"},
        ],
    )
    messages = an_upstream.received[1].json["messages"]
    assert messages[1] == {
        "role": "assistant",
        "content": [
            {"type": "thinking", "thinking": "Let me think.", "signature": "sig-abc"},
            {"type": "text", "text": "Hello"},
        ],
    }


def test_custom_tool_becomes_a_function_and_comes_back_as_custom_call(
    client: openai.OpenAI, an_upstream: ScriptedUpstream
) -> None:
    an_upstream.push(
        Sse(an_tool_stream("toolu_p", "apply_patch", orjson.dumps({"input": PATCH}).decode()))
    )
    with client.responses.stream(model="to-an", input="add hello.txt", tools=[APPLY_PATCH]) as s:
        events = list(s)
        final = s.get_final_response()
    tool = an_upstream.received[0].json["tools"][0]
    assert tool["name"] == "apply_patch"
    assert tool["input_schema"]["properties"]["input"]["type"] == "string"
    assert "*** Begin Patch" in tool["description"]  # the grammar rides along
    kinds = [e.type for e in events]
    assert "response.custom_tool_call_input.delta" in kinds
    assert "response.custom_tool_call_input.done" in kinds
    assert "response.function_call_arguments.delta" not in kinds
    call = final.output[0]
    assert call.type == "custom_tool_call"
    assert call.input == PATCH
    assert call.call_id == "toolu_p"

    # Its output goes back as a tool_result for the same call.
    an_upstream.push(Json(an_message("Done.")))
    client.responses.create(
        model="to-an",
        input=[
            {"role": "user", "content": "add hello.txt"},
            {
                "type": "custom_tool_call",
                "call_id": "toolu_p",
                "name": "apply_patch",
                "input": PATCH,
            },
            {"type": "custom_tool_call_output", "call_id": "toolu_p", "output": "Success."},
        ],
        tools=[APPLY_PATCH],
    )
    messages = an_upstream.received[1].json["messages"]
    assert messages[1]["content"] == [
        {"type": "tool_use", "id": "toolu_p", "name": "apply_patch", "input": {"input": PATCH}}
    ]
    assert messages[2]["content"] == [
        {
            "type": "tool_result",
            "tool_use_id": "toolu_p",
            "content": [{"type": "text", "text": "Success."}],
        }
    ]


def test_previous_response_id_is_refused_clearly(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model="to-an", input="hi", previous_response_id="resp_1")
    assert "previous_response_id is not supported" in str(caught.value)


def test_upstream_rate_limit_keeps_retry_after(
    gw: TetherServer, an_upstream: ScriptedUpstream
) -> None:
    an_upstream.push(
        Json(
            {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}},
            429,
            {"retry-after": "30"},
        )
    )
    response = httpx.post(
        f"{gw.url}/v1/responses",
        json={"model": "to-an", "input": "hi"},
        headers={"authorization": f"Bearer {GATEWAY_KEY}"},
    )
    assert response.status_code == 429
    assert response.headers["retry-after"] == "30"
    assert response.json()["error"]["message"] == "slow down"
    assert response.json()["error"]["type"] == "rate_limit_error"


def test_error_mid_stream_ends_in_response_failed(
    client: openai.OpenAI, an_upstream: ScriptedUpstream
) -> None:
    frames = an_text_stream("partial")[:4]
    frames.append(
        an_event(
            "error",
            {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
        )
    )
    an_upstream.push(Sse(frames))
    with client.responses.stream(model="to-an", input="hi") as s:
        events = list(s)
    assert [e.type for e in events[-2:]] == ["error", "response.failed"]
    assert events[-1].response.error.message == "Overloaded"
    assert events[-1].response.status == "failed"
    assert _seqs(events) == list(range(len(events)))


def test_anthropic_error_status_is_kept(
    client: openai.OpenAI, an_upstream: ScriptedUpstream
) -> None:
    an_upstream.push(an_error(400, "invalid_request_error", "prompt is too long: 300000 tokens"))
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model="to-an", input="hi")
    assert "prompt is too long" in str(caught.value)


def test_codex_request_translates(gw: TetherServer, an_upstream: ScriptedUpstream) -> None:
    """The request Codex 0.171.0 really sent, through to an Anthropic provider."""
    request = orjson.loads((FIXTURES / "codex_plain.json").read_bytes())
    request["model"] = "to-an"
    an_upstream.push(Sse(an_text_stream("hi there")))
    with httpx.stream(
        "POST",
        f"{gw.url}/v1/responses",
        json=request,
        headers={"authorization": f"Bearer {GATEWAY_KEY}"},
    ) as response:
        assert response.status_code == 200
        body = b"".join(response.iter_bytes())
    assert b"event: response.completed" in body
    sent = an_upstream.received[0].json
    assert sent["system"][0]["text"].startswith("You are a coding agent running in the Codex CLI")
    assert [m["role"] for m in sent["messages"]] == ["user"]
    names = [t["name"] for t in sent["tools"]]
    assert "exec_command" in names
    assert "spawn_agent" in names or "close_agent" in names  # namespace tools, flattened
    assert "web_search" not in names  # hosted by OpenAI only


# --- to a chat-only OpenAI provider ----------------------------------------------------


def test_stream_to_chat_provider_with_tools(
    client: openai.OpenAI, oa_upstream: ScriptedUpstream
) -> None:
    oa_upstream.push(Sse(oa_tool_stream([("call_1", "get_weather", '{"city": "Oslo"}')])))
    with client.responses.stream(model="to-oa", input="Weather in Oslo?", tools=[WEATHER]) as s:
        events = list(s)
        final = s.get_final_response()
    call = final.output[0]
    assert call.type == "function_call"
    assert orjson.loads(call.arguments) == {"city": "Oslo"}
    assert events[-1].type == "response.completed"
    sent = oa_upstream.received[0]
    assert sent.path == "/v1/chat/completions"
    assert sent.json["tools"][0]["function"]["name"] == "get_weather"
    assert sent.json["messages"][-1] == {"role": "user", "content": "Weather in Oslo?"}


def test_create_to_chat_provider(client: openai.OpenAI, oa_upstream: ScriptedUpstream) -> None:
    oa_upstream.push(Json(oa_completion("Hi from chat.")))
    response = client.responses.create(model="to-oa", input="hello")
    assert response.output_text == "Hi from chat."
    assert response.usage is not None and response.usage.input_tokens == 11


def test_stream_text_to_chat_provider(client: openai.OpenAI, oa_upstream: ScriptedUpstream) -> None:
    oa_upstream.push(Sse(oa_text_stream("Hel", "lo")))
    with client.responses.stream(model="to-oa", input="hello") as s:
        text = "".join(e.delta for e in s if e.type == "response.output_text.delta")
        final = s.get_final_response()
    assert text == "Hello"
    assert final.output_text == "Hello"


# --- passthrough to a Responses-capable provider ---------------------------------------


def test_passthrough_keeps_bytes_but_model_and_auth(
    gw: TetherServer, rs_upstream: ScriptedUpstream
) -> None:
    frames = rs_stream("pass", "through", calls=(("call_9", "get_weather", '{"city":"Rome"}'),))
    rs_upstream.push(Sse(frames))
    request = {"model": "to-oars", "input": "hi", "stream": True, "tools": [WEATHER]}
    with httpx.stream(
        "POST",
        f"{gw.url}/v1/responses",
        json=request,
        headers={"authorization": f"Bearer {GATEWAY_KEY}"},
    ) as response:
        body = b"".join(response.iter_bytes())
    assert body == b"".join(frames)
    sent = rs_upstream.received[0]
    assert sent.path == "/v1/responses"
    assert sent.headers["authorization"] == "Bearer rs-key"
    assert sent.json == {**request, "model": "gpt-real"}


def test_sdk_through_passthrough(client: openai.OpenAI, rs_upstream: ScriptedUpstream) -> None:
    rs_upstream.push(Json(rs_response([rs_text_item("direct")])))
    assert client.responses.create(model="to-rs", input="hi").output_text == "direct"
    assert rs_upstream.received[0].json["model"] == "gpt-real"


# --- the openai-responses provider for other clients -----------------------------------


def test_messages_client_to_responses_provider(
    gw: TetherServer, rs_upstream: ScriptedUpstream
) -> None:
    rs_upstream.push(
        Sse(
            rs_stream(
                "Checking.",
                reasoning="Think first.",
                calls=(("call_3", "Bash", '{"command":"ls"}'),),
            )
        )
    )
    client = anthropic.Anthropic(base_url=gw.url, api_key=GATEWAY_KEY, max_retries=0)
    with client.messages.stream(
        model="to-rs",
        max_tokens=800,
        system="You are terse.",
        thinking={"type": "enabled", "budget_tokens": 2000},
        tools=[
            {
                "name": "Bash",
                "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}},
            }
        ],
        messages=[{"role": "user", "content": "list files"}],
    ) as s:
        message = s.get_final_message()
    kinds = [b.type for b in message.content]
    assert kinds == ["thinking", "text", "tool_use"]
    assert message.content[0].thinking == "Think first."
    assert message.content[2].input == {"command": "ls"}
    assert message.stop_reason == "tool_use"
    sent = rs_upstream.received[0]
    assert sent.path == "/v1/responses"
    body = sent.json
    assert body["instructions"] == "You are terse."
    assert body["input"] == [
        {"role": "user", "content": [{"type": "input_text", "text": "list files"}]}
    ]
    assert body["tools"][0]["name"] == "Bash"
    assert body["reasoning"] == {"effort": "low", "summary": "auto"}
    assert body["store"] is False
    assert body["max_output_tokens"] == 800

    # The next turn replays the reasoning item with its encrypted content.
    rs_upstream.push(Json(rs_response([rs_text_item("Two files.")])))
    reply = client.messages.create(
        model="to-rs",
        max_tokens=800,
        tools=[{"name": "Bash", "input_schema": {"type": "object"}}],
        messages=[
            {"role": "user", "content": "list files"},
            {"role": "assistant", "content": [b.model_dump() for b in message.content]},
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "call_3", "content": "a b"}],
            },
        ],
    )
    assert reply.content[0].text == "Two files."
    items = rs_upstream.received[1].json["input"]
    assert items[1]["type"] == "reasoning"
    assert items[1]["encrypted_content"] == "gAAAA-opaque"
    assert items[1]["id"] == "rs_up1"
    assert items[3] == {
        "type": "function_call",
        "call_id": "call_3",
        "name": "Bash",
        "arguments": '{"command":"ls"}',
    }
    assert items[4] == {"type": "function_call_output", "call_id": "call_3", "output": "a b"}


def test_chat_client_to_responses_provider(gw: TetherServer, rs_upstream: ScriptedUpstream) -> None:
    client = openai.OpenAI(base_url=f"{gw.url}/v1", api_key=GATEWAY_KEY, max_retries=0)
    rs_upstream.push(Sse(rs_stream("Hi ", "there")))
    stream = client.chat.completions.create(
        model="to-rs", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "Hi there"
    rs_upstream.push(Json(rs_response([rs_call_item("call_5", "get_weather", '{"city":"Nice"}')])))
    completion = client.chat.completions.create(
        model="to-rs",
        messages=[{"role": "user", "content": "weather?"}],
        tools=[
            {
                "type": "function",
                "function": {"name": "get_weather", "parameters": {"type": "object"}},
            }
        ],
    )
    call = completion.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather"
    assert orjson.loads(call.function.arguments) == {"city": "Nice"}
    assert completion.choices[0].finish_reason == "tool_calls"


def test_responses_provider_failure_reaches_messages_client(
    gw: TetherServer, rs_upstream: ScriptedUpstream
) -> None:
    failed = rs_response([], "failed")
    failed["error"] = {"code": "server_error", "message": "model crashed"}
    failure = {"type": "response.failed", "sequence_number": 2, "response": failed}
    frames = [*rs_stream("x")[:2], an_event("response.failed", failure)]
    rs_upstream.push(Sse(frames))
    client = anthropic.Anthropic(base_url=gw.url, api_key=GATEWAY_KEY, max_retries=0)
    stream = client.messages.stream(
        model="to-rs", max_tokens=100, messages=[{"role": "user", "content": "hi"}]
    )
    with pytest.raises(anthropic.APIStatusError) as caught, stream as s:
        s.get_final_message()
    assert "model crashed" in str(caught.value)


# --- bad input and errors --------------------------------------------------------------


def test_bad_requests_get_openai_shaped_errors(gw: TetherServer) -> None:
    url = f"{gw.url}/v1/responses"
    auth = {"authorization": f"Bearer {GATEWAY_KEY}"}
    broken = httpx.post(url, content=b"{not json", headers=auth)
    assert broken.status_code == 400
    assert "not valid JSON" in broken.json()["error"]["message"]
    assert httpx.post(url, json={"model": "to-an", "input": "x"}).status_code == 401
    bad_args = httpx.post(
        url,
        headers=auth,
        json={
            "model": "to-an",
            "input": [
                {"role": "user", "content": "x"},
                {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{oops"},
            ],
        },
    )
    assert bad_args.status_code == 400
    assert "not valid JSON" in bad_args.json()["error"]["message"]
    unknown = httpx.post(url, headers=auth, json={"model": "nobody", "input": "x"})
    assert unknown.status_code == 404
    assert unknown.json()["error"]["type"] == "not_found_error"


def test_overloaded_anthropic_is_503_for_openai_clients(
    client: openai.OpenAI, an_upstream: ScriptedUpstream
) -> None:
    an_upstream.push(an_error(529, "overloaded_error", "Overloaded"))
    with pytest.raises(openai.InternalServerError) as caught:
        client.responses.create(model="to-an", input="hi")
    assert caught.value.status_code == 503


def test_passthrough_error_comes_back_as_sent(
    gw: TetherServer, rs_upstream: ScriptedUpstream
) -> None:
    error = {"error": {"message": "slow", "type": "requests", "code": "rate_limit_exceeded"}}
    rs_upstream.push(Json(error, 429, {"retry-after": "20"}))
    response = httpx.post(
        f"{gw.url}/v1/responses",
        json={"model": "to-oars", "input": "hi"},
        headers={"authorization": f"Bearer {GATEWAY_KEY}"},
    )
    assert response.status_code == 429
    assert response.json() == error
    assert response.headers["retry-after"] == "20"


def test_client_leaving_stops_the_upstream(gw: TetherServer, an_upstream: ScriptedUpstream) -> None:
    an_upstream.push(Sse(an_text_stream(*["word "] * 100), delay=0.05))
    with httpx.stream(
        "POST",
        f"{gw.url}/v1/responses",
        json={"model": "to-an", "input": "hi", "stream": True},
        headers={"authorization": f"Bearer {GATEWAY_KEY}"},
    ) as response:
        first = next(response.iter_raw())
        assert b"response.created" in first
    assert an_upstream.wait_outcome(0) == "stopped"


def test_stream_asked_json_answered_is_replayed_as_events(
    client: openai.OpenAI, oa_upstream: ScriptedUpstream
) -> None:
    """Some chat servers ignore stream: true; the Responses client still gets a stream."""
    oa_upstream.push(Json(oa_completion("whole answer")))
    with client.responses.stream(model="to-oa", input="hi") as s:
        kinds = [e.type for e in s]
        final = s.get_final_response()
    assert final.output_text == "whole answer"
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
