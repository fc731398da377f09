"""One change in the relay, as every client receives it.

An event is serialized once, however many clients it goes to: the SSE frame and the
WebSocket text are built on first use and shared.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson


@dataclass(slots=True)
class Event:
    # The cursor; None for events that are not in the log (pings, the pending-request
    # snapshot sent on connect), which must not move a client's cursor.
    id: int | None
    type: str
    session_id: str | None
    data: dict[str, Any]
    _json: bytes | None = field(default=None, repr=False, compare=False)
    _sse: bytes | None = field(default=None, repr=False, compare=False)
    _ws: str | None = field(default=None, repr=False, compare=False)

    @property
    def data_json(self) -> bytes:
        if self._json is None:
            self._json = orjson.dumps(self.data)
        return self._json

    @property
    def sse(self) -> bytes:
        if self._sse is None:
            head = b"" if self.id is None else b"id: %d\n" % self.id
            self._sse = (
                head + b"event: " + self.type.encode() + b"\ndata: " + self.data_json + b"\n\n"
            )
        return self._sse

    @property
    def ws(self) -> str:
        if self._ws is None:
            ident = b"null" if self.id is None else b"%d" % self.id
            self._ws = (
                b'{"id":'
                + ident
                + b',"event":"'
                + self.type.encode()
                + b'","data":'
                + self.data_json
                + b"}"
            ).decode()
        return self._ws

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "event": self.type, "data": self.data}
