"""Opaque strings tether hands a client to carry back: a prefix, then base64 of a JSON
object. The prefix says the string is ours (and which kind); anyone else's comes back as
None, so it passes through untouched. Pure: no I/O."""

from __future__ import annotations

import base64
from typing import Any

import orjson


def pack(prefix: str, fields: dict[str, Any]) -> str:
    return prefix + base64.b64encode(orjson.dumps(fields)).decode()


def unpack(prefix: str, value: Any) -> dict[str, Any] | None:
    """The object `pack(prefix, …)` wrote, or None for a string that is not one."""
    if not isinstance(value, str) or not value.startswith(prefix):
        return None
    try:
        data = orjson.loads(base64.b64decode(value[len(prefix) :]))
    except (ValueError, orjson.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None
