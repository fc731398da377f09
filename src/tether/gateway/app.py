"""The gateway's HTTP endpoints: Anthropic Messages and OpenAI Chat Completions in, routed
to providers. Each handler parses the body once, resolves the route, and hands a `Call`
to the provider, which streams the answer back."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from tether.config import ConfigError, Settings
from tether.gateway.config import GatewayConfig, parse_gateway_config
from tether.gateway.flows.flow import CURRENT as CURRENT_FLOW
from tether.gateway.flows.recorder import Recorder
from tether.gateway.gemini_surface import GeminiSurface, query_key
from tether.gateway.hooks import Pipeline, build_pipeline
from tether.gateway.inbound import (
    ClientError,
    Format,
    check_key,
    check_origin,
    error_response,
    json_bytes_response,
    parse_json_object,
    read_body,
    require_model,
)
from tether.gateway.providers import BaseProvider, Call, make_provider
from tether.gateway.responses import serve_responses
from tether.gateway.routing import (
    Features,
    NoRoute,
    anthropic_features,
    openai_features,
    resolve,
    responses_features,
)
from tether.gateway.streaming import CLIENT_LEFT, unless_client_leaves
from tether.gateway.token_estimate import estimate_tokens

_GLOB_CHARS = frozenset("*?[")
_ANY_METHOD = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
log = logging.getLogger("tether.gateway")


@dataclass
class Gateway:
    config: GatewayConfig
    providers: dict[str, BaseProvider] = field(default_factory=dict)
    routes: list[BaseRoute] = field(default_factory=list)
    hooks: Pipeline = field(default_factory=Pipeline)

    def __post_init__(self) -> None:
        self.gemini = GeminiSurface(self)
        self.recorder = Recorder(self.config.flows)
        captured = self.recorder.endpoint
        # The model calls: POSTs that `hot_routes.HotRoutes` dispatches by path ahead of
        # Starlette's router (the routes below serve the same endpoints to anything
        # that reaches the router, e.g. a request under a root_path).
        self.hot_paths: dict[str, Callable[[Request], Awaitable[Any]]] = {
            "/v1/messages": captured(self.messages, "anthropic"),
            "/v1/messages/count_tokens": captured(self.count_tokens, "anthropic"),
            "/v1/chat/completions": captured(self.chat_completions, "openai"),
            "/v1/responses": captured(self.responses, "responses"),
        }
        self.hot_prefixes = self.gemini.hot_prefixes()
        self.routes = [
            *(Route(path, call, methods=["POST"]) for path, call in self.hot_paths.items()),
            Route("/v1/models", self.models, methods=["GET"]),
            *self.gemini.routes(),
            # Keep these two last: every path above takes precedence over them.
            Route("/v1/{path:path}", self.not_served, methods=_ANY_METHOD),
            Route("/v1beta/{path:path}", self.not_served, methods=_ANY_METHOD),
        ]

    async def startup(self) -> None:
        # httpx logs every request at INFO: a line per model call is noise on the hot path.
        httpx_log = logging.getLogger("httpx")
        if not httpx_log.isEnabledFor(logging.DEBUG):
            httpx_log.setLevel(logging.WARNING)
        # Pools are made here, inside the server's event loop.
        self.providers = {name: make_provider(p) for name, p in self.config.providers.items()}
        await self.recorder.start()

    async def shutdown(self) -> None:
        await self.recorder.stop()
        for provider in self.providers.values():
            await provider.aclose()
        self.providers = {}

    # --- endpoints ----------------------------------------------------------------------

    async def messages(self, request: Request) -> Any:
        return await self._serve(
            request, Format.ANTHROPIC, anthropic_features, lambda p, call: p.messages(call)
        )

    async def count_tokens(self, request: Request) -> Any:
        return await self._serve(
            request, Format.ANTHROPIC, anthropic_features, lambda p, call: p.count_tokens(call)
        )

    async def chat_completions(self, request: Request) -> Any:
        return await self._serve(
            request, Format.OPENAI, openai_features, lambda p, call: p.chat_completions(call)
        )

    async def responses(self, request: Request) -> Any:
        return await self._serve(request, Format.OPENAI, responses_features, serve_responses)

    async def models(self, request: Request) -> Response:
        if "x-goog-api-key" in request.headers or query_key(request):
            return await self.gemini.models(request)
        fmt = Format.ANTHROPIC if "anthropic-version" in request.headers else Format.OPENAI
        try:
            check_origin(request, self.config.allowed_origins)
            check_key(request, self.config.keys)
        except ClientError as exc:
            return error_response(fmt, exc.status, exc.message, kind=exc.kind)
        names = model_names(self.config)
        if fmt is Format.ANTHROPIC:
            data = [
                {
                    "type": "model",
                    "id": name,
                    "display_name": name,
                    "created_at": "1970-01-01T00:00:00Z",
                }
                for name, _ in names
            ]
            body: dict[str, Any] = {
                "data": data,
                "has_more": False,
                "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None,
            }
        else:
            body = {
                "object": "list",
                "data": [
                    {"id": name, "object": "model", "created": int(time.time()), "owned_by": owner}
                    for name, owner in names
                ],
            }
        return json_bytes_response(200, orjson.dumps(body))

    async def not_served(self, request: Request) -> Response:
        """An API path tether does not serve, refused in the format its client reads."""
        path = request.url.path
        message = f"tether does not serve {request.method} {path}"
        if path.startswith("/v1beta/"):
            body = {"error": {"code": 404, "message": message, "status": "NOT_FOUND"}}
            return json_bytes_response(404, orjson.dumps(body))
        anthropic = path.startswith("/v1/messages") or "anthropic-version" in request.headers
        fmt = Format.ANTHROPIC if anthropic else Format.OPENAI
        return error_response(fmt, 404, message, kind="not_found_error")

    # --- the shared path ----------------------------------------------------------------

    async def _serve(
        self,
        request: Request,
        fmt: Format,
        features: Callable[[dict[str, Any], Callable[[], int]], Features],
        handle: Callable[[BaseProvider, Call], Any],
    ) -> Any:
        try:
            check_origin(request, self.config.allowed_origins)
            check_key(request, self.config.keys)
            raw = received = await read_body(request, self.config.max_body_bytes)
            body = parse_json_object(raw)
            model = require_model(body)
            hooked = None
            if self.hooks:
                hooked = await self.hooks.request(request, body, model)
                raw, model = hooked.body_bytes(raw), require_model(body)
            # Only scenario rules read a request's features (its tools, its thinking):
            # without any, the model name is all routing needs, and the walk is skipped.
            if self.config.scenarios:
                route = resolve(self.config, features(body, lambda: estimate_tokens(body)))
            else:
                route = resolve(self.config, Features(model=model))
        except ClientError as exc:
            return error_response(fmt, exc.status, exc.message, kind=exc.kind, headers=exc.headers)
        except NoRoute as exc:
            return error_response(fmt, 404, str(exc), kind="not_found_error")
        call = Call(
            fmt=fmt,
            raw=raw,
            body=body,
            client_model=model,
            route=route,
            headers=request.headers,
            ping_interval=self.config.ping_interval,
            query=request.scope["query_string"].decode("latin-1"),
        )
        if (flow := CURRENT_FLOW.get()) is not None:
            mode = self.recorder.mode(route.provider.name, model)
            flow.routed(received, model, route, call.stream, mode)
        try:
            # When the client leaves first, the call is cancelled, and with it the upstream
            # request (the provider stops working for nobody). A stream's own watch takes
            # over once the call has returned one.
            result = await unless_client_leaves(
                request.receive, handle(self.providers[route.provider.name], call)
            )
            if result is CLIENT_LEFT:
                return Response(status_code=499)  # nobody is left to read it
            return result if hooked is None else await self.hooks.response(hooked, result)
        except Exception:
            # A bug of ours; the client still gets an error it can parse. No body logged.
            log.exception("gateway failed on %s for model %s", request.url.path, model)
            return error_response(
                fmt, 500, "the gateway failed to handle this request", kind="api_error"
            )


def model_names(config: GatewayConfig) -> list[tuple[str, str]]:
    """Model names worth listing: each provider's `models`, every target model, and route
    patterns that are plain names. (name, provider) pairs, first mention wins."""
    seen: dict[str, str] = {}
    for provider in config.providers.values():
        for name in provider.models:
            seen.setdefault(name, provider.name)
    for route in config.routes:
        if not _GLOB_CHARS & set(route.match):
            seen.setdefault(route.match, route.target.provider)
    targets = [r.target for r in config.routes] + [s.target for s in config.scenarios.values()]
    if config.default is not None:
        targets.append(config.default)
    for target in targets:
        if target.model:
            seen.setdefault(target.model, target.provider)
    return list(seen.items())


def build_gateway(settings: Settings) -> Gateway:
    """Raises tether.config.ConfigError when the `gateway:` section is invalid, or when it
    would hand out provider keys to a network with no gateway key asked for."""
    config = parse_gateway_config(settings.gateway)
    own_keys = [p.name for p in config.providers.values() if p.api_key]
    if not settings.is_loopback and own_keys and not config.keys:
        raise ConfigError(
            f"gateway: listening on {settings.host} beyond loopback, and provider "
            f"{own_keys[0]!r} uses its own api_key: anyone who can reach this port would "
            "spend it; set gateway.keys (or bind 127.0.0.1)"
        )
    return Gateway(config, hooks=build_pipeline(config.hooks))
