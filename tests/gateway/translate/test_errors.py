from __future__ import annotations

import pytest

from tether.gateway.translate.errors import (
    MAX_MESSAGE_CHARS,
    anthropic_error,
    openai_error,
    upstream_error_message,
)


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, "invalid_request_error"),
        (401, "authentication_error"),
        (403, "permission_error"),
        (404, "not_found_error"),
        (413, "request_too_large"),
        (422, "invalid_request_error"),
        (429, "rate_limit_error"),
        (500, "api_error"),
        (502, "api_error"),
        (503, "overloaded_error"),
        (504, "timeout_error"),
        (529, "overloaded_error"),
    ],
)
def test_anthropic_error_types_follow_the_status(status: int, kind: str):
    assert anthropic_error(status, "boom") == (
        status,
        {"type": "error", "error": {"type": kind, "message": "boom"}},
    )


def test_anthropic_upstream_type_wins_only_when_anthropic_defines_it():
    assert anthropic_error(500, "x", upstream_type="overloaded_error")[1]["error"]["type"] == (
        "overloaded_error"
    )
    assert anthropic_error(500, "x", upstream_type="server_error")[1]["error"]["type"] == (
        "api_error"
    )


def test_context_overflow_keeps_claude_codes_prompt_is_too_long_wording():
    message = "This model's maximum context length is 131072 tokens. However, you requested 150000"
    _, body = anthropic_error(400, message)
    assert body["error"]["message"] == f"prompt is too long: {message}"
    _, body = anthropic_error(400, "prompt is too long: 210000 tokens > 200000 maximum")
    assert body["error"]["message"] == "prompt is too long: 210000 tokens > 200000 maximum"


def test_openai_error_shape_and_529_becomes_503():
    assert openai_error(429, "slow down") == (
        429,
        {
            "error": {
                "message": "slow down",
                "type": "rate_limit_error",
                "param": None,
                "code": None,
            }
        },
    )
    status, body = openai_error(529, "busy")
    assert status == 503
    assert body["error"]["type"] == "overloaded_error"
    assert openai_error(500, "x", type="server_error")[1]["error"]["type"] == "server_error"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            b'{"error":{"message":"Invalid API key","type":"invalid_request_error"}}',
            "Invalid API key",
        ),
        (
            {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
            "Overloaded",
        ),
        (
            '[{"error":{"code":400,"message":"API key not valid.","status":"INVALID_ARGUMENT"}}]',
            "API key not valid.",
        ),
        (
            {
                "error": {
                    "message": "Provider returned error",
                    "code": 400,
                    "metadata": {
                        "raw": '{"error":{"message":"max_tokens is too large"}}',
                        "provider_name": "DeepInfra",
                    },
                }
            },
            "Provider returned error: DeepInfra: max_tokens is too large",
        ),
        (
            {"detail": [{"loc": ["body", "messages"], "msg": "field required"}]},
            "body.messages: field required",
        ),
        ({"object": "error", "message": "model 'x' not found"}, "model 'x' not found"),
        ({"error": "model not found"}, "model not found"),
        (
            'Error from provider: {"error": {"message": "quota exceeded"}}',
            "Error from provider: quota exceeded",
        ),
        (
            b"upstream connect error or disconnect/reset before headers",
            "upstream connect error or disconnect/reset before headers",
        ),
        (
            b"<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1>"
            b"<hr><center>nginx</center></body></html>",
            "502 Bad Gateway nginx",
        ),
        (
            b"<html><head><title>Service Unavailable</title></head><body>try later</body></html>",
            "Service Unavailable: try later",
        ),
        (b"", "the upstream returned an error with an empty body"),
        (b"\xff\xfe not utf-8", "\ufffd\ufffd not utf-8"),
    ],
)
def test_upstream_error_message_reads_every_providers_shape(body, expected):
    assert upstream_error_message(body) == expected


def test_upstream_error_message_is_bounded():
    message = upstream_error_message({"error": {"message": "x" * 50_000}})
    assert len(message) == MAX_MESSAGE_CHARS
    assert message.endswith("…")
