"""Server-Sent Events frame encoding (parsing is `tether.sse`)."""

from __future__ import annotations

from typing import Any

import orjson

__all__ = ["DONE", "encode_data", "encode_sse"]

# How an OpenAI chat stream ends.
DONE = b"data: [DONE]\n\n"


def encode_sse(event: str, data: dict) -> bytes:
    """One Anthropic-style frame: `event: <name>` then one `data:` JSON line."""
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def encode_data(data: Any) -> bytes:
    """One frame without an event name (OpenAI's and Gemini's streams): a `data:` JSON line."""
    return b"data: " + orjson.dumps(data) + b"\n\n"
