"""A finished Flow → one row of the flows table. Pure; runs on the writer's thread.

Credentials never reach a row: headers that carry them are left out by name, a `key=`
or `token=` in a query and a URL's `user:pass@` are masked, and the configured redaction
patterns are applied to every body and header value before anything is compressed.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable
from typing import Any

from tether.gateway.config import FlowsConfig
from tether.gateway.flows.flow import Flow
from tether.gateway.flows.usage import Usage, read_usage
from tether.redact import redact_query, redact_url

REDACTED = b"[REDACTED]"
# Header names that carry credentials, and words that mark one (x-goog-api-key,
# anthropic-api-key, x-auth-token, ...). Header values are kept otherwise.
_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
_SECRET_WORDS = ("key", "token", "secret", "auth", "cookie", "password", "signature")

# The columns of the flows table a row fills (the sink's contract).
BODIES = ("request_body", "upstream_request_body", "upstream_response_body", "response_body")


def secret_header(name: str) -> bool:
    name = name.lower()
    return name in _SECRET_HEADERS or any(word in name for word in _SECRET_WORDS)


def _text(value: str | bytes) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else value


def redact(data: bytes, patterns: list[re.Pattern[bytes]]) -> bytes:
    for pattern in patterns:
        data = pattern.sub(REDACTED, data)
    return data


def clean_headers(
    headers: Iterable[tuple[str | bytes, str | bytes]] | None,
    patterns: list[re.Pattern[bytes]],
) -> list[list[str]] | None:
    if headers is None:
        return None
    out = []
    for name, value in headers:
        key = _text(name).lower()
        if secret_header(key):
            continue
        text = _text(value)
        if patterns:
            text = redact(text.encode("latin-1", "replace"), patterns).decode("latin-1")
        out.append([key, text])
    return out


def _header(headers: list[list[str]] | None, name: str) -> str | None:
    for key, value in headers or ():
        if key == name:
            return value
    return None


# Level 1: a third of level 6's CPU for a few percent more bytes; capture shares the
# machine with the calls it records.
LEVEL = 1


def _pack_all(
    bodies: dict[str, bytes | None], patterns: list[re.Pattern[bytes]]
) -> dict[str, bytes | None]:
    """Each body redacted and compressed; a body equal to one already packed (a
    passthrough's request as received and as sent, its stream in and out) is packed once."""
    packed: dict[str, bytes | None] = {}
    done: list[tuple[bytes, bytes]] = []
    for name, data in bodies.items():
        if data is None:
            packed[name] = None
            continue
        same = next((blob for seen, blob in done if seen is data or seen == data), None)
        if same is None:
            same = zlib.compress(redact(data, patterns), LEVEL)
            done.append((data, same))
        packed[name] = same
    return packed


def _cost(config: FlowsConfig, model: str | None, usage: Usage) -> float | None:
    price = config.price_of(model) if model else None
    if price is None or not usage.known:
        return None
    tokens_in = (usage.input_tokens or 0) + (usage.cache_read_tokens or 0)
    tokens_in += usage.cache_write_tokens or 0
    return round((tokens_in * price.input + (usage.output_tokens or 0) * price.output) / 1e6, 8)


def flow_row(flow: Flow, config: FlowsConfig, patterns: list[re.Pattern[bytes]]) -> dict[str, Any]:
    upstream_body = b"".join(flow.upstream_chunks) if flow.upstream_chunks else None
    response_body = b"".join(flow.response_chunks) if flow.response_chunks else None
    usage = read_usage(upstream_body or b"")
    if not usage.known and response_body:
        usage = read_usage(response_body)
    error = flow.error or flow.upstream_error
    if error is None and (flow.status or 0) >= 400 and response_body:
        error = read_usage(response_body).error or f"status {flow.status}"
    if error is None and usage.error:
        error = usage.error  # an error event inside a stream that had started well
    request_headers = clean_headers(flow.request_headers, patterns)
    full = flow.mode == "full"
    bodies = {
        "request_body": flow.raw,
        "upstream_request_body": flow.upstream_request_body,
        "upstream_response_body": upstream_body,
        "response_body": response_body,
    }
    packed = _pack_all(bodies, patterns) if full else dict.fromkeys(bodies)
    headers = {
        "request_headers": request_headers,
        "upstream_request_headers": clean_headers(flow.upstream_request_headers, patterns),
        "upstream_response_headers": clean_headers(flow.upstream_response_headers, patterns),
        "response_headers": clean_headers(flow.response_headers, patterns),
    }
    if not full:
        headers = dict.fromkeys(headers)
    done = flow.t_done if flow.t_done is not None else flow.t_last_byte
    row: dict[str, Any] = {
        "id": flow.id,
        "received_at": flow.received,
        "session_id": _header(request_headers, "x-tether-session"),
        "agent_session_id": _header(request_headers, "x-claude-code-session-id"),
        "surface": flow.surface,
        "method": flow.method,
        "path": flow.path + ("?" + redact_query("?" + flow.query)[1:] if flow.query else ""),
        "capture": flow.mode,
        "client_model": flow.client_model,
        "provider": flow.provider,
        "upstream_model": flow.upstream_model,
        "route_reason": flow.reason,
        "stream": flow.stream,
        "status": flow.status,
        "upstream_status": flow.upstream_status,
        "upstream_url": redact_url(flow.upstream_url) if flow.upstream_url else None,
        "error": error,
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cache_read_tokens": usage.cache_read_tokens,
        "cache_write_tokens": usage.cache_write_tokens,
        "cost": _cost(config, flow.upstream_model, usage),
        "connected_ms": flow.ms(flow.t_connected),
        "first_byte_ms": flow.ms(flow.t_first_byte),
        "last_byte_ms": flow.ms(flow.t_last_byte),
        "duration_ms": flow.ms(done),
        "hook_runs": list(getattr(flow.state, "hook_runs", None) or []),
        **{k: v for k, v in headers.items()},
        **packed,
    }
    row["size"] = sum(len(v) for v in packed.values() if v is not None)
    return row
