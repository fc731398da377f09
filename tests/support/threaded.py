"""Run a uvicorn server on a thread of the test process, on a port the OS picks.

The socket is bound (port 0 unless a port is asked for) and listening before the server
starts, so the port is known at once and no other process can take it in between: there
is no probing for a free port. Each server has its own thread and event loop, so sync and
async tests alike can talk to it over real HTTP, SSE and WebSocket connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import uvicorn

T = TypeVar("T")


def run_coroutine(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion on a thread and loop of its own, and return its
    result: callable from sync code and from inside a running loop (an async test) alike."""
    result: list[T] = []
    failure: list[BaseException] = []

    def work() -> None:
        try:
            result.append(asyncio.run(make()))
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return result[0]


def listen(port: int = 0) -> socket.socket:
    """A listening TCP socket on 127.0.0.1 (`port` 0: one the OS picks)."""
    # IPPROTO_TCP as `tether serve` does: asyncio then sets TCP_NODELAY on accepted sockets.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError:
        sock.close()
        raise
    sock.listen(2048)
    return sock


class ThreadedServer:
    """A `uvicorn.Server` serving on its own thread until `stop()`."""

    def __init__(self, server: uvicorn.Server, port: int = 0) -> None:
        self.server = server
        self.sock = listen(port)
        self.port: int = self.sock.getsockname()[1]
        self.error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._asked: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name=f"uvicorn-{self.port}", daemon=True)

    def start(self, timeout: float = 20.0) -> ThreadedServer:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self._thread.is_alive():
                self.sock.close()
                raise RuntimeError(f"the server on port {self.port} failed to start") from (
                    self.error
                )
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the server on port {self.port} did not start in {timeout}s")
            time.sleep(0.005)
        return self

    def stop(self, *, abrupt: bool = False, timeout: float = 10.0) -> None:
        """Stop as Ctrl-C does; `abrupt` skips the app's shutdown (its lifespan exit) and
        the wait for open connections, the nearest an in-process server comes to a kill.
        A server still serving after `timeout` is stopped abruptly."""
        self._ask(abrupt)
        if self._thread.ident is None:  # never started
            self.sock.close()
            return
        self._thread.join(timeout)
        if self._thread.is_alive() and not abrupt:
            self._ask(abrupt=True)
            self._thread.join(5)
        self.sock.close()
        if self._thread.is_alive():
            raise RuntimeError(f"the server on port {self.port} did not stop")

    def _ask(self, abrupt: bool) -> None:
        loop = self._loop
        if loop is not None and self._thread.is_alive():
            # RuntimeError: the loop closed in between, so it is stopping already.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._ask_to_stop, abrupt)

    def _ask_to_stop(self, abrupt: bool) -> None:
        if abrupt:
            self.server.force_exit = True
            self.server.should_exit = True
        else:
            # Through handle_exit, as a signal would go: tether's server ends its event
            # streams there.
            self.server.handle_exit(signal.SIGINT, None)
        if self._asked is not None:
            self._asked.set()

    def _run(self) -> None:
        try:
            with asyncio.Runner(loop_factory=self.server.config.get_loop_factory()) as runner:
                runner.run(self._serve())
        except BaseException as exc:  # uvicorn exits (SystemExit) when the app fails to start
            self.error = exc

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._asked = asyncio.Event()
        self.server.main_loop = self._main_loop  # type: ignore[method-assign]
        await self.server.serve(sockets=[self.sock])

    async def _main_loop(self) -> None:
        """uvicorn's main loop, which looks at `should_exit` every 0.1 s, woken at once
        by `stop()` instead: a test's server starts its shutdown when asked, not up to
        0.1 s later. The ticks (the Date header, once a second) run as they did."""
        assert self._asked is not None
        counter = 0
        while not await self.server.on_tick(counter):
            counter = (counter + 1) % 864000
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._asked.wait(), 0.1)
