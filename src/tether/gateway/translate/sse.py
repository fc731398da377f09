"""Incremental Server-Sent Events parsing and Anthropic-style frame encoding.

The parser follows the WHATWG event-stream rules that matter for model APIs:
lines end in CRLF, LF or CR (a CR at the end of one chunk may be the first half
of a CRLF in the next), `:` lines are comments, `data:` lines of one event are
joined with LF, and an event is dispatched on a blank line. Bytes are split into
lines before decoding, so a UTF-8 character split across chunks is never broken.
"""

from __future__ import annotations

import orjson

__all__ = ["SSEParser", "encode_sse"]


class SSEParser:
    """Feed raw bytes as they arrive; get back complete `(event, data)` pairs.

    `event` is None when the frame had no `event:` field (OpenAI streams).
    """

    __slots__ = ("_buf", "_data", "_event", "_started")

    def __init__(self) -> None:
        self._buf = b""
        self._event: str | None = None
        self._data: list[str] = []
        self._started = False

    def feed(self, data: bytes) -> list[tuple[str | None, str]]:
        buf = self._buf + data if self._buf else data
        if not self._started and buf:
            if len(buf) < 3 and b"\xef\xbb\xbf".startswith(buf):
                self._buf = buf  # maybe a byte-order mark still arriving
                return []
            self._started = True
            if buf.startswith(b"\xef\xbb\xbf"):
                buf = buf[3:]
        # A trailing CR may pair with an LF in the next chunk: hold it back.
        held = b""
        if buf.endswith(b"\r"):
            buf, held = buf[:-1], b"\r"
        if b"\r" in buf:
            buf = buf.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        lines = buf.split(b"\n")
        self._buf = lines.pop() + held
        out: list[tuple[str | None, str]] = []
        for raw in lines:
            self._line(raw, out)
        return out

    def close(self) -> list[tuple[str | None, str]]:
        """End of stream: dispatch a last frame that lacked its blank line.

        The SSE spec discards it; model servers that forget the final blank line
        are common enough that keeping it is kinder.
        """
        out: list[tuple[str | None, str]] = []
        rest, self._buf = self._buf, b""
        if rest:
            for raw in rest.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n"):
                self._line(raw, out)
        self._line(b"", out)
        return out

    def _line(self, raw: bytes, out: list[tuple[str | None, str]]) -> None:
        if not raw:
            if self._data:
                out.append((self._event, "\n".join(self._data)))
            self._event = None
            self._data = []
            return
        if raw[0] == 0x3A:  # ":" comment (keepalives)
            return
        line = raw.decode("utf-8", "replace")
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        # id and retry are meaningless for one model response; ignored.


def encode_sse(event: str, data: dict) -> bytes:
    """One Anthropic-style frame: `event: <name>` then one `data:` JSON line."""
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"
