"""Builds the ASGI app: the gateway, the relay and the web UI on one port (or one half alone)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route

from tether import __version__
from tether.config import Settings, admin_token_path
from tether.gateway.app import build_gateway
from tether.host_guard import LoopbackHostGuard
from tether.hot_routes import HotRoutes
from tether.http_guard import guarded_protocol
from tether.private_files import private_dir
from tether.redact import RedactQueryTokens
from tether.relay.api import json_response, relay_routes
from tether.relay.auth import ensure_admin_token
from tether.relay.errors import ApiError, error_response
from tether.relay.notify import Notifier
from tether.relay.service import Relay
from tether.relay.store import Store, open_database
from tether.web import web_app

log = logging.getLogger("tether")

WEB_DIR = Path(__file__).parent / "web" / "static"


@dataclass
class StartupInfo:
    """What the person starting the server should be told once it is up."""

    settings: Settings
    new_admin_token: str | None
    admin_token_file: Path | None


_STATUS_TYPES = {404: "not_found", 405: "method_not_allowed", 400: "invalid_request"}


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    kind = _STATUS_TYPES.get(exc.status_code, "http_error")
    message = exc.detail if exc.status_code != 404 else f"no such endpoint: {request.url.path}"
    return error_response(exc.status_code, kind, str(message))


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return exc.response()


async def _internal_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(500, "internal_error", "the server failed to handle this request")


async def healthz(request: Request) -> Response:
    body: dict[str, object] = {"ok": True, "version": __version__}
    gateway = getattr(request.app.state, "gateway", None)
    if gateway is not None and gateway.recorder.active:
        body["flows"] = gateway.recorder.stats()  # dropped: flows lost to a full queue
    return json_response(body)


def end_event_streams(app: Starlette) -> None:
    """Tell every open SSE and WebSocket follower the server is stopping, so they end now
    (clients reconnect with their cursor) instead of holding up the shutdown."""
    relay: Relay | None = getattr(app.state, "relay", None)
    if relay is not None:
        relay.end_streams()


def create_app(
    settings: Settings, on_startup: Callable[[StartupInfo], None] | None = None
) -> Starlette:
    serve_relay = settings.only in ("all", "relay")
    serve_gateway = settings.only in ("all", "gateway")
    gateway = build_gateway(settings) if serve_gateway else None

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        relay: Relay | None = None
        push: Notifier | None = None
        new_token: str | None = None
        token_file: Path | None = None
        if serve_relay:
            private_dir(settings.data_dir)
            store = Store(open_database(settings.database_url, settings.data_dir))
            await store.open()
            relay = Relay(store, settings)
            token_file = admin_token_path(settings.data_dir)
            if not settings.token:
                # With a token given from outside, nothing is minted: a minted one would be
                # printed, and service logs would keep it.
                new_token = await ensure_admin_token(store, token_file)
            await relay.start()
            app.state.relay = relay
            push = Notifier(
                store,
                relay.bus,
                settings,
                claim=relay.feed is not None,
                env_token_id=relay.auth.env_token_id,
            )
            await push.start()
            app.state.push = push
        if gateway is not None:
            if relay is not None:
                # Flows go to the relay's database; with the gateway alone nothing is kept.
                gateway.recorder.sink = relay.store.flows
            await gateway.startup()
        if on_startup is not None:
            on_startup(StartupInfo(settings, new_token, token_file))
        try:
            yield
        finally:
            if gateway is not None:
                await gateway.shutdown()
            if push is not None:
                await push.stop()
            if relay is not None:
                await relay.stop()
                await relay.store.close()

    routes: list[BaseRoute] = [Route("/healthz", healthz)]
    if gateway is not None:
        routes.extend(gateway.routes)
    if serve_relay:
        routes.extend(relay_routes())
        if WEB_DIR.is_dir():
            routes.append(Mount("/", app=web_app(WEB_DIR), name="web"))

    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={
            HTTPException: _http_error,
            ApiError: _api_error,
            Exception: _internal_error,
        },
    )
    app.state.settings = settings
    app.state.gateway = gateway
    if gateway is not None:
        # Inside the Host guard (added after it, so it runs first) and the server-error
        # middleware; ahead of the router.
        app.add_middleware(
            HotRoutes,
            exact=gateway.hot_paths,
            prefixes=gateway.hot_prefixes,
            handlers=app.exception_handlers,
        )
    if settings.is_loopback:
        app.add_middleware(LoopbackHostGuard, public_url=settings.public_url)
    return app


def make_server(
    settings: Settings, on_startup: Callable[[StartupInfo], None] | None = None
) -> uvicorn.Server:
    """The app and the uvicorn server that runs it, as `tether serve` runs them (the tests
    run this same server inside their own process). Raises ConfigError when the gateway
    section is invalid."""
    app = create_app(settings, on_startup=on_startup)
    server = _Server(
        app,
        uvicorn.Config(
            app,
            log_level=settings.log_level,
            access_log=settings.log_level == "debug",
            lifespan="on",
            timeout_graceful_shutdown=3,
            server_header=False,
            http=guarded_protocol(
                settings.request_head_timeout,
                settings.max_header_bytes,
                settings.request_body_timeout,
            ),
            timeout_keep_alive=settings.keep_alive_timeout,
            # A WebSocket frame carries one action body: hold it to the HTTP body limit
            # (larger frames are closed with 1009, message too big).
            ws_max_size=settings.max_body_bytes,
        ),
    )
    # Sign-in links carry the token in the query string, Gemini clients may send their key
    # as ?key=: the access log must keep neither. Added after uvicorn.Config, which
    # (re)configures uvicorn's loggers; once, as the logger outlives each server.
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactQueryTokens) for f in access.filters):
        access.addFilter(RedactQueryTokens())
    return server


class _Server(uvicorn.Server):
    """Ends the relay's event streams as soon as a stop is asked for; otherwise every open
    SSE or WebSocket client holds the shutdown for the whole grace period."""

    def __init__(self, app: Starlette, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._app = app

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        end_event_streams(self._app)
        super().handle_exit(sig, frame)
