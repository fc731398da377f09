"""An OpenAI Chat Completions upstream (OpenAI, OpenRouter, DeepSeek, Groq, vLLM, Ollama...).

Anthropic clients (Claude Code) are translated both ways by `translate/`; OpenAI clients
pass through with only the model (and a too-large max_tokens) rewritten.
"""

from __future__ import annotations

from typing import Any

import orjson

# The module, not its names: the hub imports the providers, and may be imported first.
from tether.gateway import hub
from tether.gateway.inbound import Format, json_bytes_response
from tether.gateway.providers.base import (
    BaseProvider,
    Call,
    client_auth_headers,
    passthrough_error,
    passthrough_stream,
    passthrough_whole,
    unusable_answer,
)
from tether.gateway.providers.base import translation_failure as _failure
from tether.gateway.token_estimate import estimate_tokens
from tether.gateway.translate.sse import encode_data

OPENAI_PING = b": ping\n\n"


class OpenAIProvider(BaseProvider):
    def _headers(self, call: Call) -> list[tuple[str, str]]:
        headers = [("content-type", "application/json"), ("accept-encoding", "identity")]
        if self.provider.pass_client_key:
            auth = client_auth_headers(call.headers)
            key = dict(auth).get("x-api-key")
            # OpenAI servers read Authorization; an Anthropic client sends x-api-key.
            headers.extend([("authorization", f"Bearer {key}")] if key else auth)
        elif self.provider.api_key:
            headers.append(("authorization", f"Bearer {self.provider.api_key}"))
        headers.extend(self.provider.headers.items())
        return headers

    # --- Anthropic clients --------------------------------------------------------------

    async def messages(self, call: Call) -> Any:
        return await hub.serve_via_hub(self, call, hub.messages_side(self))

    async def count_tokens(self, call: Call) -> Any:
        # OpenAI-compatible servers have no count endpoint: an estimate (see token_estimate.py).
        response = json_bytes_response(
            200, orjson.dumps({"input_tokens": estimate_tokens(call.body)})
        )
        response.raw_headers.extend([call.route_header(), (b"tether-count", b"estimate")])
        return response

    # --- OpenAI clients -----------------------------------------------------------------

    async def chat_completions(self, call: Call) -> Any:
        return await self.passthrough(
            call, "/chat/completions", "max_tokens", "max_completion_tokens"
        )

    async def passthrough(self, call: Call, path: str, *limited: str) -> Any:
        """An OpenAI client's request to the same API upstream: the client's bytes, unless
        the model or a token limit (the fields named in `limited`) must change."""
        body = call.body
        changed = False
        for key in limited:
            changed |= self.clamp_max_tokens(body, key)
        if body.get("model") != call.upstream_model:
            body["model"] = call.upstream_model
            changed = True
        content = orjson.dumps(body) if changed else call.raw
        try:
            upstream = await self.upstream.open(path, content, self._headers(call))
        except Exception as exc:
            return _failure(Format.OPENAI, exc)
        if upstream.status_code >= 400:
            return await passthrough_error(
                upstream,
                Format.OPENAI,
                lambda parsed: isinstance(parsed, dict) and isinstance(parsed.get("error"), dict),
            )
        is_sse = "text/event-stream" in upstream.headers.get("content-type", "")
        if not (call.stream and is_sse):  # asked for a stream, got one body: check it too
            return await passthrough_whole(
                call, upstream, Format.OPENAI, self.provider, check=_unusable_openai_answer
            )

        def error_frame(message: str) -> bytes:
            # OpenAI SDKs raise on a chunk that carries `error`.
            error = {"error": {"message": message, "type": "server_error"}}
            return encode_data(error)

        return passthrough_stream(call, upstream, self.provider, OPENAI_PING, error_frame)


def message_events(message: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    start = {
        **message,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {**message.get("usage", {}), "output_tokens": 0},
    }
    events: list[tuple[str, dict[str, Any]]] = [
        ("message_start", {"type": "message_start", "message": start})
    ]
    for index, block in enumerate(message.get("content", [])):
        kind = block.get("type")
        if kind == "text":
            opened, delta = (
                {"type": "text", "text": ""},
                {"type": "text_delta", "text": block["text"]},
            )
        elif kind == "thinking":
            opened = {"type": "thinking", "thinking": "", "signature": ""}
            delta = {"type": "thinking_delta", "thinking": block.get("thinking", "")}
        elif kind == "tool_use":
            opened = {**block, "input": {}}
            delta = {
                "type": "input_json_delta",
                "partial_json": orjson.dumps(block.get("input", {})).decode(),
            }
        else:
            opened, delta = block, None
        events.append(
            (
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": opened},
            )
        )
        if delta is not None:
            events.append(
                (
                    "content_block_delta",
                    {"type": "content_block_delta", "index": index, "delta": delta},
                )
            )
        if kind == "thinking" and block.get("signature"):
            events.append(
                (
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": index,
                        "delta": {"type": "signature_delta", "signature": block["signature"]},
                    },
                )
            )
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    events.append(
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {
                    "stop_reason": message.get("stop_reason"),
                    "stop_sequence": message.get("stop_sequence"),
                },
                "usage": {"output_tokens": message.get("usage", {}).get("output_tokens", 0)},
            },
        )
    )
    events.append(("message_stop", {"type": "message_stop"}))
    return events


def _unusable_openai_answer(body: bytes, *, is_sse: bool) -> str | None:
    """A Response object carries `error` (null, or set when its status is failed) and is
    an answer either way; any other body with an `error` object is a 200 that failed."""

    def is_error(data: dict[str, Any]) -> bool:
        return isinstance(data.get("error"), dict) and data.get("object") != "response"

    return unusable_answer(body, is_sse=is_sse, is_error=is_error)
