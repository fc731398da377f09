"""Input-token estimates for count_tokens and the long-context rule, where no upstream counts.

This is an estimate, not a tokenizer: no tokenizer for the models behind OpenAI-compatible
servers ships inside a package we can install offline (tiktoken downloads its encodings at
run time). BPE tokenizers of current models spend about one token per 3.5 characters of
English and code, and about one per character of CJK text; images cost a fixed ~1,600
tokens (Anthropic's cap for a resized image). Every string in the request counts (system,
messages, tool inputs and results, tool schemas), plus a few tokens of framing per message
and per tool. It errs a little high on purpose: undercounting makes Claude Code compact too
late and hit "prompt is too long".
"""

from __future__ import annotations

import math
from typing import Any

CHARS_PER_TOKEN = 3.5
IMAGE_TOKENS = 1600
PER_MESSAGE = 4
PER_TOOL = 8
# Keys whose values are identifiers or opaque blobs, not text the model reads.
_SKIP_KEYS = frozenset(
    {
        "type",
        "id",
        "tool_use_id",
        "tool_call_id",
        "signature",
        "data",
        "cache_control",
        "media_type",
    }
)


def _text_tokens(text: str) -> float:
    if text.isascii():
        return len(text) / CHARS_PER_TOKEN
    wide = sum(1 for ch in text if ord(ch) > 0x2E7F)  # CJK and beyond: ~1 token each
    return (len(text) - wide) / CHARS_PER_TOKEN + wide


def _walk(value: Any) -> float:
    if isinstance(value, str):
        return _text_tokens(value)
    if isinstance(value, list):
        return sum(_walk(v) for v in value)
    if isinstance(value, dict):
        kind = value.get("type")
        if kind in ("image", "image_url", "input_image"):
            return IMAGE_TOKENS
        return sum(_walk(v) for k, v in value.items() if k not in _SKIP_KEYS)
    return 0.0


def estimate_tokens(body: dict[str, Any]) -> int:
    """Estimated input tokens of an Anthropic Messages or OpenAI Chat request body."""
    total = _walk(body.get("system"))
    messages = body.get("messages")
    if isinstance(messages, list):
        total += sum(_walk(m) + PER_MESSAGE for m in messages)
    tools = body.get("tools")
    if isinstance(tools, list):
        total += sum(_walk(t) + PER_TOOL for t in tools)
    return max(1, math.ceil(total))
