"""The pure parts of flows: usage read from each format, credentials left out of headers,
`--since` words, and the readable view of a request in each format."""

from __future__ import annotations

import json

from tests.gateway.upstreams import an_text_stream, oa_completion, oa_text_stream
from tether.cli.flow_view import answer_text, conversation
from tether.cli.flows import since_seconds
from tether.gateway.flows.digest import clean_headers, redact
from tether.gateway.flows.usage import read_usage
from tether.redact import redact_query, redact_url


def test_usage_in_every_format():
    anthropic = read_usage(b"".join(an_text_stream("a", "b")))
    assert (anthropic.input_tokens, anthropic.output_tokens) == (12, 5)
    openai = read_usage(json.dumps(oa_completion("x")).encode())
    assert (openai.input_tokens, openai.output_tokens) == (11, 7)
    stream = (
        b'data: {"choices":[{"delta":{"content":"a"}}]}\n\n'
        b'data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,'
        b'"prompt_tokens_details":{"cached_tokens":1}}}\n\ndata: [DONE]\n\n'
    )
    chunked = read_usage(stream)
    assert (chunked.input_tokens, chunked.output_tokens, chunked.cache_read_tokens) == (3, 2, 1)
    responses = read_usage(
        b'event: response.completed\ndata: {"type":"response.completed","response":'
        b'{"usage":{"input_tokens":9,"output_tokens":4}}}\n\n'
    )
    assert (responses.input_tokens, responses.output_tokens) == (9, 4)
    gemini = read_usage(
        b'[{"candidates":[],"usageMetadata":{"promptTokenCount":8,"candidatesTokenCount":1}},'
        b'{"usageMetadata":{"promptTokenCount":8,"candidatesTokenCount":6}}]'
    )
    assert (gemini.input_tokens, gemini.output_tokens) == (8, 6)
    failed = read_usage(
        b'event: error\ndata: {"type":"error","error":{"message":"overloaded"}}\n\n'
    )
    assert failed.error == "overloaded" and not failed.known
    assert not read_usage(b"not json at all").known


def test_credentials_never_kept_in_headers():
    kept = clean_headers(
        [
            (b"X-Api-Key", b"sk-1"),
            (b"authorization", b"Bearer sk-2"),
            (b"x-goog-api-key", b"g"),
            (b"cookie", b"c"),
            (b"x-auth-token", b"t"),
            (b"anthropic-beta", b"tools-2024 sk-live-abc"),
            (b"x-tether-session", b"ses_1"),
        ],
        [__import__("re").compile(rb"sk-live-\w+")],
    )
    assert kept == [
        ["anthropic-beta", "tools-2024 [REDACTED]"],
        ["x-tether-session", "ses_1"],
    ]
    assert redact(b"a sk-live-1 b", []) == b"a sk-live-1 b"


def test_credentials_never_kept_in_a_query():
    # The Gemini surface reads `key` from the query after percent-decoding its name
    # (parse_qsl), so `%6Bey=` is as good a key as `key=` and must be masked the same way.
    for query in (
        "?key=AIza1",
        "?%6Bey=AIza1",
        "?KEY=AIza1",
        "?k%65y=AIza1",
        "?alt=sse&key=AIza1",
        "/x?alt=sse?key=AIza1",  # a stray `?` inside another value
        "?token=AIza1?AIza1",
    ):
        assert "AIza1" not in redact_query(query), query
    assert redact_query("?api_key=s1&x=1&access_token=s2") == (
        "?api_key=[redacted]&x=1&access_token=[redacted]"
    )
    assert redact_query("/v1beta/models/m:generateContent?alt=sse") == (
        "/v1beta/models/m:generateContent?alt=sse"
    )
    assert redact_query("/?token=tth_1#frag") == "/?token=[redacted]#frag"


def test_a_urls_userinfo_is_masked_whole():
    assert redact_url("https://user:pw1@api.example.com:8443/v1?key=k1&alt=sse") == (
        "https://[redacted]@api.example.com:8443/v1?key=[redacted]&alt=sse"
    )
    # A user name alone can be the key; an `@` in the password ends at the last one, as
    # URL parsers read it; an `@` in the path or query is not userinfo.
    assert redact_url("http://sk-only@h/v1") == "http://[redacted]@h/v1"
    assert redact_url("http://u:p@ss@h/x") == "http://[redacted]@h/x"
    assert redact_url("http://h/v1/a@b?x=c@d") == "http://h/v1/a@b?x=c@d"


def test_since_words():
    assert since_seconds("10m", now=1000.0) == 400.0
    assert since_seconds("2h", now=10000.0) == 2800.0
    assert since_seconds("1700000000") == 1700000000.0
    assert since_seconds("1970-01-01T00:01:00Z") == 60.0
    assert since_seconds(None) is None


def test_each_format_read_as_a_conversation():
    gemini = conversation(
        "gemini",
        {
            "systemInstruction": {"parts": [{"text": "sys"}]},
            "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
            "tools": [{"functionDeclarations": [{"name": "run"}]}],
        },
    )
    assert (gemini.system, list(gemini.tools), gemini.messages) == (
        "sys",
        ["run"],
        [("user", "hi")],
    )
    responses = conversation(
        "responses",
        {"instructions": "be", "input": "go", "tools": [{"type": "function", "name": "sh"}]},
    )
    assert (responses.system, list(responses.tools), responses.messages) == (
        "be",
        ["sh"],
        [("user", "go")],
    )
    chat = conversation(
        "openai",
        {
            "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}],
            "tools": [{"type": "function", "function": {"name": "f"}}],
        },
    )
    assert (chat.system, list(chat.tools), chat.messages) == ("s", ["f"], [("user", "u")])
    assert answer_text(b"".join(oa_text_stream("a", "b")).decode()) == "ab"
    assert answer_text(b"".join(an_text_stream("x", "y")).decode()) == "xy"
