"""What every relay input must satisfy before any handler sees it, whatever its field.

JSON bodies and WebSocket frames are parsed here, once: nesting is bounded (the relay writes
every value back out inside an event, and the serializer stops at 255 levels), and no string
may hold a NUL character where it would be stored as plain text (PostgreSQL text cannot
store one). Values the store keeps as JSON text (`JSON_STORED`: message content, tool input,
metadata...) may hold one, since it is written escaped: a tool's output with a NUL byte in it
must not cost the transcript its message. Query and path parameters get the NUL rule, and
cursors and counts must fit the database's 64-bit integers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from tether.relay.errors import MalformedJSON, Unprocessable

# Deep enough for any real tool input or message, far below the 255 levels orjson writes
# (an event wraps a body in a few more levels on the way out).
MAX_JSON_DEPTH = 64
# Cursors, sequence numbers and counts are BIGINT columns.
MAX_INT64 = 2**63 - 1
NUL = "\x00"
# Fields whose whole value the store serializes as JSON text, where a NUL is escaped.
JSON_STORED = frozenset(
    {"content", "raw", "input", "updated_input", "metadata", "agent_state", "suggestions"}
)


def parse_json(raw: bytes | str, what: str = "the request body") -> Any:
    """Parse a body or frame and hold it to the relay's rules (see the module docstring)."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise MalformedJSON(f"{what} is not valid JSON: {exc}") from None
    check_json(value)
    return value


def check_json(value: Any) -> None:
    """Refuse nesting deeper than MAX_JSON_DEPTH and NUL in any key or string outside a
    JSON_STORED value, naming the first offending place as a dotted path (`title`, `0.kind`;
    `body` for the top)."""
    # Iterative, so a hostile depth cannot exhaust the interpreter's own stack.
    stack: list[tuple[Any, tuple[str, ...], bool]] = [(value, (), False)]
    while stack:
        item, path, nul_ok = stack.pop()
        if isinstance(item, str):
            if NUL in item and not nul_ok:
                _refuse_nul(path)
            continue
        if not isinstance(item, dict | list):
            continue
        if len(path) >= MAX_JSON_DEPTH:
            raise Unprocessable(
                f"{_dotted(path)}: JSON is nested deeper than {MAX_JSON_DEPTH} levels",
                extra=_fields(path, f"nested deeper than {MAX_JSON_DEPTH} levels"),
            )
        children: Iterable[tuple[str, Any]]
        if isinstance(item, dict):
            for key in item:
                if NUL in key and not nul_ok:
                    _refuse_nul((*path, key))
            children = item.items()
        else:
            children = ((str(i), v) for i, v in enumerate(item))
        stack.extend((child, (*path, key), nul_ok or key in JSON_STORED) for key, child in children)


def check_params(params: Mapping[str, Any], where: str) -> None:
    """Refuse NUL in query (`where="query"`) or path (`"path"`) parameters."""
    for name, value in params.items():
        if isinstance(value, str) and NUL in value:
            _refuse_nul((where, name))


def _refuse_nul(path: tuple[str, ...]) -> None:
    message = "must not contain NUL (\\u0000) characters"
    raise Unprocessable(f"{_dotted(path)}: {message}", extra=_fields(path, message))


def _dotted(path: tuple[str, ...]) -> str:
    return ".".join(path) or "body"


def _fields(path: tuple[str, ...], message: str) -> dict[str, Any]:
    return {"fields": [{"field": _dotted(path), "message": message}]}
