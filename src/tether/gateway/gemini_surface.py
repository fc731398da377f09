"""The Gemini API surface: what Gemini CLI and Google's SDKs call.

    POST /v1beta/models/{model}:generateContent
    POST /v1beta/models/{model}:streamGenerateContent   (?alt=sse, or a JSON array)
    POST /v1beta/models/{model}:countTokens
    GET  /v1beta/models, GET /v1beta/models/{model}     (and the same under /v1/)

A request is routed by its model like any other. To a `gemini` provider it passes
through; to any other it goes through the hub (`hub.serve_via_hub`, as the Responses
surface does): translated into an Anthropic Messages request, sent by that provider
type's exchange, and its answer (JSON or stream events) translated back. countTokens
asks the provider's own `count_tokens`. The key comes as `x-goog-api-key`, `?key=` or
the usual headers.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import orjson
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from tether.gateway.flows.flow import CURRENT as CURRENT_FLOW
from tether.gateway.hub import ClientSide, serve_via_hub
from tether.gateway.inbound import (
    ClientError,
    Format,
    check_key,
    client_key,
    error_response,
    json_bytes_response,
    parse_json_object,
    read_body,
    require_model,
)
from tether.gateway.providers import BaseProvider, Call, GeminiProvider
from tether.gateway.routing import Features, NoRoute, resolve
from tether.gateway.token_estimate import estimate_tokens
from tether.gateway.translate.anthropic_stream_to_gemini import (
    GeminiStreamWriter,
    anthropic_response_to_gemini,
)
from tether.gateway.translate.errors import upstream_error_message
from tether.gateway.translate.gemini_request_to_anthropic import (
    count_request_to_anthropic,
    gemini_request_to_anthropic,
)
from tether.gateway.translate.gemini_wire import get
from tether.gateway.translate.sse import encode_data

if TYPE_CHECKING:
    from tether.gateway.app import Gateway

log = logging.getLogger("tether.gateway")

METHODS = ("generateContent", "streamGenerateContent", "countTokens")
_ANTHROPIC_STATUS = {"rate_limit_error": 429, "overloaded_error": 529, "timeout_error": 504}
# Client headers the hub call keeps (the rest are Google's, meaningless to other upstreams).
_KEPT_HEADERS = ("user-agent",)


def query_key(request: Request) -> str | None:
    for name, value in parse_qsl(request.scope.get("query_string", b"").decode("latin-1")):
        if name == "key" and value:
            return value
    return None


def gemini_features(model: str, body: dict[str, Any], hub_tokens: Any) -> Features:
    """What routing looks at: thinking counts as asked for exactly when the hub request
    will carry it (a non-zero budget, a level, or thoughts asked to be included)."""
    thinking = get(get(body, "generationConfig"), "thinkingConfig")
    budget = get(thinking, "thinkingBudget")
    if isinstance(budget, int) and not isinstance(budget, bool):
        enabled = budget != 0
    else:
        enabled = bool(get(thinking, "thinkingLevel")) or get(thinking, "includeThoughts") is True
    tools = get(body, "tools")
    search = isinstance(tools, list) and any(
        isinstance(t, dict) and (get(t, "googleSearch") is not None or "google_search" in t)
        for t in tools
    )
    return Features(model=model, thinking=enabled, web_search=search, tokens=hub_tokens)


class GeminiSurface:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    def hot_prefixes(self) -> list[tuple[str, str, Callable[[Request], Awaitable[Any]]]]:
        """The generate/count calls: (path prefix, path parameter, endpoint), for
        `hot_routes.HotRoutes` and for the routes below."""
        call = self.gateway.recorder.endpoint(self.call, "gemini")
        return [(f"/{version}/models/", "target", call) for version in ("v1beta", "v1")]

    def routes(self) -> list[BaseRoute]:
        routes: list[BaseRoute] = [
            Route(f"{prefix}{{{param}:path}}", call, methods=["POST"])
            for prefix, param, call in self.hot_prefixes()
        ]
        # GET /v1/models[/{id}] are OpenAI's and Anthropic's too; app.py hands the list to
        # Gemini clients (those sending a Google key) and leaves /v1/models/{id} to them.
        routes.append(Route("/v1beta/models/{target:path}", self.model, methods=["GET"]))
        routes.append(Route("/v1beta/models", self.models, methods=["GET"]))
        return routes

    def _check(self, request: Request) -> None:
        key = query_key(request)
        try:
            check_key(request, self.gateway.config.keys, key)
        except ClientError as exc:
            if client_key(request) is None and key is None:  # say it in Gemini's words
                raise ClientError(
                    401, "this gateway needs a key: send it as x-goog-api-key (GEMINI_API_KEY)"
                ) from None
            raise exc

    # --- listing ---------------------------------------------------------------------------

    def model_entries(self) -> list[dict[str, Any]]:
        from tether.gateway.app import model_names

        return [
            {
                "name": f"models/{name}",
                "baseModelId": name,
                "version": "tether",
                "displayName": name,
                "description": f"served by provider {owner}",
                "supportedGenerationMethods": list(METHODS),
            }
            for name, owner in model_names(self.gateway.config)
        ]

    async def models(self, request: Request) -> Response:
        try:
            self._check(request)
        except ClientError as exc:
            return error_response(Format.GEMINI, exc.status, exc.message)
        return json_bytes_response(200, orjson.dumps({"models": self.model_entries()}))

    async def model(self, request: Request) -> Response:
        try:
            self._check(request)
        except ClientError as exc:
            return error_response(Format.GEMINI, exc.status, exc.message)
        name = request.path_params["target"].removeprefix("models/")
        entry = next((m for m in self.model_entries() if m["baseModelId"] == name), None)
        if entry is None:
            return error_response(Format.GEMINI, 404, f"model {name!r} is not listed here")
        return json_bytes_response(200, orjson.dumps(entry))

    # --- calls -----------------------------------------------------------------------------

    async def call(self, request: Request) -> Any:
        config = self.gateway.config
        target = request.path_params["target"]
        model, sep, method = target.rpartition(":")
        try:
            self._check(request)
            if not sep or not model or method not in METHODS:
                raise ClientError(
                    404,
                    f"unknown method {target!r}: use models/MODEL:generateContent, "
                    ":streamGenerateContent or :countTokens",
                )
            # The name goes into a header of the answer: a NUL there drops the connection.
            require_model({"model": model})
            raw = received = await read_body(request, config.max_body_bytes)
            body = parse_json_object(raw)
            hooked = None
            if self.gateway.hooks:
                hooked = await self.gateway.hooks.request(request, body, model, "gemini")
                raw, model = hooked.body_bytes(raw), hooked.request.model
                require_model({"model": model})

            def tokens() -> int:
                return estimate_tokens(gemini_request_to_anthropic(body, model=model))

            # As in app.py: features are read only by scenario rules.
            features = gemini_features(model, body, tokens) if config.scenarios else None
            route = resolve(config, features or Features(model=model))
        except ClientError as exc:
            return error_response(Format.GEMINI, exc.status, exc.message, headers=exc.headers)
        except NoRoute as exc:
            return error_response(Format.GEMINI, 404, str(exc))
        except ValueError as exc:  # the token estimate translated a bad body
            return error_response(Format.GEMINI, 400, str(exc))
        provider = self.gateway.providers[route.provider.name]
        query = request.scope["query_string"].decode("latin-1")
        stream = method == "streamGenerateContent"
        if (flow := CURRENT_FLOW.get()) is not None:
            mode = self.gateway.recorder.mode(route.provider.name, model)
            flow.routed(received, model, route, stream, mode)
        try:
            if isinstance(provider, GeminiProvider):
                call = Call(
                    fmt=Format.GEMINI,
                    raw=raw,
                    body=body,
                    client_model=model,
                    route=route,
                    headers=request.headers,
                    ping_interval=config.ping_interval,
                    query=query,
                )
                result = await provider.gemini(call, method)
            else:
                result = await self._through_hub(
                    request, provider, route, model, body, method, stream
                )
            return result if hooked is None else await self.gateway.hooks.response(hooked, result)
        except Exception:
            log.exception("gateway failed on a Gemini %s for model %s", method, model)
            return error_response(Format.GEMINI, 500, "the gateway failed to handle this request")

    async def _through_hub(
        self,
        request: Request,
        provider: BaseProvider,
        route: Any,
        model: str,
        body: dict[str, Any],
        method: str,
        stream: bool,
    ) -> Any:
        call = Call(
            fmt=Format.GEMINI,
            raw=b"",
            body=body,
            client_model=model,
            route=route,
            headers=_hub_headers(request),
            ping_interval=self.gateway.config.ping_interval,
            streaming=stream,
        )
        if method == "countTokens":
            try:
                hub = count_request_to_anthropic(body, model=route.model)
            except (ValueError, TypeError, AttributeError) as exc:
                return error_response(Format.GEMINI, 400, str(exc))
            call.fmt, call.body, call.raw = Format.ANTHROPIC, hub, orjson.dumps(hub)
            return _count_back(await provider.count_tokens(call))
        alt_sse = ("alt", "sse") in parse_qsl(request.scope["query_string"].decode("latin-1"))
        return await serve_via_hub(provider, call, gemini_side(call, alt_sse))


def gemini_side(call: Call, alt_sse: bool) -> ClientSide:
    """The Gemini client's side of the hub: its request as a Messages request, and the
    hub's answer as a GenerateContentResponse, or a stream of them (`data:` frames with
    `alt=sse`, else one JSON array)."""
    model, limit = call.client_model, call.route.provider.max_tokens
    thinking = get(get(call.body, "generationConfig"), "thinkingConfig")
    include = get(thinking, "includeThoughts") is True

    def to_hub(body: dict[str, Any]) -> tuple[dict[str, Any], None]:
        hub = gemini_request_to_anthropic(
            body, model=call.upstream_model, stream=call.stream, max_tokens_limit=limit
        )
        return hub, None

    media = b"text/event-stream" if alt_sse else b"application/json"
    return ClientSide(
        fmt=Format.GEMINI,
        to_hub=to_hub,
        from_message=lambda message, _state: anthropic_response_to_gemini(
            message, model=model, include_thoughts=include
        ),
        stream=lambda _state: _GeminiStream(model, include, alt_sse),
        stream_headers=lambda _state: [(b"content-type", media), (b"cache-control", b"no-cache")],
    )


class _GeminiStream:
    """Hub stream events as Gemini's stream chunks, framed."""

    def __init__(self, model: str, include: bool, alt_sse: bool) -> None:
        self._writer = GeminiStreamWriter(model, include_thoughts=include)
        self._alt_sse = alt_sse
        self._first = True
        self._closed = False

    def _frames(self, chunks: list[dict[str, Any]]) -> list[bytes]:
        out = []
        for chunk in chunks:
            out.append(_frame(chunk, self._alt_sse, self._first))
            self._first = False
        return out

    def _close(self, chunks: list[dict[str, Any]]) -> list[bytes]:
        if self._closed:
            return []
        self._closed = True
        out = self._frames(chunks)
        if not self._alt_sse:  # the JSON array's end
            out.append(b"[]" if self._first else b"]")
        return out

    def feed(self, event: str, data: dict) -> list[bytes]:
        return [] if self._closed else self._frames(self._writer.feed(event, data))

    def finish(self) -> list[bytes]:
        return self._close(self._writer.finish())

    def fail(self, status: int, message: str) -> list[bytes]:
        return self._close(self._writer.fail(status, message))

    def ping(self) -> list[bytes]:
        # Nothing: Google's SDKs read only `data:` lines and would stall on a comment.
        return []


def _hub_headers(request: Request) -> Headers:
    """What the hub call carries of the client's headers: its user agent, and its key as
    `x-api-key` for a provider set to pass the client's key on."""
    headers = {k: request.headers[k] for k in _KEPT_HEADERS if k in request.headers}
    key = request.headers.get("x-goog-api-key") or query_key(request)
    if key:
        headers["x-api-key"] = key
    elif "x-api-key" in request.headers or "authorization" in request.headers:
        for name in ("x-api-key", "authorization"):
            if name in request.headers:
                headers[name] = request.headers[name]
    headers["content-type"] = "application/json"
    return Headers(headers=headers)


def _error_back(response: Response) -> Response:
    """An Anthropic-shaped error response re-expressed as Google's."""
    body = bytes(response.body)
    status = response.status_code
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        parsed = None
    kind = parsed.get("error", {}).get("type") if isinstance(parsed, dict) else None
    if isinstance(kind, str) and kind in _ANTHROPIC_STATUS and status >= 500:
        status = _ANTHROPIC_STATUS[kind]
    headers = {k.decode(): v.decode() for k, v in response.raw_headers if k == b"retry-after"}
    return error_response(Format.GEMINI, status, upstream_error_message(body), headers=headers)


def _count_back(response: Any) -> Response:
    if not isinstance(response, Response) or response.status_code >= 400:
        return _error_back(response)
    try:
        count = orjson.loads(bytes(response.body)).get("input_tokens") or 0
    except (orjson.JSONDecodeError, AttributeError):
        return error_response(Format.GEMINI, 502, "the provider's token count was not JSON")
    out = json_bytes_response(200, orjson.dumps({"totalTokens": count}))
    out.raw_headers.extend(
        [(k, v) for k, v in response.raw_headers if k in (b"tether-route", b"tether-count")]
    )
    return out


def _frame(chunk: dict[str, Any], alt_sse: bool, first: bool) -> bytes:
    if alt_sse:
        return encode_data(chunk)
    return (b"[" if first else b",\r\n") + orjson.dumps(chunk)
