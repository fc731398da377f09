"""Server-Sent Events, parsed line by line (the relay's `/events` stream).

Pure: it knows nothing of sockets. Feed it the stream's lines; it hands back each
complete message. Follows the WHATWG rules the relay relies on: `id:`, `event:`,
`data:` (joined by newlines), comments starting with `:`, a blank line ends a message.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class SSEMessage:
    event: str
    data: str
    id: str | None  # None when the message had no `id:` line (it does not move the cursor)


@dataclass(slots=True)
class SSEParser:
    _event: str = ""
    _data: list[str] = field(default_factory=list)
    _id: str | None = None
    _has_fields: bool = False

    def feed(self, line: str) -> SSEMessage | None:
        """One line without its line ending; returns a message when `line` ends one."""
        if line == "":
            if not self._has_fields:
                return None
            message = SSEMessage(self._event or "message", "\n".join(self._data), self._id)
            self._event, self._data, self._id, self._has_fields = "", [], None, False
            return message
        if line.startswith(":"):
            return None  # a comment: keep-alive or the relay's "connected"
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self._id = value
        else:
            return None  # `retry:` and unknown fields change nothing we act on
        self._has_fields = True
        return None
