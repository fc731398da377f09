"""What every provider shares: the call being served, header hygiene, error and stream
plumbing. A provider answers the three client-facing operations (Anthropic messages,
OpenAI chat completions, count_tokens) for its own upstream wire format."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
from starlette.datastructures import Headers
from starlette.responses import Response

from tether.gateway.config import Provider
from tether.gateway.http1 import UpstreamResponse
from tether.gateway.inbound import Format, error_response, json_bytes_response
from tether.gateway.routing import Resolved
from tether.gateway.streaming import SILENCE, StreamOut, paced
from tether.gateway.translate.errors import UpstreamResponseError, upstream_error_message
from tether.gateway.upstream import Upstream, UpstreamFailure

# Most error bodies are small; a proxy's HTML page can be large and says nothing useful.
MAX_ERROR_BODY = 64 * 1024

# Client headers never forwarded: hop-by-hop, our own framing, and credentials (those are
# set per provider). Everything else (anthropic-version, anthropic-beta, user-agent, ...)
# passes through so an Anthropic upstream sees what the client sent.
_DROP_REQUEST_HEADERS = frozenset(
    {
        "host",
        "content-length",
        "connection",
        "keep-alive",
        "transfer-encoding",
        "te",
        "trailer",
        "upgrade",
        "proxy-authorization",
        "proxy-connection",
        "x-api-key",
        "x-goog-api-key",
        "authorization",
        "cookie",
        "accept-encoding",
        "expect",
        "forwarded",
        "x-forwarded-for",
        "x-forwarded-host",
        "x-forwarded-proto",
        "x-real-ip",
        # tether's own: which relay session a call belongs to (flows), not the upstream's.
        "x-tether-session",
    }
)
# Upstream response headers not handed back: framing is ours, cookies are the upstream's.
_DROP_RESPONSE_HEADERS = frozenset(
    {
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "content-encoding",
        "server",
        "date",
        "set-cookie",
        "alt-svc",
        "via",
        "strict-transport-security",
    }
)


@dataclass
class Call:
    """One client request, parsed once, with where routing sent it."""

    fmt: Format
    raw: bytes
    body: dict[str, Any]
    client_model: str
    route: Resolved
    headers: Headers
    ping_interval: float
    query: str = ""
    # Whether the client asked for a stream, when its body does not say (Gemini says it
    # in the URL's method); None reads the body's `stream`.
    streaming: bool | None = None

    @property
    def stream(self) -> bool:
        if self.streaming is not None:
            return self.streaming
        return self.body.get("stream") is True

    @property
    def upstream_model(self) -> str:
        return self.route.model

    def route_header(self) -> tuple[bytes, bytes]:
        return (
            b"tether-route",
            f"{self.route.provider.name}/{self.route.model}".encode("latin-1", "replace"),
        )


def forwarded_request_headers(headers: Headers) -> list[tuple[str, str]]:
    return [(k, v) for k, v in headers.items() if k not in _DROP_REQUEST_HEADERS]


def client_auth_headers(headers: Headers) -> list[tuple[str, str]]:
    return [(k, headers[k]) for k in ("x-api-key", "authorization") if k in headers]


def response_headers(
    upstream: UpstreamResponse,
    extra: Iterable[tuple[bytes, bytes]] = (),
    *,
    keep_content_type: bool = True,
) -> list[tuple[bytes, bytes]]:
    out = [
        (k, v)
        for k, v in upstream.headers.raw
        if k.lower().decode("latin-1") not in _DROP_RESPONSE_HEADERS
        and (keep_content_type or k.lower() != b"content-type")
    ]
    out.extend(extra)
    return out


def retry_after(upstream: UpstreamResponse) -> dict[str, str]:
    value = upstream.headers.get("retry-after")
    return {"retry-after": value} if value else {}


async def read_error_body(upstream: UpstreamResponse) -> bytes:
    """The upstream's error body, bounded; the connection is closed afterwards."""
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in upstream.aiter_bytes():
            chunks.append(chunk)
            size += len(chunk)
            if size >= MAX_ERROR_BODY:
                break
    except httpx.HTTPError:
        pass
    finally:
        await upstream.aclose()
    return b"".join(chunks)[:MAX_ERROR_BODY]


async def read_json(upstream: UpstreamResponse) -> Any:
    """A whole success body as JSON; raises UpstreamFailure when it cannot be had."""
    try:
        raw = await upstream.aread()
    except httpx.TimeoutException:
        raise UpstreamFailure(504, "the provider stopped sending its response") from None
    except httpx.HTTPError as exc:
        raise UpstreamFailure(
            502, f"the provider's response broke off: {type(exc).__name__}"
        ) from None
    finally:
        await upstream.aclose()
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise UpstreamFailure(
            502,
            "the provider answered with a body that is not JSON: "
            f"{upstream_error_message(raw)[:200]}",
        ) from None


def translated_error(fmt: Format, upstream: UpstreamResponse, raw: bytes) -> Response:
    """An upstream error in the other wire format, re-expressed in the client's."""
    return error_response(
        fmt, upstream.status_code, upstream_error_message(raw), headers=retry_after(upstream)
    )


async def passthrough_error(
    upstream: UpstreamResponse, fmt: Format, own_shape: Callable[[Any], bool]
) -> Response:
    """An upstream error in the client's own format goes back as it is (status, body,
    headers); anything else (a proxy's HTML page) is re-expressed in that format."""
    raw = await read_error_body(upstream)
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError:
        parsed = None
    if own_shape(parsed):
        response = json_bytes_response(upstream.status_code, raw)
        response.raw_headers[:] = response_headers(
            upstream, [(b"content-length", str(len(raw)).encode())]
        )
        return response
    return translated_error(fmt, upstream, raw)


async def passthrough_whole(
    call: Call,
    upstream: UpstreamResponse,
    fmt: Format,
    provider: Provider,
    check: Callable[..., str | None] | None = None,
) -> Response:
    """A whole upstream body, relayed unchanged with the upstream's status and headers.
    `check(raw, is_sse=...)` may name why the body is no answer, which makes it a 502."""
    is_sse = "text/event-stream" in upstream.headers.get("content-type", "")
    try:
        raw = await upstream.aread()
    except httpx.HTTPError as exc:
        return error_response(fmt, 502, stream_failure_message(exc, provider))
    finally:
        await upstream.aclose()
    if check is not None and (problem := check(raw, is_sse=is_sse)) is not None:
        return error_response(fmt, 502, problem)
    response = Response(raw, status_code=upstream.status_code)
    response.raw_headers[:] = response_headers(
        upstream, [call.route_header(), (b"content-length", str(len(raw)).encode())]
    )
    return response


def _anthropic_error_body(body: dict[str, Any]) -> bool:
    return body.get("type") == "error" or ("error" in body and "content" not in body)


def unusable_answer(
    body: bytes | Any,
    *,
    is_sse: bool,
    is_error: Callable[[dict[str, Any]], bool] = _anthropic_error_body,
) -> str | None:
    """Why a 200 answer cannot be handed to a client that asked for JSON, or None: a stream,
    a body that is not a JSON object, or a body that is an error (some proxies say 200).
    `is_error` tells an error body in the upstream's wire format."""
    if is_sse:
        return "the provider sent a stream where a JSON body was expected"
    if isinstance(body, bytes):
        try:
            body = orjson.loads(body)
        except orjson.JSONDecodeError:
            text = upstream_error_message(body)[:200]
            return f"the provider answered with a body that is not JSON: {text}"
    if not isinstance(body, dict):
        return "the provider answered with JSON that is not an object"
    if is_error(body):
        return upstream_error_message(body)
    return None


def failure_response(fmt: Format, failure: UpstreamFailure) -> Response:
    return error_response(fmt, failure.status, failure.message)


def translation_failure(fmt: Format, exc: Exception) -> Response:
    """A 502 (or the failure's own status) for an answer that could not be had or read."""
    if isinstance(exc, UpstreamFailure):
        return failure_response(fmt, exc)
    if isinstance(exc, UpstreamResponseError):
        return error_response(fmt, 502, str(exc))
    return error_response(
        fmt, 502, f"the provider's response could not be translated: {type(exc).__name__}: {exc}"
    )


def json_response(body: Any, extra: Iterable[tuple[bytes, bytes]] = ()) -> Response:
    response = json_bytes_response(200, orjson.dumps(body))
    response.raw_headers.extend(extra)
    return response


def unusable_request(exc: Exception) -> str:
    """A 400 message for a body the translator could not read (a list where an object
    belongs, and the like). ValueErrors from the translator already say what is wrong."""
    if isinstance(exc, ValueError):
        return str(exc)
    if isinstance(exc, TypeError) and "Recursion limit" in str(exc):  # orjson's depth limit
        return f"request body is nested too deeply to forward ({exc}); flatten it"
    return f"request body has a field of an unexpected shape ({type(exc).__name__}: {exc})"


class UpstreamSaidError(Exception):
    """The upstream reported an error inside a stream that had started well."""


def stream_failure_message(exc: BaseException, provider: Provider) -> str:
    if isinstance(exc, UpstreamSaidError):
        return str(exc)
    if isinstance(exc, httpx.TimeoutException):
        return f"provider {provider.name!r} went silent for over {provider.timeout:g}s mid-response"
    if isinstance(exc, httpx.HTTPError):
        return f"the response from provider {provider.name!r} broke off: {type(exc).__name__}"
    return f"the response from provider {provider.name!r} could not be translated: {exc}"


def passthrough_stream(
    call: Call,
    upstream: UpstreamResponse,
    provider: Provider,
    ping: bytes | None,
    error_frame: Callable[[str], bytes],
) -> StreamOut:
    """Relay an upstream's SSE body in the client's own format: its bytes as they come,
    `ping` in long silences (only between events; None for clients that must get none),
    and `error_frame(message)` if the upstream breaks off."""

    async def relay() -> AsyncIterator[bytes]:
        at_boundary = True
        # What came with the head goes out now, not after a turn through the pacer's task.
        if first := upstream.buffered():
            at_boundary = first.endswith(b"\n\n") or first.endswith(b"\r\n\r\n")
            yield first
        source: AsyncIterator[Any] = upstream.aiter_raw()
        if ping is not None:
            source = paced(source, call.ping_interval)
        try:
            async for item in source:
                if item is SILENCE:
                    if at_boundary:
                        yield ping  # type: ignore[misc]
                    continue
                at_boundary = item.endswith(b"\n\n") or item.endswith(b"\r\n\r\n")
                yield item
        except Exception as exc:
            frame = error_frame(stream_failure_message(exc, provider))
            yield frame if at_boundary else b"\n\n" + frame

    return StreamOut(
        upstream.status_code,
        response_headers(upstream, [call.route_header()]),
        relay(),
        on_close=upstream.aclose,
    )


SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


def translated_stream(
    call: Call,
    upstream: UpstreamResponse,
    provider: Provider,
    on_bytes: Callable[[bytes], list[bytes]],
    on_silence: Callable[[], list[bytes]],
    on_end: Callable[[], list[bytes]],
    on_failure: Callable[[str], list[bytes]],
) -> StreamOut:
    """Stream an upstream SSE body through a translator. The callbacks turn upstream bytes,
    a silence, the end, or a failure into client frames."""

    async def frames() -> AsyncIterator[bytes]:
        try:
            # What came with the head goes out now, not after a turn through the pacer.
            if first := upstream.buffered():
                out = on_bytes(first)
                if out:
                    yield out[0] if len(out) == 1 else b"".join(out)
            async for item in paced(upstream.aiter_raw(), call.ping_interval):
                out = on_silence() if item is SILENCE else on_bytes(item)  # type: ignore[arg-type]
                if out:
                    yield out[0] if len(out) == 1 else b"".join(out)
            tail = on_end()
        except Exception as exc:  # a broken upstream or an untranslatable chunk
            tail = on_failure(stream_failure_message(exc, provider))
        if tail:
            yield b"".join(tail)

    async def close() -> None:
        with contextlib.suppress(Exception):
            await upstream.aclose()

    return StreamOut(200, [*SSE_HEADERS, call.route_header()], frames(), on_close=close)


class BaseProvider:
    def __init__(self, provider: Provider) -> None:
        self.provider = provider
        self.upstream = Upstream(provider)

    async def aclose(self) -> None:
        await self.upstream.aclose()

    def clamp_max_tokens(self, body: dict[str, Any], key: str = "max_tokens") -> bool:
        """Lower the client's max_tokens to the provider's limit; True when it changed."""
        limit = self.provider.max_tokens
        value = body.get(key)
        if limit is not None and isinstance(value, int) and value > limit:
            body[key] = limit
            return True
        return False

    async def messages(self, call: Call) -> Any:
        raise NotImplementedError

    async def chat_completions(self, call: Call) -> Any:
        raise NotImplementedError

    async def count_tokens(self, call: Call) -> Any:
        raise NotImplementedError
