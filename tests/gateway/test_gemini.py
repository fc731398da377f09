"""The Gemini API through a real gateway: Google's own SDK (google-genai) as the client to
Anthropic, OpenAI and Gemini upstreams, and Anthropic/OpenAI SDK clients to a scripted
Gemini upstream."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml

from tests.gateway.conftest import GATEWAY_KEY, gateway_config, start_gateway
from tests.gateway.gemini_upstream import (
    GM_USAGE,
    gm_call_stream,
    gm_error,
    gm_reply,
    gm_response,
    gm_text_stream,
)
from tests.gateway.upstreams import (
    Json,
    ScriptedUpstream,
    Sse,
    an_error,
    an_message,
    an_text_stream,
    an_tool_stream,
    oa_completion,
    oa_text_stream,
    oa_tool_stream,
)
from tests.support.sdks import anthropic, genai, genai_errors, openai
from tests.support.sdks import genai_types as types
from tests.support.server import TetherServer

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def gm_upstream() -> Iterator[ScriptedUpstream]:
    upstream = ScriptedUpstream().start()
    yield upstream
    upstream.stop()


@pytest.fixture(scope="module")
def gw(tmp_path_factory, oa_upstream, an_upstream, gm_upstream) -> Iterator[TetherServer]:
    config = gateway_config(oa_upstream, an_upstream, keys=[GATEWAY_KEY])
    config["gateway"]["providers"]["gm"] = {
        "type": "gemini",
        "base_url": gm_upstream.url,
        "api_key": "gm-upstream-key",
        "retries": 0,
        "timeout": 20,
        "models": ["gemini-listed"],
    }
    config["gateway"]["routes"][:0] = [
        {"match": "gemini-*", "provider": "gm", "model": "gemini-real"},
        {"match": "claude-gem-*", "provider": "gm", "model": "gemini-real"},
    ]
    server = start_gateway(tmp_path_factory.mktemp("gw-gemini"), config)
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _fresh(request: pytest.FixtureRequest) -> None:
    if "gm_upstream" in request.fixturenames:
        upstream = request.getfixturevalue("gm_upstream")
        upstream.reset()
        upstream.default = None


@pytest.fixture(scope="module")
def gem(gw: TetherServer) -> genai.Client:
    """Google's SDK pointed at the gateway (kept for the module: it closes when collected)."""
    return genai.Client(
        api_key=GATEWAY_KEY, http_options=types.HttpOptions(base_url=gw.url, retry_options=None)
    )


def write_file_tool() -> Any:
    return types.FunctionDeclaration(
        name="write_file",
        description="Write a file",
        parameters=types.Schema(
            type="OBJECT",
            properties={
                "file_path": types.Schema(type="STRING"),
                "content": types.Schema(type="STRING"),
            },
            required=["file_path", "content"],
        ),
    )


# --- Gemini clients to Anthropic and OpenAI providers ------------------------------------


def test_generate_through_openai_provider(gem, gw, oa_upstream):
    oa_upstream.push(Json(oa_completion("Hello there")))
    response = gem.models.generate_content(
        model="claude-sonnet",
        contents="Hi",
        config=types.GenerateContentConfig(system_instruction="Be brief", max_output_tokens=100),
    )
    assert response.text == "Hello there"
    assert response.candidates[0].finish_reason == types.FinishReason.STOP
    assert response.usage_metadata.prompt_token_count == 11
    assert response.usage_metadata.candidates_token_count == 7
    sent = oa_upstream.received[0]
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == "Bearer oa-upstream-key"
    assert "x-goog-api-key" not in sent.headers
    body = sent.json
    assert body["model"] == "gpt-test"
    assert body["messages"] == [
        {"role": "system", "content": "Be brief"},
        {"role": "user", "content": "Hi"},
    ]
    assert body["max_tokens"] == 100


def test_stream_tool_call_through_anthropic_provider(gem, gw, an_upstream):
    an_upstream.push(
        Sse(an_tool_stream("toolu_w1", "write_file", '{"file_path": "a.txt", "content": "hi"}'))
    )
    chunks = list(
        gem.models.generate_content_stream(
            model="same-model",
            contents="Write a.txt",
            config=types.GenerateContentConfig(
                tools=[types.Tool(function_declarations=[write_file_tool()])]
            ),
        )
    )
    calls = [c for chunk in chunks for c in chunk.function_calls or []]
    assert [(c.name, c.args) for c in calls] == [
        ("write_file", {"file_path": "a.txt", "content": "hi"})
    ]
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP
    assert chunks[-1].usage_metadata.prompt_token_count == 12
    sent = an_upstream.received[0]
    assert sent.path == "/v1/messages"
    assert sent.headers["x-api-key"] == "an-upstream-key"
    assert sent.headers["anthropic-version"]
    body = sent.json
    assert body["stream"] is True and body["model"] == "same-model"
    assert body["max_tokens"] == 1000  # the provider's limit
    assert body["tools"] == [
        {
            "name": "write_file",
            "description": "Write a file",
            "input_schema": {
                "type": "object",
                "properties": {"file_path": {"type": "string"}, "content": {"type": "string"}},
                "required": ["file_path", "content"],
            },
        }
    ]


def test_tool_results_pair_with_calls_by_order_and_name(gem, gw, oa_upstream):
    oa_upstream.push(
        Sse(
            oa_tool_stream(
                [("call_a", "read_file", '{"p": "a"}'), ("call_b", "read_file", '{"p": "b"}')]
            )
        )
    )
    client = gem
    read = types.FunctionDeclaration(
        name="read_file",
        parameters=types.Schema(type="OBJECT", properties={"p": types.Schema(type="STRING")}),
    )
    config = types.GenerateContentConfig(tools=[types.Tool(function_declarations=[read])])
    chunks = list(
        client.models.generate_content_stream(model="claude-x", contents="read", config=config)
    )
    calls = [c for chunk in chunks for c in chunk.function_calls or []]
    assert [c.args for c in calls] == [{"p": "a"}, {"p": "b"}]
    # Gemini CLI sends the model turn back and the responses (without ids, in order).
    oa_upstream.push(Json(oa_completion("Both read.")))
    history = [
        types.Content(role="user", parts=[types.Part(text="read")]),
        types.Content(
            role="model",
            parts=[
                types.Part(function_call=types.FunctionCall(name=c.name, args=c.args))
                for c in calls
            ],
        ),
        types.Content(
            role="user",
            parts=[
                types.Part(
                    function_response=types.FunctionResponse(
                        name="read_file", response={"output": "A"}
                    )
                ),
                types.Part(
                    function_response=types.FunctionResponse(
                        name="read_file", response={"output": "B"}
                    )
                ),
            ],
        ),
    ]
    answer = client.models.generate_content(model="claude-x", contents=history, config=config)
    assert answer.text == "Both read."
    messages = oa_upstream.received[1].json["messages"]
    assistant = next(m for m in messages if m.get("tool_calls"))
    ids = [c["id"] for c in assistant["tool_calls"]]
    results = [m for m in messages if m["role"] == "tool"]
    assert [(r["tool_call_id"], r["content"]) for r in results] == [(ids[0], "A"), (ids[1], "B")]
    assert len(set(ids)) == 2


def test_structured_output_request_reaches_anthropic(gem, gw, an_upstream):
    """Gemini CLI's routing classifier asks for JSON with a schema."""
    an_upstream.push(Json(an_message('{"complexity_reasoning": "easy", "complexity_score": 2}')))
    schema = {
        "type": "OBJECT",
        "properties": {
            "complexity_reasoning": {"type": "STRING"},
            "complexity_score": {"type": "INTEGER"},
        },
        "required": ["complexity_reasoning", "complexity_score"],
    }
    response = gem.models.generate_content(
        model="same-classifier",
        contents="classify",
        config=types.GenerateContentConfig(
            response_mime_type="application/json", response_json_schema=schema
        ),
    )
    assert json.loads(response.text)["complexity_score"] == 2
    fmt = an_upstream.received[0].json["output_config"]["format"]
    assert fmt["type"] == "json_schema"
    assert fmt["schema"]["properties"]["complexity_score"] == {"type": "integer"}


def test_json_array_stream_without_alt_sse(gw, an_upstream):
    an_upstream.push(Sse(an_text_stream("Hel", "lo")))
    response = httpx.post(
        f"{gw.url}/v1beta/models/same-x:streamGenerateContent",
        headers={"x-goog-api-key": GATEWAY_KEY},
        json={"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    chunks = response.json()
    assert isinstance(chunks, list) and len(chunks) == 3
    text = "".join(
        p.get("text", "") for c in chunks for p in c["candidates"][0]["content"]["parts"]
    )
    assert text == "Hello"
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"
    assert chunks[-1]["usageMetadata"]["candidatesTokenCount"] == 5


def test_count_tokens_anthropic_exact_and_openai_estimate(gem, gw, an_upstream):
    an_upstream.push(Json({"input_tokens": 42}))
    client = gem
    assert client.models.count_tokens(model="same-x", contents="count me").total_tokens == 42
    sent = an_upstream.received[0]
    assert sent.path == "/v1/messages/count_tokens"
    assert set(sent.json) == {"model", "messages"}
    estimate = httpx.post(
        f"{gw.url}/v1beta/models/claude-x:countTokens",
        headers={"x-goog-api-key": GATEWAY_KEY},
        json={"contents": [{"role": "user", "parts": [{"text": "count me " * 50}]}]},
    )
    assert estimate.status_code == 200
    assert estimate.headers["tether-count"] == "estimate"
    assert estimate.json()["totalTokens"] > 50


# --- keys and errors ---------------------------------------------------------------------


def test_key_by_query_works_and_is_not_forwarded(gw, an_upstream):
    an_upstream.push(Json(an_message("ok")))
    body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    url = f"{gw.url}/v1beta/models/same-x:generateContent"
    response = httpx.post(url, params={"key": GATEWAY_KEY}, json=body)
    assert response.status_code == 200, response.text
    sent = an_upstream.received[0]
    assert sent.headers["x-api-key"] == "an-upstream-key"
    assert GATEWAY_KEY not in json.dumps(sent.headers) and GATEWAY_KEY not in sent.path


@pytest.mark.parametrize("key", [None, "wrong"])
def test_missing_or_wrong_key_is_unauthenticated(gw, key):
    headers = {"x-goog-api-key": key} if key else {}
    response = httpx.post(
        f"{gw.url}/v1beta/models/same-x:generateContent",
        headers=headers,
        json={"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
    )
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == 401 and error["status"] == "UNAUTHENTICATED"
    assert error["message"] == (
        "invalid gateway key"
        if key
        else "this gateway needs a key: send it as x-goog-api-key (GEMINI_API_KEY)"
    )


def test_upstream_429_is_resource_exhausted(gem, gw, an_upstream):
    an_upstream.push(
        Json(
            {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}},
            429,
            {"retry-after": "30"},
        )
    )
    with pytest.raises(genai_errors.ClientError) as caught:
        gem.models.generate_content(model="same-x", contents="hi")
    assert caught.value.code == 429
    assert caught.value.status == "RESOURCE_EXHAUSTED"
    assert "slow down" in caught.value.message


def test_overloaded_anthropic_is_unavailable(gw, an_upstream):
    an_upstream.push(an_error(529, "overloaded_error", "Overloaded"))
    response = httpx.post(
        f"{gw.url}/v1beta/models/same-x:generateContent",
        headers={"x-goog-api-key": GATEWAY_KEY},
        json={"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
    )
    assert response.status_code == 503
    assert response.json()["error"]["status"] == "UNAVAILABLE"


@pytest.mark.parametrize(
    ("path", "body", "status", "name"),
    [
        ("same-x:generateContent", b"{not json", 400, "INVALID_ARGUMENT"),
        ("same-x:generateContent", b'{"contents": []}', 400, "INVALID_ARGUMENT"),
        ("same-x:embedContent", b"{}", 404, "NOT_FOUND"),
        ("nothing-routes-this:generateContent", b'{"contents": []}', 404, "NOT_FOUND"),
    ],
)
def test_bad_requests_get_google_errors(gw, path, body, status, name):
    response = httpx.post(
        f"{gw.url}/v1beta/models/{path}",
        headers={"x-goog-api-key": GATEWAY_KEY, "content-type": "application/json"},
        content=body,
    )
    assert response.status_code == status
    assert response.json()["error"]["status"] == name


def test_models_are_listed_for_gemini_clients(gem, gw):
    names = [m.name for m in gem.models.list()]
    assert "models/gemini-listed" in names
    v1 = httpx.get(f"{gw.url}/v1/models", headers={"x-goog-api-key": GATEWAY_KEY})
    assert "models/gemini-listed" in [m["name"] for m in v1.json()["models"]]
    openai_shape = httpx.get(
        f"{gw.url}/v1/models", headers={"authorization": f"Bearer {GATEWAY_KEY}"}
    )
    assert openai_shape.json()["object"] == "list"
    one = httpx.get(f"{gw.url}/v1beta/models/gemini-listed", params={"key": GATEWAY_KEY})
    assert one.json()["name"] == "models/gemini-listed"


# --- Gemini clients to a Gemini provider: passthrough ------------------------------------


def test_gemini_passthrough_keeps_bytes_and_rewrites_model_and_key(gw, gm_upstream):
    frames = gm_text_stream("Hi ", "there")
    gm_upstream.push(Sse(frames))
    raw = b'{"contents":[{"role":"user","parts":[{"text":"hi"}]}],  "generationConfig":{}}'
    with httpx.stream(
        "POST",
        f"{gw.url}/v1beta/models/gemini-2.5-flash:streamGenerateContent",
        params={"alt": "sse", "key": GATEWAY_KEY},
        headers={"content-type": "application/json", "x-goog-api-client": "genai-js/1"},
        content=raw,
    ) as response:
        received = b"".join(response.iter_raw())
    assert response.status_code == 200
    assert response.headers["tether-route"] == "gm/gemini-real"
    assert received == b"".join(frames)
    sent = gm_upstream.received[0]
    assert sent.path == "/v1beta/models/gemini-real:streamGenerateContent"
    assert sent.query == "alt=sse"  # the client's query, but not its key
    assert sent.raw == raw
    assert sent.headers["x-goog-api-key"] == "gm-upstream-key"
    assert sent.headers["x-goog-api-client"] == "genai-js/1"


def test_gemini_passthrough_error_comes_back_as_it_is(gem, gw, gm_upstream):
    gm_upstream.push(gm_error(429, "Quota exceeded", "RESOURCE_EXHAUSTED"))
    with pytest.raises(genai_errors.ClientError) as caught:
        gem.models.generate_content(model="gemini-2.5-pro", contents="hi")
    assert caught.value.code == 429 and caught.value.message == "Quota exceeded"


# --- Anthropic and OpenAI clients to a Gemini provider -----------------------------------


def anthropic_client(gw: TetherServer) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.url, api_key=GATEWAY_KEY, max_retries=0)


WRITE_TOOL = {
    "name": "Write",
    "description": "Write a file",
    "input_schema": {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "properties": {"file_path": {"type": "string"}, "content": {"type": "string"}},
        "required": ["file_path", "content"],
        "additionalProperties": False,
    },
}


def test_anthropic_sdk_to_gemini_provider(gw, gm_upstream):
    gm_upstream.default = gm_reply("Hello from Gemini")
    message = anthropic_client(gw).messages.create(
        model="claude-gem-1",
        max_tokens=300,
        system="Be brief",
        messages=[{"role": "user", "content": "Hi"}],
    )
    assert message.content[0].text == "Hello from Gemini"
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens == 21 and message.usage.output_tokens == 10
    sent = gm_upstream.received[0]
    assert sent.path == "/v1beta/models/gemini-real:generateContent"
    assert sent.headers["x-goog-api-key"] == "gm-upstream-key"
    assert sent.json == {
        "contents": [{"role": "user", "parts": [{"text": "Hi"}]}],
        "systemInstruction": {"parts": [{"text": "Be brief"}]},
        "generationConfig": {"maxOutputTokens": 300},
    }


def test_anthropic_sdk_streams_a_signed_tool_call_from_gemini(gw, gm_upstream):
    gm_upstream.push(
        Sse(
            [
                *gm_text_stream("Let me ", "write it.", thoughts=("Plan: write.",))[:-1],
                *gm_call_stream(
                    [("Write", {"file_path": "a.txt", "content": "x"})], signature="c2lnbmVk"
                ),
            ]
        )
    )
    client = anthropic_client(gw)
    with client.messages.stream(
        model="claude-gem-1",
        max_tokens=4000,
        thinking={"type": "enabled", "budget_tokens": 2000},
        tools=[WRITE_TOOL],
        messages=[{"role": "user", "content": "write a.txt"}],
    ) as stream:
        message = stream.get_final_message()
    assert gm_upstream.received[0].path.endswith(":streamGenerateContent")
    assert gm_upstream.received[0].query == "alt=sse"
    kinds = [b.type for b in message.content]
    assert kinds == ["thinking", "text", "tool_use"]
    assert message.content[0].signature == "tether:gemini:"  # a thought without a signature
    use = message.content[2]
    assert use.name == "Write" and use.input == {"file_path": "a.txt", "content": "x"}
    assert message.stop_reason == "tool_use"
    sent = gm_upstream.received[0].json
    decl = sent["tools"][0]["functionDeclarations"][0]
    assert "additionalProperties" not in json.dumps(decl) and "$schema" not in json.dumps(decl)
    assert sent["generationConfig"]["thinkingConfig"] == {
        "thinkingBudget": 2000,
        "includeThoughts": True,
    }
    # The next turn sends the call back with Gemini's signature, and its result.
    gm_upstream.push(Json(gm_response([{"text": "Done."}], "STOP", GM_USAGE)))
    follow = client.messages.create(
        model="claude-gem-1",
        max_tokens=4000,
        tools=[WRITE_TOOL],
        messages=[
            {"role": "user", "content": "write a.txt"},
            {"role": "assistant", "content": [b.model_dump() for b in message.content]},
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "written"}],
            },
        ],
    )
    assert follow.content[0].text == "Done."
    contents = gm_upstream.received[1].json["contents"]
    call_part = next(p for p in contents[1]["parts"] if "functionCall" in p)
    assert call_part["thoughtSignature"] == "c2lnbmVk"
    assert contents[2]["parts"] == [
        {"functionResponse": {"name": "Write", "response": {"output": "written"}}}
    ]


def test_anthropic_count_tokens_asks_gemini(gw, gm_upstream):
    gm_upstream.default = gm_reply()
    count = anthropic_client(gw).messages.count_tokens(
        model="claude-gem-1", messages=[{"role": "user", "content": "count"}], tools=[WRITE_TOOL]
    )
    assert count.input_tokens == 321
    sent = gm_upstream.received[0]
    assert sent.path == "/v1beta/models/gemini-real:countTokens"
    request = sent.json["generateContentRequest"]
    assert request["model"] == "models/gemini-real" and request["contents"]


def test_gemini_error_reaches_anthropic_client(gw, gm_upstream):
    gm_upstream.push(gm_error(429, "Resource has been exhausted", "RESOURCE_EXHAUSTED"))
    with pytest.raises(anthropic.RateLimitError) as caught:
        anthropic_client(gw).messages.create(
            model="claude-gem-1", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
        )
    assert "Resource has been exhausted" in str(caught.value)


def test_openai_sdk_streams_tool_calls_from_gemini(gw, gm_upstream):
    gm_upstream.push(
        Sse(gm_call_stream([("read", {"p": "a"}), ("read", {"p": "b"})], text="Reading."))
    )
    client = openai.OpenAI(base_url=f"{gw.url}/v1", api_key=GATEWAY_KEY, max_retries=0)
    stream = client.chat.completions.create(
        model="claude-gem-1",
        stream=True,
        stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "read a and b"}],
        tools=[
            {
                "type": "function",
                "function": {
                    "name": "read",
                    "parameters": {"type": "object", "properties": {"p": {"type": "string"}}},
                },
            }
        ],
    )
    text, calls, finish, usage = "", {}, None, None
    for chunk in stream:
        if chunk.usage:
            usage = chunk.usage
        for choice in chunk.choices:
            text += choice.delta.content or ""
            for call in choice.delta.tool_calls or []:
                entry = calls.setdefault(call.index, {"name": "", "args": ""})
                entry["name"] += call.function.name or ""
                entry["args"] += call.function.arguments or ""
            finish = choice.finish_reason or finish
    assert text == "Reading."
    assert [(c["name"], orjson.loads(c["args"])) for c in calls.values()] == [
        ("read", {"p": "a"}),
        ("read", {"p": "b"}),
    ]
    assert finish == "tool_calls"
    assert usage.prompt_tokens == 21 and usage.completion_tokens == 10
    sent = gm_upstream.received[0].json
    assert sent["contents"] == [{"role": "user", "parts": [{"text": "read a and b"}]}]


def test_openai_sdk_whole_answer_from_gemini(gw, gm_upstream):
    gm_upstream.default = gm_reply("Plain answer")
    client = openai.OpenAI(base_url=f"{gw.url}/v1", api_key=GATEWAY_KEY, max_retries=0)
    completion = client.chat.completions.create(
        model="claude-gem-1", messages=[{"role": "user", "content": "hi"}]
    )
    assert completion.choices[0].message.content == "Plain answer"
    assert completion.choices[0].finish_reason == "stop"


def test_openai_responses_stream_calls_tools_on_gemini(gw, gm_upstream):
    gm_upstream.push(
        Sse(gm_call_stream([("read", {"p": "a"}), ("read", {"p": "b"})], text="Reading."))
    )
    client = openai.OpenAI(base_url=f"{gw.url}/v1", api_key=GATEWAY_KEY, max_retries=0)
    with client.responses.stream(
        model="claude-gem-1",
        input="read a and b",
        tools=[
            {
                "type": "function",
                "name": "read",
                "parameters": {"type": "object", "properties": {"p": {"type": "string"}}},
                "strict": False,
            }
        ],
    ) as stream:
        for _ in stream:
            pass
        response = stream.get_final_response()
    assert response.status == "completed"
    assert response.output_text == "Reading."
    calls = [item for item in response.output if item.type == "function_call"]
    assert [(c.name, orjson.loads(c.arguments)) for c in calls] == [
        ("read", {"p": "a"}),
        ("read", {"p": "b"}),
    ]
    assert response.usage.input_tokens == 21 and response.usage.output_tokens == 10
    received = gm_upstream.received[0]
    assert received.path.endswith("/models/gemini-real:streamGenerateContent")
    assert received.json["contents"] == [{"role": "user", "parts": [{"text": "read a and b"}]}]


def test_openai_responses_whole_answer_from_gemini(gw, gm_upstream):
    gm_upstream.default = gm_reply("Plain answer")
    client = openai.OpenAI(base_url=f"{gw.url}/v1", api_key=GATEWAY_KEY, max_retries=0)
    response = client.responses.create(model="claude-gem-1", input="hi")
    assert response.output_text == "Plain answer"
    assert gm_upstream.received[0].path.endswith("/models/gemini-real:generateContent")


def test_query_key_is_masked_in_the_access_log(tmp_path, an_upstream):
    """At debug level each request is logged with its path and query: never a `?key=`."""
    config = gateway_config(an_upstream, an_upstream, keys=["secret-gemini-key"])
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    server = TetherServer(  # a child process: its log is what is checked
        data_dir=tmp_path, extra_args=["--only", "gateway", "--log-level", "debug"], process=True
    ).start()
    try:
        an_upstream.push(Json(an_message("ok")))
        response = httpx.post(
            f"{server.url}/v1beta/models/same-x:generateContent?alt=json&key=secret-gemini-key",
            json={"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
        )
        assert response.status_code == 200
        server.stop()
        log = server.log()
        assert "generateContent?alt=json&key=[redacted]" in log
        assert "secret-gemini-key" not in log
    finally:
        server.stop()


@pytest.mark.parametrize(("model", "upstream_name"), [("same-x", "an"), ("claude-x", "oa")])
def test_recorded_gemini_cli_tool_turn_through_each_provider(
    gw, an_upstream, oa_upstream, model, upstream_name
):
    record = json.loads((FIXTURES / "gemini_cli_tool_result.json").read_text())
    upstream = an_upstream if upstream_name == "an" else oa_upstream
    upstream.push(
        Sse(an_text_stream("Done.")) if upstream_name == "an" else Sse(oa_text_stream("Done."))
    )
    response = httpx.post(
        f"{gw.url}/v1beta/models/{model}:streamGenerateContent",
        params={"alt": "sse"},
        headers={**record["headers"], "x-goog-api-key": GATEWAY_KEY},
        content=orjson.dumps(record["body"]),
    )
    assert response.status_code == 200, response.text
    frames = [
        json.loads(line[6:]) for line in response.text.splitlines() if line.startswith("data: ")
    ]
    text = "".join(
        p.get("text", "") for f in frames for p in f["candidates"][0]["content"]["parts"]
    )
    assert text == "Done." and frames[-1]["candidates"][0]["finishReason"] == "STOP"
    sent = upstream.received[0].json
    dumped = json.dumps(sent)
    assert "write_file" in dumped and "Successfully created" in dumped


def test_hub_stream_breaking_off_ends_with_a_google_error(gw, gem, an_upstream):
    an_upstream.push(Sse(an_text_stream("Hel", "lo", "there"), break_after=4))
    stream = gem.models.generate_content_stream(model="same-x", contents="hi")
    texts = []
    with pytest.raises(genai_errors.APIError) as caught:
        for chunk in stream:
            texts.append(chunk.text)
    assert texts == ["Hel"]  # what arrived before the break, and no finishReason after it
    # 502, as for the same break in a passthrough (the hub's stream side fails with it).
    assert caught.value.code == 502 and "broke off" in caught.value.message


def test_gemini_upstream_breaking_off_mid_passthrough_ends_with_an_error_frame(gw, gm_upstream):
    gm_upstream.push(Sse(gm_text_stream("a", "b", "c"), break_after=1))
    response = httpx.post(
        f"{gw.url}/v1beta/models/gemini-x:streamGenerateContent",
        params={"alt": "sse"},
        headers={"x-goog-api-key": GATEWAY_KEY},
        json={"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
    )
    frames = [json.loads(x[6:]) for x in response.text.splitlines() if x.startswith("data: ")]
    assert frames[0]["candidates"][0]["content"]["parts"] == [{"text": "a"}]
    assert frames[-1]["error"]["code"] == 502 and frames[-1]["error"]["status"] == "UNAVAILABLE"
