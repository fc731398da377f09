"""Real SDK clients through the gateway with capture on: each call becomes a flow with
both sides (as received and returned, as sent upstream and answered), every streamed
event, the route, timings, tokens and cost; credentials and redacted text never stored."""

from __future__ import annotations

import json

import httpx
import orjson
import pytest

from tests.flows.conftest import SECRET_IN_BODY, get_flow, open_session, raw_body, wait_flows
from tests.gateway.upstreams import (
    Json,
    Sse,
    an_message,
    an_text_stream,
    oa_completion,
    oa_text_stream,
)
from tests.support.sdks import anthropic, openai

SESSION = "ses_flowtest1"


def _anthropic(server) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        base_url=server.url,
        api_key="client-key-abc",
        max_retries=0,
        timeout=30,
        default_headers={"X-Tether-Session": SESSION},
    )


def test_anthropic_sdk_stream_passthrough(flows_server, an_upstream):
    open_session(flows_server, SESSION)
    an_upstream.push(Sse(an_text_stream("Hel", "lo")))
    with _anthropic(flows_server).messages.stream(
        model="same-model",
        max_tokens=50,
        system="be brief",
        messages=[{"role": "user", "content": "hi"}],
    ) as stream:
        text = stream.get_final_text()
    assert text == "Hello"
    [flow] = wait_flows(flows_server, 1)
    assert flow["surface"] == "anthropic" and flow["provider"] == "an"
    assert flow["client_model"] == "same-model" and flow["upstream_model"] == "same-model"
    assert flow["route_reason"] and flow["stream"] is True
    assert flow["status"] == 200 and flow["upstream_status"] == 200
    assert flow["session_id"] == SESSION
    assert (flow["input_tokens"], flow["output_tokens"]) == (12, 5)
    assert flow["cost"] is None  # no price for this model
    assert flow["duration_ms"] >= flow["first_byte_ms"] >= flow["connected_ms"] > 0
    detail = get_flow(flows_server, flow["id"])
    assert json.loads(detail["request_body"])["system"] == "be brief"
    # Every streamed event, as text, on both sides (a passthrough returns them as sent).
    for side in ("upstream_response_body", "response_body"):
        assert detail[side].count("event: content_block_delta") == 2
        assert "event: message_stop" in detail[side]
    assert detail["upstream_url"].endswith("/v1/messages")
    headers = dict(detail["request_headers"])
    assert headers["x-tether-session"] == SESSION
    assert "x-api-key" not in headers and "authorization" not in headers
    assert not any(name == "x-api-key" for name, _ in detail["upstream_request_headers"])
    # The session header is tether's own: it never reaches the upstream.
    assert "x-tether-session" not in an_upstream.received[-1].headers


def test_anthropic_sdk_translated_to_openai(flows_server, oa_upstream):
    oa_upstream.push(Json(oa_completion("hello there")))
    message = _anthropic(flows_server).messages.create(
        model="claude-sonnet-4", max_tokens=100, messages=[{"role": "user", "content": "hi"}]
    )
    assert message.content[0].text == "hello there"
    [flow] = wait_flows(flows_server, 1)
    assert (flow["provider"], flow["upstream_model"]) == ("oa", "gpt-test")
    assert (flow["input_tokens"], flow["output_tokens"]) == (11, 7)
    assert flow["cost"] == (11 * 1.0 + 7 * 2.0) / 1e6
    detail = get_flow(flows_server, flow["id"])
    sent = json.loads(detail["upstream_request_body"])
    assert sent["model"] == "gpt-test" and sent["messages"][-1]["role"] == "user"
    assert json.loads(detail["upstream_response_body"])["object"] == "chat.completion"
    assert json.loads(detail["response_body"])["type"] == "message"
    raw = raw_body(flows_server, flow["id"], "request")
    assert orjson.loads(raw)["model"] == "claude-sonnet-4"


def test_openai_sdk_stream_translated_to_anthropic(flows_server, an_upstream):
    an_upstream.push(Sse(an_text_stream("Hel", "lo", "!")))
    client = openai.OpenAI(
        base_url=f"{flows_server.url}/v1", api_key="client-key-abc", max_retries=0, timeout=30
    )
    stream = client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hi"}], max_tokens=50, stream=True
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == "Hello!"
    [flow] = wait_flows(flows_server, 1)
    assert (flow["surface"], flow["provider"], flow["upstream_model"]) == (
        "openai",
        "an",
        "claude-real",
    )
    detail = get_flow(flows_server, flow["id"])
    assert detail["upstream_response_body"].count("event: content_block_delta") == 3
    assert detail["response_body"].count("data: ") >= 4
    assert detail["response_body"].rstrip().endswith("data: [DONE]")


def test_openai_passthrough_responses_and_gemini(flows_server, oa_upstream, an_upstream):
    oa_upstream.push(Sse(oa_text_stream("a", "b")))
    client = openai.OpenAI(
        base_url=f"{flows_server.url}/v1", api_key="k", max_retries=0, timeout=30
    )
    stream = client.chat.completions.create(
        model="claude-via-oa", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "ab"
    an_upstream.push(Json(an_message("from responses")))
    result = client.responses.create(model="pass-x", input="hi")
    assert result.output_text == "from responses"
    an_upstream.push(Json(an_message("from gemini")))
    answer = httpx.post(
        f"{flows_server.url}/v1beta/models/pass-g:generateContent",
        json={"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
        headers={"x-goog-api-key": "goog-secret-key"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    flows = wait_flows(flows_server, 3)
    by_surface = {f["surface"]: f for f in flows}
    assert set(by_surface) == {"openai", "responses", "gemini"}
    passthrough = get_flow(flows_server, by_surface["openai"]["id"])
    assert passthrough["provider"] == "oa" and passthrough["stream"] is True
    assert passthrough["upstream_response_body"] == passthrough["response_body"]
    assert json.loads(passthrough["upstream_request_body"])["model"] == "gpt-test"
    gemini = get_flow(flows_server, by_surface["gemini"]["id"])
    assert json.loads(gemini["response_body"])["candidates"][0]["content"]["parts"][0] == {
        "text": "from gemini"
    }
    assert json.loads(gemini["upstream_request_body"])["model"] == "claude-real"
    assert "goog-secret-key" not in json.dumps(gemini)


def test_a_session_tag_joins_only_a_session_running_when_the_call_came(flows_server, an_upstream):
    live = open_session(flows_server, "ses_flowlive01")
    ended = open_session(flows_server, "ses_flowended1")
    with flows_server.client() as http:
        http.post(f"/api/v1/sessions/{ended}/end", json={}).raise_for_status()
    for tag in (live, ended, "ses_madeup0001"):
        an_upstream.push(Json(an_message("ok")))
        r = httpx.post(
            f"{flows_server.url}/v1/messages",
            json={
                "model": "same-x",
                "max_tokens": 5,
                "messages": [{"role": "user", "content": "x"}],
            },
            headers={"x-api-key": "k", "x-tether-session": tag},
            timeout=30,
        )
        assert r.status_code == 200, r.text
    flows = wait_flows(flows_server, 3)
    joined = {
        dict(get_flow(flows_server, f["id"])["request_headers"])["x-tether-session"]: f[
            "session_id"
        ]
        for f in flows
    }
    assert joined == {live: live, ended: None, "ses_madeup0001": None}
    assert [f["session_id"] for f in wait_flows(flows_server, 1, session=live)] == [live]


def test_a_refused_call_is_a_flow_with_its_error(flows_server, an_upstream):
    from tests.gateway.upstreams import an_error

    an_upstream.push(an_error(400, "invalid_request_error", "prompt is too long"))
    answer = httpx.post(
        f"{flows_server.url}/v1/messages",
        json={"model": "same-x", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]},
        headers={"x-api-key": "k"},
        timeout=30,
    )
    assert answer.status_code == 400
    [flow] = wait_flows(flows_server, 1)
    assert (flow["status"], flow["upstream_status"]) == (400, 400)
    assert flow["error"] == "prompt is too long"


def test_secrets_never_stored(flows_server, oa_upstream, an_upstream):
    oa_upstream.push(Json(oa_completion(f"your key is {SECRET_IN_BODY}")))
    an_upstream.push(Sse(an_text_stream("echo ", SECRET_IN_BODY)))
    client = _anthropic(flows_server)
    prompt = [{"role": "user", "content": f"remember {SECRET_IN_BODY}"}]
    client.messages.create(model="claude-sonnet-4", max_tokens=100, messages=prompt)
    with client.messages.stream(model="same-x", max_tokens=50, messages=prompt) as stream:
        stream.get_final_text()
    flows = wait_flows(flows_server, 2)
    with flows_server.client() as http:
        texts = [http.get(f"/api/v1/flows/{f['id']}").text for f in flows]
    everything = "\n".join(texts)
    assert "[REDACTED]" in everything
    for secret in (SECRET_IN_BODY, "client-key-abc", "oa-upstream-key", "an-upstream-key"):
        assert secret not in everything
    # The database itself: its file (or table), bodies inflated.
    stored = _stored_bytes(flows_server)
    for secret in (SECRET_IN_BODY, "client-key-abc", "oa-upstream-key", "an-upstream-key"):
        assert secret.encode() not in stored


def test_a_base_urls_userinfo_is_never_stored(start_flows_server, an_upstream):
    # One provider answers, one cannot be reached; both have credentials in base_url.
    server = start_flows_server(
        edit_providers={
            "an": {"base_url": an_upstream.url.replace("http://", "http://tether:pw-in-url@")},
            "oa": {"base_url": "http://tether:pw-in-url@127.0.0.1:1/v1", "retries": 0},
        }
    )
    an_upstream.push(Json(an_message("ok")))
    client = _anthropic(server)
    prompt = [{"role": "user", "content": "hi"}]
    client.messages.create(model="same-x", max_tokens=10, messages=prompt)
    with pytest.raises(anthropic.APIStatusError) as refused:
        client.messages.create(model="claude-sonnet-4", max_tokens=10, messages=prompt)
    assert "http://[redacted]@127.0.0.1:1/v1" in refused.value.message
    assert "pw-in-url" not in refused.value.message
    flows = wait_flows(server, 2)
    assert {f["upstream_url"] for f in flows} == {
        an_upstream.url.replace("http://", "http://[redacted]@") + "/v1/messages",
        "http://[redacted]@127.0.0.1:1/v1/chat/completions",
    }
    with server.client() as http:
        texts = [http.get(f"/api/v1/flows/{f['id']}").text for f in flows]
    assert "pw-in-url" not in "\n".join(texts)
    assert b"pw-in-url" not in _stored_bytes(server)


def _stored_bytes(server) -> bytes:
    """Every byte of the flows table, compressed bodies inflated, plus the SQLite files."""
    import zlib

    from tests.support.threaded import run_coroutine
    from tether.relay.store import open_database

    async def dump() -> bytes:
        db = open_database(server.database_url, server.data_dir)
        await db.connect()
        try:
            rows = await db.fetch("SELECT * FROM flows")
        finally:
            await db.close()
        out = []
        for row in rows:
            for value in row.values():
                if isinstance(value, bytes | memoryview):
                    out.append(zlib.decompress(bytes(value)))
                elif value is not None:
                    out.append(str(value).encode())
        return b"\n".join(out)

    data = run_coroutine(dump)
    if server.database_url is None:
        for path in server.data_dir.glob("tether.db*"):
            data += path.read_bytes()
    return data


def test_metadata_only_and_per_provider_switches(start_flows_server, oa_upstream, an_upstream):
    server = start_flows_server(capture="metadata", providers={"oa": "off"})
    an_upstream.push(Sse(an_text_stream("kept ", "out")))
    oa_upstream.push(Json(oa_completion("not captured")))
    client = _anthropic(server)
    with client.messages.stream(
        model="same-x", max_tokens=5, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        assert stream.get_final_text() == "kept out"
    client.messages.create(
        model="claude-sonnet-4", max_tokens=5, messages=[{"role": "user", "content": "hi"}]
    )
    an_upstream.push(Json(an_message("again")))
    client.messages.create(
        model="same-x", max_tokens=5, messages=[{"role": "user", "content": "hi"}]
    )
    # Flows are written in order: one for oa would be there before the last call's.
    flows = wait_flows(server, 2)
    assert [f["provider"] for f in flows] == ["an", "an"]
    flow = flows[1]
    assert flow["capture"] == "metadata"
    assert (flow["input_tokens"], flow["output_tokens"]) == (12, 5)  # read, then not kept
    detail = get_flow(server, flow["id"])
    assert detail["request_body"] is None and detail["response_body"] is None
    assert detail["request_headers"] is None
    with server.client() as http:
        assert http.get(f"/api/v1/flows/{flow['id']}/body/request").status_code == 404
