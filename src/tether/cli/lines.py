"""Reading what a person types, one line at a time, without blocking the event loop.

A terminal or pipe is watched with the loop's reader; a regular file (stdin redirected from
one), which epoll cannot watch, is read by a daemon thread instead. Either way each line
arrives on a queue, and `None` marks the end of input.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import threading


class LineReader:
    def __init__(self, fd: int | None = None) -> None:
        self.fd = sys.stdin.fileno() if fd is None else fd
        self.closed = False
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._buffer = b""
        self._loop = asyncio.get_running_loop()
        try:
            self._loop.add_reader(self.fd, self._readable)
            self._watching = True
        except (OSError, ValueError, PermissionError):
            self._watching = False
            threading.Thread(target=self._read_blocking, name="stdin", daemon=True).start()

    def _push(self, data: bytes) -> None:
        if not data:
            if self._buffer:
                self._queue.put_nowait(self._buffer.decode(errors="replace"))
                self._buffer = b""
            self.closed = True
            self._queue.put_nowait(None)
            return
        self._buffer += data
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            self._queue.put_nowait(line.rstrip(b"\r").decode(errors="replace"))

    def _readable(self) -> None:
        try:
            data = os.read(self.fd, 65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._loop.remove_reader(self.fd)
            self._watching = False
        self._push(data)

    def _read_blocking(self) -> None:
        while True:
            try:
                data = os.read(self.fd, 65536)
            except OSError:
                data = b""
            self._loop.call_soon_threadsafe(self._push, data)
            if not data:
                return

    async def readline(self) -> str | None:
        """The next line (without its newline), or None once input has ended."""
        if self.closed and self._queue.empty():
            return None
        return await self._queue.get()

    def pending(self) -> bool:
        return not self._queue.empty()

    def close(self) -> None:
        if self._watching:
            with contextlib.suppress(Exception):
                self._loop.remove_reader(self.fd)
            self._watching = False
