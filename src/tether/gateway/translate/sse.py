"""Anthropic-style Server-Sent Events frame encoding (parsing is `tether.sse`)."""

from __future__ import annotations

import orjson

__all__ = ["encode_sse"]


def encode_sse(event: str, data: dict) -> bytes:
    """One Anthropic-style frame: `event: <name>` then one `data:` JSON line."""
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"
