"""A Gemini API upstream (generativelanguage.googleapis.com, or anything that speaks it).

Anthropic clients are translated to generateContent and back (streaming with `alt=sse`);
OpenAI clients go through the hub (chat → Anthropic → Gemini and back). Gemini clients
pass straight through: their body and the upstream's bytes are unchanged, only the model
in the path and the key are rewritten.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

import orjson
from starlette.responses import Response

from tether.gateway.http1 import UpstreamResponse
from tether.gateway.inbound import Format, error_response, json_bytes_response
from tether.gateway.providers.base import (
    SSE_HEADERS,
    BaseProvider,
    Call,
    failure_response,
    forwarded_request_headers,
    passthrough_error,
    passthrough_whole,
    read_error_body,
    read_json,
    response_headers,
    stream_failure_message,
    translated_error,
    translated_stream,
    unusable_answer,
    unusable_request,
)
from tether.gateway.providers.base import translation_failure as _failure
from tether.gateway.providers.openai import message_events
from tether.gateway.streaming import StreamOut
from tether.gateway.translate.anthropic_request_to_gemini import anthropic_request_to_gemini
from tether.gateway.translate.anthropic_request_to_openai import ToolNames
from tether.gateway.translate.anthropic_response_to_openai import response_from_anthropic
from tether.gateway.translate.anthropic_stream_to_openai import AnthropicStreamTranslator
from tether.gateway.translate.errors import UpstreamResponseError, upstream_error_message
from tether.gateway.translate.gemini_stream_to_anthropic import (
    GeminiStreamTranslator,
    gemini_response_to_anthropic,
)
from tether.gateway.translate.gemini_wire import gemini_error
from tether.gateway.translate.openai_request_to_anthropic import request_to_anthropic
from tether.gateway.translate.sse import encode_sse
from tether.gateway.upstream import UpstreamFailure
from tether.sse import SSEMessage, SSEParser

OPENAI_PING = b": ping\n\n"
OPENAI_DONE = b"data: [DONE]\n\n"
API_VERSION = "v1beta"

Event = tuple[str, dict[str, Any]]


def model_path(model: str, method: str) -> str:
    return f"/{API_VERSION}/models/{quote(model, safe='')}:{method}"


def without_key(query: str) -> str:
    """The client's query string minus its `key` (which is ours, not the upstream's)."""
    pairs = parse_qsl(query, keep_blank_values=True)
    return urlencode([(k, v) for k, v in pairs if k != "key"])


class GeminiProvider(BaseProvider):
    def _auth(self, call: Call) -> list[tuple[str, str]]:
        if self.provider.pass_client_key:
            key = call.headers.get("x-goog-api-key") or call.headers.get("x-api-key")
            if not key:
                scheme, _, value = call.headers.get("authorization", "").partition(" ")
                key = value.strip() if scheme.lower() == "bearer" else ""
            if not key:  # Gemini clients may send it as `?key=`, which is not forwarded
                key = dict(parse_qsl(call.query)).get("key", "")
            return [("x-goog-api-key", key)] if key else []
        if self.provider.api_key:
            return [("x-goog-api-key", self.provider.api_key)]
        return []

    def _headers(self, call: Call) -> list[tuple[str, str]]:
        headers = [("content-type", "application/json"), ("accept-encoding", "identity")]
        headers.extend(self._auth(call))
        headers.extend(self.provider.headers.items())
        return headers

    # --- Gemini clients: passthrough --------------------------------------------------------

    async def gemini(self, call: Call, method: str) -> Any:
        """The client's generateContent / streamGenerateContent / countTokens, as it is."""
        query = without_key(call.query)
        path = model_path(call.upstream_model, method) + (f"?{query}" if query else "")
        headers = forwarded_request_headers(call.headers)
        headers.append(("accept-encoding", "identity"))
        headers.extend(self._auth(call))
        headers.extend(self.provider.headers.items())
        try:
            upstream = await self.upstream.open(path, call.raw, headers)
        except UpstreamFailure as failure:
            return failure_response(Format.GEMINI, failure)
        if upstream.status_code >= 400:
            # Google's own error shape (a JSON object, or a list of one) goes back as it is.
            return await passthrough_error(
                upstream, Format.GEMINI, lambda parsed: isinstance(parsed, dict | list)
            )
        if method != "streamGenerateContent" or not _is_sse(upstream):
            # A JSON-array stream is whole too; it may carry an error object in a 200.
            streamed = method == "streamGenerateContent"
            check = _unusable_gemini_stream if streamed else _unusable_gemini_answer
            return await passthrough_whole(
                call, upstream, Format.GEMINI, self.provider, check=check
            )
        return StreamOut(
            upstream.status_code,
            response_headers(upstream, [call.route_header()]),
            self._relay(upstream),
            on_close=upstream.aclose,
        )

    async def _relay(self, upstream: UpstreamResponse) -> AsyncIterator[bytes]:
        # No keepalive frames: Google's SDKs read only `data:` lines and would stall on a
        # comment. A failure mid-stream ends it with an error object, which they raise.
        at_boundary = True
        try:
            async for chunk in upstream.aiter_raw():
                at_boundary = chunk.endswith(b"\n\n") or chunk.endswith(b"\r\n\r\n")
                yield chunk
        except Exception as exc:
            _, body = gemini_error(502, stream_failure_message(exc, self.provider))
            yield (b"" if at_boundary else b"\n\n") + b"data: " + orjson.dumps(body) + b"\n\n"

    # --- Anthropic clients (the hub) --------------------------------------------------------

    async def _open_generate(
        self, call: Call, body: dict[str, Any], fmt: Format
    ) -> UpstreamResponse | Response:
        method = "streamGenerateContent?alt=sse" if call.stream else "generateContent"
        try:
            upstream = await self.upstream.open(
                model_path(call.upstream_model, method), orjson.dumps(body), self._headers(call)
            )
        except UpstreamFailure as failure:
            return failure_response(fmt, failure)
        if upstream.status_code >= 400:
            return translated_error(fmt, upstream, await read_error_body(upstream))
        return upstream

    async def _answer(
        self, call: Call, body: dict[str, Any], names: ToolNames, fmt: Format
    ) -> UpstreamResponse | Response | dict[str, Any]:
        """The upstream's answer: an open SSE response to translate as it streams, a whole
        hub message, or an error response already in the client's format."""
        upstream = await self._open_generate(call, body, fmt)
        if isinstance(upstream, Response) or (call.stream and _is_sse(upstream)):
            return upstream
        try:
            result = await read_json(upstream)
            if isinstance(result, list):  # a JSON-array stream where one body was expected
                result = result[-1] if result else {}
            if not isinstance(result, dict):
                raise UpstreamResponseError("the provider answered with something not an object")
            return gemini_response_to_anthropic(result, model=call.client_model, tool_names=names)
        except Exception as exc:
            return _failure(fmt, exc)

    async def messages(self, call: Call) -> Any:
        try:
            body, names = anthropic_request_to_gemini(
                call.body, max_tokens_limit=self.provider.max_tokens
            )
        except Exception as exc:  # the body's shape is not what the API allows
            return error_response(Format.ANTHROPIC, 400, unusable_request(exc))
        upstream = await self._answer(call, body, names, Format.ANTHROPIC)
        if isinstance(upstream, Response):
            return upstream
        if isinstance(upstream, dict):
            if call.stream:  # asked to stream, got one JSON body: replay it as a stream
                return _replayed(call, upstream)
            return _json(call, upstream)
        parser = SSEParser()
        translator = GeminiStreamTranslator(call.client_model, names)

        def frames(events: list[Event]) -> list[bytes]:
            return [encode_sse(event, data) for event, data in events]

        def on_items(items: list[SSEMessage]) -> list[bytes]:
            return [f for m in items for f in frames(translator.feed_data(m.data))]

        return translated_stream(
            call,
            upstream,
            self.provider,
            on_bytes=lambda data: on_items(parser.feed(data)),
            on_silence=lambda: frames([translator.ping()]),
            on_end=lambda: on_items(parser.close()) + frames(translator.finish()),
            on_failure=lambda message: frames(translator.fail("api_error", message)),
        )

    async def count_tokens(self, call: Call) -> Any:
        try:
            body, _ = anthropic_request_to_gemini({**call.body, "max_tokens": None})
        except Exception as exc:
            return error_response(Format.ANTHROPIC, 400, unusable_request(exc))
        body.pop("generationConfig", None)
        request = {"generateContentRequest": {"model": f"models/{call.upstream_model}", **body}}
        try:
            upstream = await self.upstream.open(
                model_path(call.upstream_model, "countTokens"),
                orjson.dumps(request),
                self._headers(call),
            )
        except UpstreamFailure as failure:
            return failure_response(Format.ANTHROPIC, failure)
        if upstream.status_code >= 400:
            return translated_error(Format.ANTHROPIC, upstream, await read_error_body(upstream))
        try:
            result = await read_json(upstream)
        except UpstreamFailure as failure:
            return failure_response(Format.ANTHROPIC, failure)
        total = result.get("totalTokens") if isinstance(result, dict) else None
        response = json_bytes_response(200, orjson.dumps({"input_tokens": int(total or 0)}))
        response.raw_headers.append(call.route_header())
        return response

    # --- OpenAI clients: chat → hub → Gemini, and back ---------------------------------------

    async def chat_completions(self, call: Call) -> Any:
        try:
            hub = request_to_anthropic(
                call.body, model=call.upstream_model, max_tokens_limit=self.provider.max_tokens
            )
            body, names = anthropic_request_to_gemini(hub)
        except Exception as exc:
            return error_response(Format.OPENAI, 400, unusable_request(exc))
        upstream = await self._answer(call, body, names, Format.OPENAI)
        if isinstance(upstream, Response):
            return upstream
        if isinstance(upstream, dict):
            if call.stream:
                return _openai_replay(call, message_events(upstream))
            return _json(call, response_from_anthropic(upstream, model=call.client_model))
        parser = SSEParser()
        gemini = GeminiStreamTranslator(call.client_model, names)
        openai = _openai_translator(call)

        def chunks(events: list[Event]) -> list[bytes]:
            return [
                b"data: " + orjson.dumps(c) + b"\n\n" for e, d in events for c in openai.feed(e, d)
            ]

        def on_items(items: list[SSEMessage]) -> list[bytes]:
            return [c for m in items for c in chunks(gemini.feed_data(m.data))]

        def on_end() -> list[bytes]:
            out = on_items(parser.close()) + chunks(gemini.finish())
            out += [b"data: " + orjson.dumps(c) + b"\n\n" for c in openai.finish()]
            return [*out, OPENAI_DONE]

        return translated_stream(
            call,
            upstream,
            self.provider,
            on_bytes=lambda data: on_items(parser.feed(data)),
            on_silence=lambda: [OPENAI_PING],
            on_end=on_end,
            on_failure=lambda message: chunks(gemini.fail("api_error", message)),
        )


def _unusable_gemini_answer(body: bytes, *, is_sse: bool) -> str | None:
    return unusable_answer(body, is_sse=is_sse, is_error=lambda data: bool(data.get("error")))


def _unusable_gemini_stream(body: bytes, *, is_sse: bool) -> str | None:
    """A JSON-array stream is an answer unless one of its chunks is an error object."""
    try:
        chunks = orjson.loads(body)
    except orjson.JSONDecodeError:
        chunks = None
    if isinstance(chunks, list):
        errors = [c for c in chunks if not isinstance(c, dict) or c.get("error")]
        return upstream_error_message(errors) if errors else None
    return _unusable_gemini_answer(body, is_sse=is_sse)


def _is_sse(upstream: UpstreamResponse) -> bool:
    return "text/event-stream" in upstream.headers.get("content-type", "")


def _openai_translator(call: Call) -> AnthropicStreamTranslator:
    options = call.body.get("stream_options")
    return AnthropicStreamTranslator(
        call.client_model,
        include_usage=isinstance(options, dict) and options.get("include_usage") is True,
    )


def _json(call: Call, body: dict[str, Any]) -> Response:
    response = json_bytes_response(200, orjson.dumps(body))
    response.raw_headers.append(call.route_header())
    return response


def _replayed(call: Call, message: dict[str, Any]) -> StreamOut:
    async def frames() -> AsyncIterator[bytes]:
        yield b"".join(encode_sse(event, data) for event, data in message_events(message))

    return StreamOut(200, [*SSE_HEADERS, call.route_header()], frames())


def _openai_replay(call: Call, events: list[Event]) -> StreamOut:
    translator = _openai_translator(call)

    async def frames() -> AsyncIterator[bytes]:
        chunks = [c for event, data in events for c in translator.feed(event, data)]
        chunks += translator.finish()
        yield b"".join(b"data: " + orjson.dumps(c) + b"\n\n" for c in chunks) + OPENAI_DONE

    return StreamOut(200, [*SSE_HEADERS, call.route_header()], frames())
