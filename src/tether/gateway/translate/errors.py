"""Error bodies in each client's format, and readable messages from upstream errors.

Claude Code decides whether to retry, compact or give up from the HTTP status and
`error.type`, and shows `error.message` to the person at the terminal, so the
message must be the upstream's own words, not a stack of nested JSON.
"""

from __future__ import annotations

import html
import re
from typing import Any

import orjson

__all__ = [
    "ANTHROPIC_ERROR_TYPES",
    "UpstreamResponseError",
    "anthropic_error",
    "openai_error",
    "upstream_error_message",
]

MAX_MESSAGE_CHARS = 1000

ANTHROPIC_ERROR_TYPES = frozenset(
    {
        "invalid_request_error",
        "authentication_error",
        "billing_error",
        "permission_error",
        "not_found_error",
        "request_too_large",
        "rate_limit_error",
        "api_error",
        "timeout_error",
        "overloaded_error",
    }
)

_ANTHROPIC_BY_STATUS = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "overloaded_error",
    504: "timeout_error",
    529: "overloaded_error",
}

_OPENAI_BY_STATUS = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout",
    413: "invalid_request_error",
    429: "rate_limit_error",
    503: "overloaded_error",
    504: "timeout",
}

# Providers word context overflow differently; Claude Code recognises Anthropic's
# own "prompt is too long" (its compaction hint), so such 400s get that prefix.
_CONTEXT_OVERFLOW = re.compile(
    r"context[ _-]?length|context window|maximum context|too many tokens|"
    r"prompt is too long|input is too long|reduce the length",
    re.IGNORECASE,
)
_TAG = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_SCRIPT = re.compile(r"<(script|style|head)\b.*?</\1>", re.IGNORECASE | re.DOTALL)


class UpstreamResponseError(ValueError):
    """The upstream answered 200 but its body says the call failed.

    (OpenRouter's `finish_reason: "error"`, an `error` object in a 200 body.)
    Map it with `anthropic_error(502, str(exc))` rather than inventing a turn.
    """


def anthropic_error(
    status: int, message: str, *, upstream_type: str | None = None
) -> tuple[int, dict[str, Any]]:
    """`(status, body)` for an Anthropic Messages client.

    An upstream that already speaks Anthropic gives its own `upstream_type`,
    which wins when it is one Anthropic defines.
    """
    if upstream_type in ANTHROPIC_ERROR_TYPES:
        kind = upstream_type
    else:
        kind = _ANTHROPIC_BY_STATUS.get(status) or (
            "invalid_request_error" if 400 <= status < 500 else "api_error"
        )
    if (
        kind == "invalid_request_error"
        and _CONTEXT_OVERFLOW.search(message)
        and not message.startswith("prompt is too long")
    ):
        message = f"prompt is too long: {message}"
    return status, {"type": "error", "error": {"type": kind, "message": message}}


def openai_error(
    status: int, message: str, *, type: str | None = None
) -> tuple[int, dict[str, Any]]:
    """`(status, body)` for an OpenAI client. 529 becomes 503: OpenAI SDKs know only the latter."""
    if status == 529:
        status = 503
    kind = (
        type
        or _OPENAI_BY_STATUS.get(status)
        or ("invalid_request_error" if 400 <= status < 500 else "server_error")
    )
    return status, {"error": {"message": message, "type": kind, "param": None, "code": None}}


def upstream_error_message(body: bytes | dict | list | str | None) -> str:
    """A readable one-paragraph message from any provider's error body, bounded in length."""
    data: Any = body
    if isinstance(body, bytes | bytearray):
        data = bytes(body).decode("utf-8", "replace")
    if isinstance(data, str):
        text = data.strip()
        if text[:1] in ("{", "["):
            try:
                data = orjson.loads(text)
            except orjson.JSONDecodeError:
                data = text
        else:
            data = text
    if isinstance(data, dict | list):
        found = _message_from_json(data, depth=0)
        text = found if found is not None else orjson.dumps(data).decode()
    elif data and data.lstrip().startswith("<"):
        text = _from_html(data)
    else:
        text = _message_from_json(data, depth=0) or ""
    text = _SPACE.sub(" ", text).strip()
    if not text:
        return "the upstream returned an error with an empty body"
    if len(text) > MAX_MESSAGE_CHARS:
        text = text[: MAX_MESSAGE_CHARS - 1] + "…"
    return text


def _message_from_json(data: Any, depth: int) -> str | None:
    if depth > 4:
        return None
    if isinstance(data, list):
        # Gemini sometimes wraps its error object in a one-element list.
        for item in data[:3]:
            found = _message_from_json(item, depth + 1)
            if found:
                return found
        return None
    if isinstance(data, str):
        inner = data.strip()
        # Messages like 'Provider error: {"error": {...}}' carry the real one inside.
        start = inner.find("{")
        if start != -1 and inner.endswith("}"):
            try:
                nested = _message_from_json(orjson.loads(inner[start:]), depth + 1)
            except orjson.JSONDecodeError:
                nested = None
            if nested:
                prefix = inner[:start].strip().rstrip(":").strip()
                return f"{prefix}: {nested}" if prefix and prefix not in nested else nested
        return inner or None
    if not isinstance(data, dict):
        return None
    error = data.get("error")
    if isinstance(error, dict):
        # OpenRouter: the provider's own words are in metadata.raw.
        meta = error.get("metadata")
        raw = meta.get("raw") if isinstance(meta, dict) else None
        message = _message_from_json(error.get("message"), depth + 1)
        if raw:
            raw_message = _message_from_json(raw, depth + 1)
            if raw_message and raw_message != message:
                provider = meta.get("provider_name")
                who = f"{provider}: " if provider else ""
                return f"{message}: {who}{raw_message}" if message else raw_message
        if message:
            return message
        return _message_from_json({k: v for k, v in error.items() if k != "metadata"}, depth + 1)
    if isinstance(error, str) and error:
        detail = data.get("message") or data.get("error_description")
        return f"{error}: {detail}" if isinstance(detail, str) and detail else error
    for key in ("message", "detail", "msg", "error_message", "description", "title"):
        value = data.get(key)
        if isinstance(value, str) and value:
            return _message_from_json(value, depth + 1)
        if isinstance(value, list | dict) and value:
            # FastAPI/pydantic: detail is a list of {loc, msg}.
            if isinstance(value, list) and all(isinstance(v, dict) for v in value):
                parts = [_detail_item(v) for v in value[:5]]
                return "; ".join(p for p in parts if p) or None
            found = _message_from_json(value, depth + 1)
            if found:
                return found
    return None


def _detail_item(item: dict) -> str:
    msg = item.get("msg") or item.get("message") or ""
    loc = item.get("loc")
    if isinstance(loc, list) and loc:
        return f"{'.'.join(str(p) for p in loc)}: {msg}"
    return str(msg)


def _from_html(text: str) -> str:
    title = _TITLE.search(text)
    body = _SPACE.sub(" ", html.unescape(_TAG.sub(" ", _SCRIPT.sub(" ", text)))).strip()
    if title:
        heading = _SPACE.sub(" ", html.unescape(title.group(1))).strip()
        if heading and not body.startswith(heading):
            return f"{heading}: {body}" if body else heading
    return body
