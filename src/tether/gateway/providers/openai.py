"""An OpenAI Chat Completions upstream (OpenAI, OpenRouter, DeepSeek, Groq, vLLM, Ollama...).

Anthropic clients (Claude Code) are translated both ways by `translate/`; OpenAI clients
pass through with only the model (and a too-large max_tokens) rewritten.
"""

from __future__ import annotations

from typing import Any

import httpx
import orjson
from starlette.responses import Response

from tether.gateway.inbound import Format, error_response, json_bytes_response
from tether.gateway.providers.base import (
    SSE_HEADERS,
    BaseProvider,
    Call,
    client_auth_headers,
    failure_response,
    read_error_body,
    read_json,
    response_headers,
    stream_failure_message,
    translated_error,
    translated_stream,
    unusable_request,
)
from tether.gateway.streaming import SILENCE, StreamOut, paced
from tether.gateway.token_estimate import estimate_tokens
from tether.gateway.translate.anthropic_request_to_openai import request_to_openai
from tether.gateway.translate.errors import UpstreamResponseError, upstream_error_message
from tether.gateway.translate.openai_response_to_anthropic import response_from_openai
from tether.gateway.translate.openai_stream_to_anthropic import OpenAIStreamTranslator
from tether.gateway.translate.sse import encode_sse
from tether.gateway.upstream import UpstreamFailure
from tether.sse import SSEMessage, SSEParser

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
        try:
            body, tool_names = request_to_openai(
                call.body,
                model=call.upstream_model,
                max_tokens_limit=self.provider.max_tokens,
                reasoning=self.provider.reasoning,
                echo_reasoning=self.provider.echo_reasoning,
                tool_id_style=self.provider.tool_id_style,
                mid_system=self.provider.mid_system,
                max_tokens_field=self.provider.max_tokens_field,
            )
        except Exception as exc:  # the body's shape is not what the API allows
            return error_response(Format.ANTHROPIC, 400, unusable_request(exc))
        try:
            upstream = await self.upstream.open(
                "/chat/completions", orjson.dumps(body), self._headers(call)
            )
        except Exception as exc:
            return _failure(Format.ANTHROPIC, exc)
        if upstream.status_code >= 400:
            return translated_error(Format.ANTHROPIC, upstream, await read_error_body(upstream))
        is_sse = "text/event-stream" in upstream.headers.get("content-type", "")
        if not (call.stream and is_sse):
            try:
                result = await read_json(upstream)
                if is_sse or not isinstance(result, dict):
                    raise UpstreamResponseError(
                        "the provider sent a stream where a JSON body was expected"
                    )
                if "error" in result and "choices" not in result:
                    raise UpstreamResponseError(upstream_error_message(result))
                converted = response_from_openai(
                    result, model=call.client_model, tool_names=tool_names
                )
            except Exception as exc:
                return _failure(Format.ANTHROPIC, exc)
            if call.stream:
                # Asked to stream, got one JSON body: replay it as a stream.
                return _replayed_stream(call, converted)
            response = json_bytes_response(200, orjson.dumps(converted))
            response.raw_headers.append(call.route_header())
            return response

        parser = SSEParser()
        translator = OpenAIStreamTranslator(call.client_model, tool_names)

        def frames(events: list[tuple[str, dict[str, Any]]]) -> list[bytes]:
            return [encode_sse(event, data) for event, data in events]

        def on_chunks(items: list[SSEMessage]) -> list[bytes]:
            out: list[bytes] = []
            for message in items:
                out.extend(frames(translator.feed_data(message.data)))
            return out

        def on_end() -> list[bytes]:
            return on_chunks(parser.close()) + frames(translator.finish())

        return translated_stream(
            call,
            upstream,
            self.provider,
            on_bytes=lambda data: on_chunks(parser.feed(data)),
            on_silence=lambda: frames([translator.ping()]),
            on_end=on_end,
            on_failure=lambda message: frames(translator.fail("api_error", message)),
        )

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
            raw = await read_error_body(upstream)
            try:
                parsed = orjson.loads(raw)
            except orjson.JSONDecodeError:
                parsed = None
            if isinstance(parsed, dict) and isinstance(parsed.get("error"), dict):
                response = json_bytes_response(upstream.status_code, raw)
                response.raw_headers[:] = response_headers(
                    upstream, [(b"content-length", str(len(raw)).encode())]
                )
                return response
            return translated_error(Format.OPENAI, upstream, raw)
        if not call.stream:
            try:
                raw = await upstream.aread()
            except httpx.HTTPError as exc:
                return error_response(
                    Format.OPENAI, 502, stream_failure_message(exc, self.provider)
                )
            finally:
                await upstream.aclose()
            response = Response(raw, status_code=upstream.status_code)
            response.raw_headers[:] = response_headers(
                upstream, [call.route_header(), (b"content-length", str(len(raw)).encode())]
            )
            return response

        async def relay() -> Any:
            at_boundary = True
            try:
                async for item in paced(upstream.aiter_raw(), call.ping_interval):
                    if item is SILENCE:
                        if at_boundary:
                            yield OPENAI_PING
                        continue
                    assert isinstance(item, bytes)
                    at_boundary = item.endswith(b"\n\n")
                    yield item
            except Exception as exc:
                error = {
                    "error": {
                        "message": stream_failure_message(exc, self.provider),
                        "type": "server_error",
                    }
                }
                yield (b"" if at_boundary else b"\n\n") + b"data: " + orjson.dumps(error) + b"\n\n"

        return StreamOut(
            upstream.status_code,
            response_headers(upstream, [call.route_header()]),
            relay(),
            on_close=upstream.aclose,
        )


def _failure(fmt: Format, exc: Exception) -> Response:
    if isinstance(exc, UpstreamFailure):
        return failure_response(fmt, exc)
    if isinstance(exc, UpstreamResponseError):
        return error_response(fmt, 502, str(exc))
    return error_response(
        fmt, 502, f"the provider's response could not be translated: {type(exc).__name__}: {exc}"
    )


def _replayed_stream(call: Call, message: dict[str, Any]) -> StreamOut:
    """A whole Anthropic message as the SSE events a streaming client expects."""

    async def frames() -> Any:
        yield b"".join(encode_sse(event, data) for event, data in message_events(message))

    return StreamOut(200, [*SSE_HEADERS, call.route_header()], frames())


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
