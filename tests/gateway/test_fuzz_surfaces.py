"""Structurally wrong (but valid JSON) bodies fuzzed at the Responses and Gemini surfaces,
through a real gateway to every provider type, each upstream answering sensibly: tether
never answers 5xx itself, never drops the connection, and every refusal is an error body
in the client's own format."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.gateway.conftest import GATEWAY_KEY, start_gateway
from tests.gateway.gemini_upstream import gm_reply
from tests.gateway.upstreams import (
    Json,
    Received,
    ScriptedUpstream,
    Sse,
    an_message,
    an_text_stream,
    oa_completion,
    oa_text_stream,
    rs_response,
    rs_stream,
    rs_text_item,
)
from tests.support.server import TetherServer

PROVIDERS = ("an", "oa", "rs", "gm")


def _sensible(received: Received) -> Json | Sse:
    """What a healthy upstream of each wire format answers to any request."""
    path = received.path
    try:
        body = received.json
    except orjson.JSONDecodeError:
        body = {}
    stream = isinstance(body, dict) and body.get("stream") is True
    if "/v1beta/" in path or ":" in path.rsplit("/", 1)[-1]:
        return gm_reply()(received)
    if path.endswith("/messages/count_tokens"):
        return Json({"input_tokens": 7})
    if path.endswith("/messages"):
        return Sse(an_text_stream("hi", " there")) if stream else Json(an_message("hi"))
    if path.endswith("/chat/completions"):
        return Sse(oa_text_stream("hi", " there")) if stream else Json(oa_completion("hi"))
    if path.endswith("/responses"):
        return Sse(rs_stream("hi", " there")) if stream else Json(rs_response([rs_text_item("hi")]))
    return Json({"error": {"message": f"no such path {path}"}}, 404)


@pytest.fixture(scope="module")
def sensible() -> Iterator[ScriptedUpstream]:
    upstream = ScriptedUpstream(default=_sensible).start()
    yield upstream
    upstream.stop()


@pytest.fixture(scope="module")
def gw(
    tmp_path_factory: pytest.TempPathFactory, sensible: ScriptedUpstream
) -> Iterator[TetherServer]:
    common = {"retries": 0, "timeout": 10, "api_key": "up-key"}
    config = {
        "gateway": {
            "keys": [GATEWAY_KEY],
            "ping_interval": 5,
            "providers": {
                "an": {"type": "anthropic", "base_url": sensible.url, **common},
                "oa": {"type": "openai", "base_url": f"{sensible.url}/v1", **common},
                "rs": {"type": "openai-responses", "base_url": f"{sensible.url}/v1", **common},
                "gm": {"type": "gemini", "base_url": sensible.url, **common},
            },
            "routes": [{"match": f"to-{p}*", "provider": p} for p in PROVIDERS],
            "default": {"provider": "an", "model": "claude-real"},
        }
    }
    server = start_gateway(tmp_path_factory.mktemp("gw-fuzz"), config)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def http(gw: TetherServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gw.url, timeout=15) as client:
        yield client


# --- generated bodies ---------------------------------------------------------------

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
    st.sampled_from(["", "\x00", "user", "assistant", "function_call", "message", "é\u202e"]),
)
_junk = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)


def _maybe(value: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly a value of the right type, sometimes junk: a body needs most fields right for
    the junk in one of them to reach the code past the first check."""
    return st.one_of(value, value, value, _junk)


_text = st.text(max_size=8)
_number = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
)


_HELLO = {"role": "user", "content": "hello"}
_GM_HELLO = {"role": "user", "parts": [{"text": "hello"}]}
_rs_part = st.fixed_dictionaries(
    {"type": _maybe(st.sampled_from(["input_text", "output_text", "input_image", "refusal"]))},
    optional={"text": _maybe(_text), "image_url": _maybe(_text), "refusal": _maybe(_text)},
)
_rs_item = st.fixed_dictionaries(
    {},
    optional={
        "type": _maybe(
            st.sampled_from(
                [
                    "message",
                    "function_call",
                    "function_call_output",
                    "custom_tool_call",
                    "custom_tool_call_output",
                    "reasoning",
                ]
            )
        ),
        "role": _maybe(st.sampled_from(["user", "assistant", "system", "developer"])),
        "content": _maybe(st.one_of(st.text(max_size=5), st.lists(_rs_part, max_size=2))),
        "call_id": _maybe(_text),
        "name": _maybe(_text),
        "arguments": _maybe(st.one_of(_text, st.just('{"a": 1}'))),
        "input": _maybe(_text),
        "output": _maybe(st.one_of(_text, st.lists(_rs_part, max_size=2))),
        "encrypted_content": _maybe(_text),
    },
)
_rs_tool = st.fixed_dictionaries(
    {},
    optional={
        "type": _maybe(st.sampled_from(["function", "custom", "namespace", "web_search"])),
        "name": _maybe(_text),
        "parameters": _maybe(st.dictionaries(_text, _junk, max_size=2)),
        "tools": _junk,
        "format": _maybe(st.dictionaries(_text, _junk, max_size=2)),
    },
)
responses_bodies = st.fixed_dictionaries(
    {"model": st.sampled_from([f"to-{p}" for p in PROVIDERS])},
    optional={
        # Mostly a usable first message, so the junk after it reaches the deeper code.
        "input": _maybe(
            st.one_of(
                st.text(max_size=5),
                st.lists(_rs_item, max_size=3),
                st.lists(_rs_item, max_size=3).map(lambda items: [_HELLO, *items]),
            )
        ),
        "instructions": _maybe(_text),
        "tools": _maybe(st.lists(_rs_tool, max_size=2)),
        "tool_choice": _maybe(st.sampled_from(["auto", "none", "required"])),
        "max_output_tokens": _maybe(st.integers(min_value=-(2**70), max_value=2**70)),
        "temperature": _maybe(_number),
        "top_p": _maybe(_number),
        "reasoning": _maybe(
            st.fixed_dictionaries({}, optional={"effort": _junk, "summary": _junk})
        ),
        "text": _maybe(st.dictionaries(_text, _junk, max_size=2)),
        "include": _maybe(st.lists(_text, max_size=2)),
        "stream": _maybe(st.booleans()),
        "parallel_tool_calls": _maybe(st.booleans()),
        "metadata": _maybe(st.dictionaries(_text, _text, max_size=2)),
        "prompt_cache_key": _maybe(_text),
        "user": _maybe(_text),
    },
)

_gm_part = st.fixed_dictionaries(
    {},
    optional={
        "text": _junk,
        "thought": _junk,
        "functionCall": _maybe(
            st.fixed_dictionaries({}, optional={"name": _junk, "args": _junk, "id": _junk})
        ),
        "functionResponse": _maybe(
            st.fixed_dictionaries({}, optional={"name": _junk, "response": _junk, "id": _junk})
        ),
        "inlineData": _junk,
        "fileData": _junk,
    },
)
_gm_content = st.fixed_dictionaries(
    {},
    optional={
        "role": _maybe(st.sampled_from(["user", "model", "function"])),
        "parts": _maybe(st.lists(_gm_part, max_size=3)),
    },
)
gemini_bodies = st.fixed_dictionaries(
    {},
    optional={
        "contents": _maybe(
            st.one_of(
                st.lists(_gm_content, max_size=3),
                st.lists(_gm_content, max_size=3).map(lambda items: [_GM_HELLO, *items]),
            )
        ),
        "systemInstruction": _maybe(_gm_content),
        "tools": _maybe(
            st.lists(
                st.fixed_dictionaries({}, optional={"functionDeclarations": _junk}), max_size=2
            )
        ),
        "toolConfig": _junk,
        "generationConfig": _maybe(
            st.fixed_dictionaries(
                {},
                optional={
                    "maxOutputTokens": _junk,
                    "temperature": _junk,
                    "topP": _junk,
                    "stopSequences": _junk,
                    "thinkingConfig": _junk,
                    "responseSchema": _junk,
                    "responseMimeType": _junk,
                },
            )
        ),
    },
)


# --- the properties -----------------------------------------------------------------


def _check_openai_answer(response: httpx.Response) -> None:
    assert response.status_code < 500, (response.status_code, response.text)
    if response.status_code >= 400:
        error = response.json()["error"]
        assert isinstance(error["message"], str) and error["message"]
        assert isinstance(error["type"], str)


def _check_gemini_answer(response: httpx.Response) -> None:
    assert response.status_code < 500, (response.status_code, response.text)
    if response.status_code >= 400:
        error = response.json()["error"]
        assert error["code"] == response.status_code
        assert isinstance(error["message"], str) and error["message"]
        assert isinstance(error["status"], str) and error["status"].isupper()


FUZZ = settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@FUZZ
@given(body=responses_bodies)
def test_responses_survives_any_body_shape(http: httpx.Client, body: dict) -> None:
    headers = {"Authorization": f"Bearer {GATEWAY_KEY}"}
    with http.stream("POST", "/v1/responses", json=body, headers=headers) as response:
        response.read()  # a dropped connection raises here
    _check_openai_answer(response)


@FUZZ
@given(
    body=gemini_bodies,
    provider=st.sampled_from(PROVIDERS),
    method=st.sampled_from(["generateContent", "streamGenerateContent", "countTokens"]),
    alt_sse=st.booleans(),
)
def test_gemini_survives_any_body_shape(
    http: httpx.Client, body: dict, provider: str, method: str, alt_sse: bool
) -> None:
    query = "?alt=sse" if alt_sse else ""
    with http.stream(
        "POST",
        f"/v1beta/models/to-{provider}:{method}{query}",
        json=body,
        headers={"x-goog-api-key": GATEWAY_KEY},
    ) as response:
        response.read()
    _check_gemini_answer(response)


# --- what the fuzzing found, pinned ----------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        # Truthy but not true: the hub asked the upstream for a stream, the gateway
        # expected JSON, and the client got a 502 for its own mistake.
        ({"input": "hi", "stream": [None]}, "stream"),
        ({"input": "hi", "tools": 1.5}, "tools"),
        ({"input": "hi", "tools": [{"type": "custom", "name": {}}]}, "tools[0].name"),
        ({"input": 7}, "input"),
        ({"input": ["hi", {"role": "user", "content": "x"}]}, "input[0]"),
        ({"input": [{"role": "user", "content": 3}]}, "input[0].content"),
        ({"input": "hi", "max_output_tokens": "many"}, "max_output_tokens"),
        ({"input": "hi", "temperature": True}, "temperature"),
    ],
)
@pytest.mark.parametrize("provider", PROVIDERS)
def test_responses_wrong_shapes_are_400s_naming_the_field(
    http: httpx.Client, sensible: ScriptedUpstream, provider: str, body: dict, field: str
) -> None:
    sensible.reset()
    response = http.post(
        "/v1/responses",
        json={"model": f"to-{provider}", **body},
        headers={"Authorization": f"Bearer {GATEWAY_KEY}"},
    )
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["message"].startswith(f"{field}: must be")
    assert sensible.received == []  # refused before any upstream call


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"systemInstruction": {"parts": [{"text": ["x"]}]}}, "systemInstruction.parts[0].text"),
        ({"systemInstruction": {"parts": "x"}}, "systemInstruction.parts"),
        ({"tools": [{"functionDeclarations": True}]}, "tools[0].functionDeclarations"),
    ],
)
@pytest.mark.parametrize("method", ["generateContent", "countTokens"])
def test_gemini_wrong_shapes_are_400s_naming_the_field(
    http: httpx.Client, method: str, body: dict, field: str
) -> None:
    hello = {"contents": [{"role": "user", "parts": [{"text": "hello"}]}]}
    response = http.post(
        f"/v1beta/models/to-an:{method}",
        json={**hello, **body},
        headers={"x-goog-api-key": GATEWAY_KEY},
    )
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["status"] == "INVALID_ARGUMENT"
    assert error["message"].startswith(field)


@pytest.mark.parametrize("model", ["to-gm%00x", "to-an%00x", "to-an%1Bx", "to-gm" + "x" * 300])
@pytest.mark.parametrize("method", ["generateContent", "streamGenerateContent", "countTokens"])
def test_gemini_model_name_with_a_control_character_is_a_400(
    http: httpx.Client, sensible: ScriptedUpstream, model: str, method: str
) -> None:
    """A NUL in the model name of the path reached the answer's `tether-route` header, and
    the server dropped the connection without a response."""
    sensible.reset()
    response = http.post(
        f"/v1beta/models/{model}:{method}",
        json={"contents": [{"role": "user", "parts": [{"text": "hello"}]}]},
        headers={"x-goog-api-key": GATEWAY_KEY},
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert response.json()["error"]["message"].startswith("model:")
    assert sensible.received == []


def test_responses_tool_schema_nested_too_deeply_is_a_clear_400(http: httpx.Client) -> None:
    schema: dict = {"type": "string"}
    for _ in range(300):
        schema = {"type": "object", "properties": {"a": schema}}
    response = http.post(
        "/v1/responses",
        json={
            "model": "to-an",
            "input": "x",
            "tools": [{"type": "function", "name": "f", "parameters": schema}],
        },
        headers={"Authorization": f"Bearer {GATEWAY_KEY}"},
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["message"].startswith("request body is nested too deeply")
