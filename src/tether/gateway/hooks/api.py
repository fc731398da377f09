"""What a hook sees and may change: the plugin interface.

A hook is any object with one or more of these methods (plain or `async`):

    on_request(request: HookRequest) -> Changed
    on_response(request: HookRequest, response: HookResponse) -> Changed
    on_event(request: HookRequest, event: StreamEvent) -> Changed

and, optionally, attributes `after` / `before` (names of hooks it must run after or
before; the YAML entry may add more). `Changed` is what the hook reports: None or False
when it changed nothing, True when it did, or a list of short words saying what ("model",
"headers"), which is recorded. A change not reported may not reach the upstream: the
client's bytes are sent as they came when no hook says it changed the body.

To refuse a call, raise `Blocked(message, status=403)`; the client gets an error in its
own format. Any other exception is the hook failing: the entry's `on_error` says whether
that refuses the call (`block`) or is logged and ignored (`skip`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

# The client's wire format, which is the format of the body a hook sees.
Surface = Literal["anthropic", "openai", "responses", "gemini"]
Changed = bool | Iterable[str] | None
# Headers the gateway frames each upstream request with itself: no hook sets or removes
# them (a wrong content-length would break the request, not the hook).
FRAMING_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection"})
_BAD_VALUE_CHARS = frozenset("\r\n\0")


def checked_header(name: str, value: str | None = None) -> str:
    """`name` lower-cased; ValueError for a framing header or a value that would split
    the request (CR, LF, NUL)."""
    lowered = name.lower()
    if lowered in FRAMING_HEADERS:
        raise ValueError(f"header {name!r} is the gateway's own to set")
    if value is not None and _BAD_VALUE_CHARS.intersection(value):
        raise ValueError(f"header {name!r}: the value holds a line break or NUL")
    return lowered


class Blocked(Exception):
    """Raised by a hook to refuse the call; `status` 400 or 403."""

    def __init__(self, message: str, status: int = 403) -> None:
        if status not in (400, 403):
            raise ValueError(f"Blocked: status must be 400 or 403, not {status}")
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass
class HookRequest:
    """One client request before routing and translation.

    `body` is the parsed JSON in the client's format (`surface`); change it in place.
    `headers` are the client's, read-only; `set_header` / `remove_header` change what is
    sent upstream, on every provider path (translated calls included)."""

    surface: Surface
    path: str
    body: dict[str, Any]
    headers: Mapping[str, str]
    _model: str
    header_edits: dict[str, str | None] = field(default_factory=dict)
    # Free for hooks to share state between phases of one call.
    scratch: dict[str, Any] = field(default_factory=dict)
    # Set once the request hooks have run: the model is then the one the call was routed
    # by, whatever a provider later writes into the body it sends.
    _settled: bool = False

    @property
    def model(self) -> str:
        """The model the client asked for. Gemini names it in the path, the others in the
        body; setting it (in the request phase) changes the one the call is routed by."""
        if self.surface == "gemini" or self._settled:
            return self._model
        model = self.body.get("model")
        return model if isinstance(model, str) else self._model

    @model.setter
    def model(self, value: str) -> None:
        self._model = value
        if self.surface != "gemini":
            self.body["model"] = value

    @property
    def stream(self) -> bool:
        if self.surface == "gemini":
            return self.path.endswith(":streamGenerateContent")
        return self.body.get("stream") is True

    def settle(self) -> None:
        self._model, self._settled = self.model, True

    def set_header(self, name: str, value: str) -> None:
        self.header_edits[checked_header(name, value)] = value

    def remove_header(self, name: str) -> None:
        self.header_edits[checked_header(name)] = None


@dataclass
class HookResponse:
    """The answer going back to the client. `body` is its parsed JSON (None for a stream,
    or a body that is not JSON); change it in place and report the change."""

    status: int
    body: Any
    stream: bool


@dataclass
class StreamEvent:
    """One streamed event in the client's format: its SSE event name (None where the
    format names none, as OpenAI chat and Gemini) and its data, parsed JSON (or the text,
    as OpenAI's `[DONE]`). Change `data` in place and report the change."""

    event: str | None
    data: Any
