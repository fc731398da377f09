"""Serving a client through the hub format (Anthropic Messages), whatever the provider.

Two halves meet here:
- the provider side, a `HubExchange`: how one hub request goes to a provider's upstream
  (path, body, headers) and how its answer comes back as a hub message or hub stream
  events. One builder per provider type (`HUB_EXCHANGES`);
- the client side, a `ClientSide`: how the client's body becomes a hub request and how a
  hub message or hub stream events become the client's answer.

`serve_via_hub` joins them, so a new surface or provider is one side, not one path per
pair. Translation stays in `translate/`; this module only frames and moves bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
from starlette.responses import Response

from tether.gateway.inbound import Format, error_response, json_bytes_response

# The module, not its names: the providers use this module, and may be imported first.
from tether.gateway.providers import gemini as gemini_provider
from tether.gateway.providers.base import (
    SSE_HEADERS,
    BaseProvider,
    Call,
    read_error_body,
    read_json,
    translated_error,
    translated_stream,
    unusable_request,
)
from tether.gateway.streaming import StreamOut
from tether.gateway.translate.anthropic_request_to_gemini import anthropic_request_to_gemini
from tether.gateway.translate.anthropic_request_to_openai import request_to_openai
from tether.gateway.translate.anthropic_request_to_responses import anthropic_to_responses
from tether.gateway.translate.anthropic_response_to_openai import response_from_anthropic
from tether.gateway.translate.anthropic_stream_to_openai import AnthropicStreamTranslator
from tether.gateway.translate.errors import (
    UpstreamResponseError,
    anthropic_error,
    upstream_error_message,
)
from tether.gateway.translate.gemini_stream_to_anthropic import (
    GeminiStreamTranslator,
    gemini_response_to_anthropic,
)
from tether.gateway.translate.openai_request_to_anthropic import request_to_anthropic
from tether.gateway.translate.openai_response_to_anthropic import response_from_openai
from tether.gateway.translate.openai_stream_to_anthropic import OpenAIStreamTranslator
from tether.gateway.translate.responses_stream_to_anthropic import (
    ResponsesToAnthropicStream,
    responses_to_anthropic_message,
)
from tether.gateway.translate.sse import DONE, encode_data, encode_sse
from tether.gateway.upstream import UpstreamFailure
from tether.sse import SSEParser

Event = tuple[str, dict]


class HubDecoder(Protocol):
    def feed(self, data: bytes) -> list[Event]: ...
    def close(self) -> list[Event]: ...


@dataclass
class HubExchange:
    path: str
    content: bytes
    headers: list[tuple[str, str]]
    to_message: Callable[[Any], dict]
    decoder: Callable[[], HubDecoder]


class _SseDecoder:
    """Upstream SSE bytes → hub events, through a per-frame translation."""

    def __init__(self, on_frame: Callable[[str | None, str], list[Event]], on_end: Callable):
        self._parser = SSEParser()
        self._on_frame = on_frame
        self._on_end = on_end

    def feed(self, data: bytes) -> list[Event]:
        out: list[Event] = []
        for message in self._parser.feed(data):
            out.extend(self._on_frame(message.event, message.data))
        return out

    def close(self) -> list[Event]:
        out: list[Event] = []
        for message in self._parser.close():
            out.extend(self._on_frame(message.event, message.data))
        return out + self._on_end()


def _anthropic_exchange(provider: Any, call: Call, body: dict) -> HubExchange:
    def to_message(data: Any) -> dict:
        if not isinstance(data, dict) or data.get("type") != "message":
            raise UpstreamResponseError(upstream_error_message(data))
        return data

    def frame(event: str | None, text: str) -> list[Event]:
        data = orjson.loads(text)
        return [(event or data.get("type") or "", data)] if isinstance(data, dict) else []

    return HubExchange(
        "/v1/messages",
        orjson.dumps(body),
        provider._translated_headers(call),
        to_message,
        lambda: _SseDecoder(frame, list),
    )


def _openai_exchange(provider: Any, call: Call, body: dict) -> HubExchange:
    settings = provider.provider
    converted, names = request_to_openai(
        body,
        model=call.upstream_model,
        max_tokens_limit=settings.max_tokens,
        reasoning=settings.reasoning,
        echo_reasoning=settings.echo_reasoning,
        tool_id_style=settings.tool_id_style,
        mid_system=settings.mid_system,
        max_tokens_field=settings.max_tokens_field,
    )

    def to_message(data: Any) -> dict:
        if not isinstance(data, dict):
            raise UpstreamResponseError("the provider sent a body that is not a JSON object")
        if "error" in data and "choices" not in data:  # some servers say 200 to an error
            raise UpstreamResponseError(upstream_error_message(data))
        return response_from_openai(data, model=call.client_model, tool_names=names)

    def decoder() -> HubDecoder:
        translator = OpenAIStreamTranslator(call.client_model, names)
        return _SseDecoder(lambda _e, text: translator.feed_data(text), translator.finish)

    return HubExchange(
        "/chat/completions", orjson.dumps(converted), provider._headers(call), to_message, decoder
    )


def _responses_exchange(provider: Any, call: Call, body: dict) -> HubExchange:
    converted, names = anthropic_to_responses(body, model=call.upstream_model)

    def to_message(data: Any) -> dict:
        if not isinstance(data, dict):
            raise UpstreamResponseError("the provider sent a body that is not a JSON object")
        return responses_to_anthropic_message(data, model=call.client_model, tool_names=names)

    def decoder() -> HubDecoder:
        translator = ResponsesToAnthropicStream(call.client_model, names)

        def frame(_event: str | None, text: str) -> list[Event]:
            data = orjson.loads(text)
            return translator.feed(data) if isinstance(data, dict) else []

        return _SseDecoder(frame, translator.finish)

    return HubExchange(
        "/responses", orjson.dumps(converted), provider._headers(call), to_message, decoder
    )


def _gemini_exchange(provider: Any, call: Call, body: dict) -> HubExchange:
    converted, names = anthropic_request_to_gemini(
        body, max_tokens_limit=provider.provider.max_tokens
    )
    method = "streamGenerateContent?alt=sse" if call.stream else "generateContent"

    def to_message(data: Any) -> dict:
        if isinstance(data, list):  # a JSON-array stream where one body was expected
            data = data[-1] if data else {}
        if not isinstance(data, dict):
            raise UpstreamResponseError("the provider sent a body that is not a JSON object")
        return gemini_response_to_anthropic(data, model=call.client_model, tool_names=names)

    def decoder() -> HubDecoder:
        translator = GeminiStreamTranslator(call.client_model, names)
        return _SseDecoder(lambda _e, text: translator.feed_data(text), translator.finish)

    return HubExchange(
        gemini_provider.model_path(call.upstream_model, method),
        orjson.dumps(converted),
        provider._headers(call),
        to_message,
        decoder,
    )


HUB_EXCHANGES: dict[str, Callable[[Any, Call, dict], HubExchange]] = {
    "anthropic": _anthropic_exchange,
    "openai": _openai_exchange,
    "openai-responses": _responses_exchange,
    "gemini": _gemini_exchange,
}


class StreamSide(Protocol):
    """The client's stream: hub events in, the client's frames out."""

    def feed(self, event: str, data: dict) -> list[bytes]: ...
    def finish(self) -> list[bytes]: ...
    def fail(self, status: int, message: str) -> list[bytes]: ...
    def ping(self) -> list[bytes]: ...


@dataclass
class ClientSide:
    fmt: Format
    # The client's body → (hub request, state the answer needs); ValueError → 400.
    to_hub: Callable[[dict], tuple[dict, Any]]
    # (hub message, state) → the client's JSON body.
    from_message: Callable[[dict, Any], dict]
    # state → a fresh stream side.
    stream: Callable[[Any], StreamSide]
    # state → the stream's response headers (Gemini's JSON-array stream is not SSE).
    stream_headers: Callable[[Any], list[tuple[bytes, bytes]]] = lambda _state: SSE_HEADERS


def _failure(fmt: Format, exc: Exception) -> Response:
    if isinstance(exc, UpstreamFailure):
        return error_response(fmt, exc.status, exc.message)
    if isinstance(exc, UpstreamResponseError):
        return error_response(fmt, 502, str(exc))
    return error_response(
        fmt, 502, f"the provider's response could not be translated: {type(exc).__name__}: {exc}"
    )


def hub_message_events(message: dict) -> list[Event]:
    # Imported late: providers.openai imports this package's siblings.
    from tether.gateway.providers.openai import message_events

    return message_events(message)


async def serve_via_hub(provider: BaseProvider, call: Call, side: ClientSide) -> Any:
    fmt = side.fmt
    try:
        hub_body, state = side.to_hub(call.body)
        exchange = HUB_EXCHANGES[provider.provider.type](provider, call, hub_body)
    except Exception as exc:  # the body's shape is not what the API allows
        return error_response(fmt, 400, unusable_request(exc))
    try:
        upstream = await provider.upstream.open(exchange.path, exchange.content, exchange.headers)
    except UpstreamFailure as failure:
        return _failure(fmt, failure)
    if upstream.status_code >= 400:
        return translated_error(fmt, upstream, await read_error_body(upstream))
    is_sse = "text/event-stream" in upstream.headers.get("content-type", "")
    if not (call.stream and is_sse):
        try:
            if is_sse:
                await upstream.aclose()
                raise UpstreamResponseError(
                    "the provider sent a stream where a JSON body was expected"
                )
            message = exchange.to_message(await read_json(upstream))
        except Exception as exc:
            return _failure(fmt, exc)
        if call.stream:
            # Asked to stream, got one JSON body: replay it as a stream.
            stream = side.stream(state)
            frames = [
                f for event, data in hub_message_events(message) for f in stream.feed(event, data)
            ]
            frames += stream.finish()

            async def replay() -> Any:
                yield b"".join(frames)

            return StreamOut(200, [*side.stream_headers(state), call.route_header()], replay())
        response = json_bytes_response(200, orjson.dumps(side.from_message(message, state)))
        response.raw_headers.append(call.route_header())
        return response

    decoder = exchange.decoder()
    stream = side.stream(state)

    def frames(events: list[Event]) -> list[bytes]:
        return [f for event, data in events for f in stream.feed(event, data)]

    out = translated_stream(
        call,
        upstream,
        provider.provider,
        on_bytes=lambda data: frames(decoder.feed(data)),
        on_silence=stream.ping,
        on_end=lambda: frames(decoder.close()) + stream.finish(),
        on_failure=lambda message: stream.fail(502, message),
    )
    out.headers = [*side.stream_headers(state), call.route_header()]
    return out


# --- the client sides of the two formats every provider serves ----------------------------

ANTHROPIC_PING = b'event: ping\ndata: {"type": "ping"}\n\n'


class _MessagesStream:
    """Hub events are already what an Anthropic client reads: framed as they are."""

    def __init__(self, _state: Any) -> None:
        self._done = False

    def feed(self, event: str, data: dict) -> list[bytes]:
        if self._done:
            return []
        if event in ("message_stop", "error"):
            self._done = True
        return [encode_sse(event, data)]

    def finish(self) -> list[bytes]:
        return []

    def fail(self, status: int, message: str) -> list[bytes]:
        if self._done:
            return []
        self._done = True
        return [encode_sse("error", anthropic_error(status, message)[1])]

    def ping(self) -> list[bytes]:
        return [ANTHROPIC_PING]


class _ChatStream:
    def __init__(self, call: Call) -> None:
        options = call.body.get("stream_options")
        self._translator = AnthropicStreamTranslator(
            call.client_model,
            include_usage=isinstance(options, dict) and options.get("include_usage") is True,
        )
        self._ended = False

    def _frames(self, chunks: list[dict]) -> list[bytes]:
        return [encode_data(chunk) for chunk in chunks]

    def feed(self, event: str, data: dict) -> list[bytes]:
        return self._frames(self._translator.feed(event, data))

    def finish(self) -> list[bytes]:
        if self._ended:
            return []
        self._ended = True
        return [*self._frames(self._translator.finish()), DONE]

    def fail(self, status: int, message: str) -> list[bytes]:
        self._ended = True
        error = {"error": {"message": message, "type": "server_error"}}
        return [b"data: " + orjson.dumps(error) + b"\n\n"]

    def ping(self) -> list[bytes]:
        return [b": ping\n\n"]


def messages_side(provider: BaseProvider) -> ClientSide:
    """An Anthropic Messages client: its body is already a hub request."""

    def to_hub(body: dict) -> tuple[dict, None]:
        provider.clamp_max_tokens(body)
        return body, None

    return ClientSide(
        fmt=Format.ANTHROPIC,
        to_hub=to_hub,
        from_message=lambda message, _state: message,
        stream=_MessagesStream,
    )


def chat_side(provider: BaseProvider, call: Call) -> ClientSide:
    """An OpenAI Chat Completions client."""
    return ClientSide(
        fmt=Format.OPENAI,
        to_hub=lambda body: (
            request_to_anthropic(
                body, model=call.upstream_model, max_tokens_limit=provider.provider.max_tokens
            ),
            None,
        ),
        from_message=lambda message, _state: response_from_anthropic(
            message, model=call.client_model
        ),
        stream=lambda _state: _ChatStream(call),
    )
