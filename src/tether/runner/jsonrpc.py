"""JSON-RPC 2.0 over a child process's stdio, one message per line (ACP's transport).

Our own small peer rather than the `agent-client-protocol` package's: the relay keeps each
update as the agent wrote it, and a typed layer would drop unknown fields and update types
(the same reason the Claude side reads claude-agent-sdk's stream one step early). A line
that is not JSON-RPC is counted and set aside, never fatal: agents log to stdout too.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], Awaitable[Any]]
Notice = Callable[[str, dict[str, Any]], None]

METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
# ACP's own code for a file (or other resource) that does not exist; agents such as Gemini
# CLI read it as ENOENT (a new file), where any other error aborts their write.
RESOURCE_NOT_FOUND = -32002


class RpcError(Exception):
    """An error answer, ours to send or the agent's to us."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data


class Closed(ConnectionError):
    """The peer's stdout ended: no answer will come."""


class Peer:
    """Requests out (with answers), requests in (served by handlers), notifications both
    ways. `run()` reads until the peer's stdout ends."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        handlers: dict[str, Handler],
        on_notification: Notice,
        on_garbage: Callable[[bytes], None] = lambda _line: None,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._handlers = handlers
        self._on_notification = on_notification
        self._on_garbage = on_garbage
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self._serving: set[asyncio.Task[None]] = set()
        self._closed = False

    async def request(self, method: str, params: dict[str, Any]) -> Any:
        if self._closed:
            raise Closed(f"the agent is gone (calling {method})")
        request_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = future
        try:
            await self._send(
                {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
            )
            return await future
        finally:
            self._waiting.pop(request_id, None)

    async def notify(self, method: str, params: dict[str, Any]) -> None:
        await self._send({"jsonrpc": "2.0", "method": method, "params": params})

    async def run(self) -> None:
        try:
            while True:
                line = await self._reader.readline()
                if not line:
                    return
                if line.strip():
                    self._dispatch(line)
        finally:
            self._closed = True
            for future in self._waiting.values():
                if not future.done():
                    future.set_exception(Closed("the agent is gone"))
            for task in list(self._serving):
                task.cancel()

    def _dispatch(self, line: bytes) -> None:
        try:
            message = orjson.loads(line)
        except orjson.JSONDecodeError:
            self._on_garbage(line)
            return
        if not isinstance(message, dict):
            self._on_garbage(line)
            return
        method = message.get("method")
        if isinstance(method, str):
            params = message.get("params") if isinstance(message.get("params"), dict) else {}
            if "id" in message:
                task = asyncio.create_task(self._serve(message["id"], method, params))
                self._serving.add(task)
                task.add_done_callback(self._serving.discard)
            else:
                self._on_notification(method, params)
            return
        future = self._waiting.get(message.get("id"))  # type: ignore[arg-type]
        if future is None or future.done():
            self._on_garbage(line)
            return
        error = message.get("error")
        if isinstance(error, dict):
            future.set_exception(
                RpcError(int(error.get("code") or 0), str(error.get("message")), error.get("data"))
            )
        else:
            future.set_result(message.get("result"))

    async def _serve(self, request_id: Any, method: str, params: dict[str, Any]) -> None:
        handler = self._handlers.get(method)
        try:
            if handler is None:
                raise RpcError(METHOD_NOT_FOUND, f"method not found: {method}")
            reply: dict[str, Any] = {"result": await handler(params)}
        except RpcError as exc:
            error: dict[str, Any] = {"code": exc.code, "message": exc.message}
            if exc.data is not None:
                error["data"] = exc.data
            reply = {"error": error}
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the agent must get an answer, whatever broke here
            log.exception("serving %s failed", method)
            reply = {"error": {"code": INTERNAL_ERROR, "message": str(exc)}}
        with contextlib.suppress(ConnectionError):
            await self._send({"jsonrpc": "2.0", "id": request_id, **reply})

    async def _send(self, message: dict[str, Any]) -> None:
        if self._writer.is_closing():
            raise Closed("the agent's stdin is closed")
        self._writer.write(orjson.dumps(message) + b"\n")
        await self._writer.drain()
