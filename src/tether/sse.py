"""Server-Sent Events, parsed incrementally: bytes in as they arrive, whole messages out.

The one parser of tether's Python side: the relay client reads the relay's `/events` with
it, the gateway reads upstream model streams with it. A leaf module, pure (no sockets).

It follows the WHATWG event-stream rules: lines end in CRLF, LF or CR (a CR at the end of
one chunk may be the first half of a CRLF in the next), a leading byte-order mark is
skipped, `:` lines are comments, the `data:` lines of one message are joined with LF, a
blank line dispatches a message that has data, `event` defaults to "message", and an
`id` holding a NUL is ignored. Bytes are split into lines before decoding, so a UTF-8
character split across chunks is never broken.

One deliberate difference: a message's `id` is the `id:` it carried itself, or None —
not the last id seen — because the relay sends events that are outside its log (the
pending-request snapshot, pings) without one, and those must not move a client's cursor.
"""

from __future__ import annotations

from dataclasses import dataclass

BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True, slots=True)
class SSEMessage:
    event: str
    data: str
    id: str | None = None  # None when the message had no `id:` line


class SSEParser:
    """Feed raw bytes as they arrive; get back the messages they complete."""

    __slots__ = ("_buf", "_data", "_event", "_id", "_started")

    def __init__(self) -> None:
        self._buf = b""
        self._event = ""
        self._data: list[str] = []
        self._id: str | None = None
        self._started = False

    def feed(self, data: bytes) -> list[SSEMessage]:
        buf = self._buf + data if self._buf else data
        if not self._started and buf:
            if len(buf) < len(BOM) and BOM.startswith(buf):
                self._buf = buf  # maybe a byte-order mark still arriving
                return []
            self._started = True
            if buf.startswith(BOM):
                buf = buf[len(BOM) :]
        # A trailing CR may pair with an LF in the next chunk: hold it back.
        held = b""
        if buf.endswith(b"\r"):
            buf, held = buf[:-1], b"\r"
        if b"\r" in buf:
            buf = buf.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        lines = buf.split(b"\n")
        self._buf = lines.pop() + held
        out: list[SSEMessage] = []
        for raw in lines:
            self._line(raw, out)
        return out

    def close(self) -> list[SSEMessage]:
        """End of stream: dispatch a last message that lacked its blank line.

        The SSE spec discards it; model servers that forget the final blank line are
        common enough that keeping it is kinder.
        """
        out: list[SSEMessage] = []
        rest, self._buf = self._buf, b""
        if rest:
            for raw in rest.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n"):
                self._line(raw, out)
        self._line(b"", out)
        return out

    def _line(self, raw: bytes, out: list[SSEMessage]) -> None:
        if not raw:
            if self._data:
                out.append(SSEMessage(self._event or "message", "\n".join(self._data), self._id))
            self._event, self._data, self._id = "", [], None
            return
        if raw[0] == 0x3A:  # ":" a comment: keep-alive, or the relay's "connected"
            return
        line = raw.decode("utf-8", "replace")
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self._id = value
        # `retry:` and unknown fields change nothing tether acts on.
