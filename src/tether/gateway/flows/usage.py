"""Token usage and errors, read from a body in any of the four formats, whole or streamed.

Pure. Each format names its counts differently and spreads them over a stream
(Anthropic: input in message_start, output in message_delta; OpenAI: a last chunk;
Responses: response.completed; Gemini: usageMetadata on chunks), so every JSON object
found is looked at and the largest value of each count is kept.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from tether.sse import SSEParser

_INPUT = ("input_tokens", "prompt_tokens", "promptTokenCount")
_OUTPUT = ("output_tokens", "completion_tokens", "candidatesTokenCount")
_CACHE_READ = ("cache_read_input_tokens", "cachedContentTokenCount")
_CACHE_WRITE = ("cache_creation_input_tokens",)


@dataclass
class Usage:
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_write_tokens: int | None = None
    error: str | None = None

    def _take(self, name: str, usage: dict[str, Any], keys: tuple[str, ...]) -> None:
        for key in keys:
            value = usage.get(key)
            if isinstance(value, int) and not isinstance(value, bool):
                current = getattr(self, name)
                setattr(self, name, value if current is None else max(current, value))

    def add(self, usage: dict[str, Any]) -> None:
        self._take("input_tokens", usage, _INPUT)
        self._take("output_tokens", usage, _OUTPUT)
        self._take("cache_read_tokens", usage, _CACHE_READ)
        self._take("cache_write_tokens", usage, _CACHE_WRITE)
        details = usage.get("prompt_tokens_details") or usage.get("input_tokens_details")
        if isinstance(details, dict):
            self._take("cache_read_tokens", details, ("cached_tokens",))

    @property
    def known(self) -> bool:
        return self.input_tokens is not None or self.output_tokens is not None


def objects(body: bytes) -> Iterator[Any]:
    """Each JSON value in a body: one JSON document, a JSON array stream, or SSE data."""
    stripped = body.lstrip()
    if not stripped:
        return
    if stripped[:1] in (b"{", b"["):
        try:
            value = orjson.loads(stripped)
        except orjson.JSONDecodeError:
            pass
        else:
            yield from value if isinstance(value, list) else (value,)
            return
    parser = SSEParser()
    for message in [*parser.feed(body), *parser.close()]:
        if message.data.startswith(("{", "[")):
            try:
                yield orjson.loads(message.data)
            except orjson.JSONDecodeError:
                continue


def _error_text(value: Any) -> str | None:
    if isinstance(value, dict):
        message = value.get("message")
        if isinstance(message, str):
            return message
        return _error_text(value.get("error"))
    return value if isinstance(value, str) else None


def read_usage(body: bytes) -> Usage:
    usage = Usage()
    for item in objects(body):
        if not isinstance(item, dict):
            continue
        for holder in (item, item.get("message"), item.get("response")):
            if not isinstance(holder, dict):
                continue
            for key in ("usage", "usageMetadata"):
                found = holder.get(key)
                if isinstance(found, dict):
                    usage.add(found)
        if usage.error is None and (item.get("type") == "error" or "error" in item):
            usage.error = _error_text(item.get("error")) or _error_text(item)
    return usage
