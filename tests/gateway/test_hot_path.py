"""The hot path's plumbing: the disconnect watch that runs a call in the request's own task,
and the model endpoints dispatched ahead of Starlette's router (issue 16)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.gateway.upstreams import ScriptedUpstream, Sse
from tests.support.server import TetherServer
from tether.gateway.streaming import CLIENT_LEFT, unless_client_leaves
from tether.hot_routes import HotRoutes


class Client:
    """An ASGI `receive` that says nothing until told the client left (or failed)."""

    def __init__(self) -> None:
        self.gone = asyncio.Event()
        self.fail = False

    async def receive(self) -> dict[str, Any]:
        await self.gone.wait()
        if self.fail:
            raise RuntimeError("the transport broke")
        return {"type": "http.disconnect"}


async def test_a_call_that_ends_first_returns_its_result_and_leaves_the_task_clean() -> None:
    client = Client()

    async def work() -> str:
        await asyncio.sleep(0)
        return "answer"

    assert await unless_client_leaves(client.receive, work()) == "answer"
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0
    client.gone.set()  # a disconnect after the call changes nothing any more
    await asyncio.sleep(0.01)
    assert task.cancelling() == 0


@pytest.mark.parametrize("fail", [False, True])
async def test_the_client_leaving_cancels_the_call(fail: bool) -> None:
    client = Client()
    client.fail = fail
    cancelled = asyncio.Event()

    async def work() -> str:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return "never"

    async def serve() -> Any:
        result = await unless_client_leaves(client.receive, work())
        task = asyncio.current_task()
        assert task is not None
        return result, task.cancelling()

    request = asyncio.ensure_future(serve())
    await asyncio.sleep(0.01)
    client.gone.set()
    result, cancelling = await asyncio.wait_for(request, 5)
    assert result is CLIENT_LEFT
    assert cancelled.is_set()
    assert cancelling == 0  # the watcher's cancel was taken back


async def test_a_cancel_from_outside_is_not_a_client_leaving() -> None:
    client = Client()

    async def work() -> None:
        await asyncio.sleep(30)

    request = asyncio.ensure_future(unless_client_leaves(client.receive, work()))
    await asyncio.sleep(0.01)
    request.cancel()  # the server stopping
    with pytest.raises(asyncio.CancelledError):
        await request


async def test_a_failing_call_raises_its_own_error() -> None:
    client = Client()

    async def work() -> None:
        raise ValueError("a bug")

    with pytest.raises(ValueError, match="a bug"):
        await unless_client_leaves(client.receive, work())


# --- HotRoutes ------------------------------------------------------------------------------


async def echo(request: Request) -> Response:
    return JSONResponse({"path_params": request.path_params, "via": request.scope.get("via")})


async def refuse(request: Request) -> Response:
    raise HTTPException(418, "no tea")


async def broken(request: Request) -> Response:
    raise RuntimeError("a bug")


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return JSONResponse({"handled": exc.detail}, status_code=exc.status_code)


async def internal_error(request: Request, exc: Exception) -> Response:
    return JSONResponse({"internal": str(exc)}, status_code=500)


def app(hot: bool) -> Starlette:
    """The same endpoints behind the router alone, or with HotRoutes in front of it."""
    routes = [
        Route("/v1/echo", echo, methods=["POST"]),
        Route("/v1/refuse", refuse, methods=["POST"]),
        Route("/v1/broken", broken, methods=["POST"]),
        Route("/v1beta/models/{target:path}", echo, methods=["POST"]),
        Route("/v1/{path:path}", echo, methods=["GET", "POST"]),
    ]
    handlers = {HTTPException: http_error, Exception: internal_error}
    application = Starlette(routes=routes, exception_handlers=handlers)  # type: ignore[arg-type]
    if hot:
        application.add_middleware(
            HotRoutes,
            exact={"/v1/echo": echo, "/v1/refuse": refuse, "/v1/broken": broken},
            prefixes=[("/v1beta/models/", "target", echo)],
            handlers=application.exception_handlers,
        )
    return application


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/echo"),
        ("GET", "/v1/echo"),  # not a POST: the router's catch-all answers
        ("POST", "/v1/refuse"),
        ("POST", "/v1/broken"),
        ("POST", "/v1beta/models/gemini-x:streamGenerateContent"),
        ("POST", "/v1beta/models/"),
        ("POST", "/v1/other"),
    ],
)
async def test_hot_routes_answer_as_the_router_does(method: str, path: str) -> None:
    answers = []
    for hot in (False, True):
        transport = httpx.ASGITransport(app(hot), raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            response = await http.request(method, path)
        answers.append((response.status_code, response.json()))
    assert answers[0] == answers[1]


def test_a_client_leaving_before_the_answer_stops_the_upstream(
    gateway: TetherServer, an_upstream: ScriptedUpstream
) -> None:
    """Not a stream for the client: the call is still reading the upstream's answer (a
    passthrough reads it whole before it checks it) when the client gives up, and the
    upstream request is dropped with it."""
    an_upstream.push(Sse([b"event: ping\ndata: {}\n\n"] * 100, delay=0.1))
    body = {"model": "same-x", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{gateway.url}/v1/messages", json=body, timeout=0.5)
    assert an_upstream.wait_outcome(0) == "stopped"
