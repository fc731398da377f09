"""The gateway's model endpoints dispatched by path, ahead of Starlette's router.

Every model call is a POST to one of a few fixed paths (`/v1/messages`,
`/v1/chat/completions`, `/v1/responses`, a Gemini `/v1beta/models/...`). Starlette
reaches them through its exception middleware, its router (a regular expression per route
until one matches), the route's request/response wrapper and two more `send` wrappers:
about a dozen Python frames and closures per call, on the path of every request before
the upstream is asked. This middleware sits where the router's exception middleware would,
under the server-error middleware and the Host guard (both still run), and hands those
POSTs straight to their endpoint. Anything else goes on to the router as before.

What the skipped layers did, it does too: the endpoint gets a Starlette `Request` with
`path_params`, and an exception it raises is answered by the app's exception handler for
its class (HTTPException, ApiError) or, with none, goes on up to the server-error
middleware. The gateway's responses do not raise once started, so the "response already
started" case of Starlette's exception middleware does not arise here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

Endpoint = Callable[[Request], Awaitable[Any]]
Handler = Callable[[Request, Exception], Awaitable[Any]]


class HotRoutes:
    """POSTs to `exact` paths, or to a path under one of `prefixes` (whose rest is the
    path parameter `param`), go straight to their endpoint."""

    def __init__(
        self,
        app: ASGIApp,
        exact: Mapping[str, Endpoint],
        prefixes: Sequence[tuple[str, str, Endpoint]] = (),
        handlers: Mapping[Any, Handler] | None = None,
    ) -> None:
        self.app = app
        self.exact = dict(exact)
        self.prefixes = tuple(prefixes)
        # What Starlette's exception middleware would have answered with: handlers by
        # exception class or HTTP status, not the catch-all (that is the server-error
        # middleware's, above this one).
        self.handlers = {
            key: handler for key, handler in (handlers or {}).items() if key not in (500, Exception)
        }

    def _endpoint(self, scope: Scope) -> Endpoint | None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope.get("root_path"):
            return None
        path = scope["path"]
        endpoint = self.exact.get(path)
        if endpoint is not None:
            scope["path_params"] = {}
            return endpoint
        for prefix, param, endpoint in self.prefixes:
            if path.startswith(prefix):
                scope["path_params"] = {param: path[len(prefix) :]}
                return endpoint
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = self._endpoint(scope)
        if endpoint is None:
            await self.app(scope, receive, send)
            return
        scope["endpoint"] = endpoint
        request = Request(scope, receive, send)
        try:
            response = await endpoint(request)
        except Exception as exc:
            handler = self._handler(exc)
            if handler is None:
                raise
            response = await handler(request, exc)
            exc.__traceback__ = None  # reused exception instances keep no tracebacks
            if response is None:
                return
        await response(scope, receive, send)

    def _handler(self, exc: Exception) -> Handler | None:
        if isinstance(exc, HTTPException) and exc.status_code in self.handlers:
            return self.handlers[exc.status_code]
        for cls in type(exc).__mro__:
            if cls in self.handlers:
                return self.handlers[cls]
        return None
