"""What the four Gemini translators share: field names in both spellings, finish reasons,
usage, Google-shaped errors, and the envelopes that carry opaque state through a client
that only round-trips ids and signatures.

Gemini's REST API (proto JSON) accepts every field in camelCase and in snake_case; clients
use either (`systemInstruction`, `system_instruction`), so readers go through `get`.
"""

from __future__ import annotations

import base64
import binascii
import functools
from typing import Any

import orjson

__all__ = [
    "GEMINI_SIGNATURE",
    "anthropic_usage",
    "decode_thinking",
    "encode_thinking",
    "gemini_error",
    "gemini_usage",
    "get",
    "signature_from_id",
    "tool_id_with_signature",
]

# Thinking blocks made from Gemini thoughts carry this prefix before the thought signature,
# so they can be sent back to Gemini (and recognized as foreign anywhere else).
GEMINI_SIGNATURE = "tether:gemini:"
_ID_SIGNATURE = "__gs_"
_ENVELOPE = b"tether-thinking-v1\x00"

_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    408: "DEADLINE_EXCEEDED",
    409: "ABORTED",
    413: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def get(data: Any, camel: str, default: Any = None) -> Any:
    """`data[camel]`, or the snake_case spelling of it, or `default`."""
    if not isinstance(data, dict):
        return default
    if camel in data:
        return data[camel]
    return data.get(snake_case(camel), default)


@functools.lru_cache(maxsize=512)
def snake_case(camel: str) -> str:
    """`thinkingConfig` → `thinking_config`. Cached: the names are the translators' own
    constants, and spelling one out on every lookup was ~30% of a Gemini stream's CPU
    (cProfile, bench.gateway.profile gemini-out-stream)."""
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in camel)


def gemini_error(status: int, message: str) -> tuple[int, dict[str, Any]]:
    """`(status, body)` as Google APIs answer: `{"error": {"code", "message", "status"}}`.
    Anthropic's 529 (overloaded) is 503 UNAVAILABLE here."""
    if status == 529:
        status = 503
    name = _STATUS.get(status) or ("INVALID_ARGUMENT" if 400 <= status < 500 else "INTERNAL")
    return status, {"error": {"code": status, "message": message, "status": name}}


def gemini_usage(usage: Any) -> dict[str, int]:
    """Anthropic usage → Gemini `usageMetadata` (prompt counts include cached tokens)."""
    usage = usage if isinstance(usage, dict) else {}
    cached = usage.get("cache_read_input_tokens") or 0
    prompt = (usage.get("input_tokens") or 0) + cached
    prompt += usage.get("cache_creation_input_tokens") or 0
    output = usage.get("output_tokens") or 0
    out = {
        "promptTokenCount": prompt,
        "candidatesTokenCount": output,
        "totalTokenCount": prompt + output,
    }
    if cached:
        out["cachedContentTokenCount"] = cached
    return out


def anthropic_usage(metadata: Any) -> dict[str, int]:
    """Gemini `usageMetadata` → Anthropic usage (thought tokens are output tokens)."""
    metadata = metadata if isinstance(metadata, dict) else {}
    prompt = get(metadata, "promptTokenCount") or 0
    cached = get(metadata, "cachedContentTokenCount") or 0
    output = (get(metadata, "candidatesTokenCount") or 0) + (
        get(metadata, "thoughtsTokenCount") or 0
    )
    return {
        "input_tokens": max(prompt - cached, 0),
        "output_tokens": output,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": cached,
    }


# --- a Gemini thought signature inside an Anthropic tool_use id -------------------------
# Gemini 3 wants the signature of a function call back with it next turn; an Anthropic
# client round-trips exactly the tool_use id, which allows only [A-Za-z0-9_-]: the standard
# base64 of the signature, made URL-safe and unpadded, fits.


def tool_id_with_signature(base: str, signature: Any) -> str:
    if not isinstance(signature, str) or not signature:
        return base
    safe = signature.replace("+", "-").replace("/", "_").rstrip("=")
    return f"{base}{_ID_SIGNATURE}{safe}"


def signature_from_id(tool_id: Any) -> str | None:
    if not isinstance(tool_id, str) or _ID_SIGNATURE not in tool_id:
        return None
    safe = tool_id.split(_ID_SIGNATURE, 1)[1]
    return safe.replace("-", "+").replace("_", "/") + "=" * (-len(safe) % 4)


# --- Anthropic thinking inside a Gemini thoughtSignature ---------------------------------
# Anthropic wants the signed thinking of a tool-use turn back with it; a Gemini client
# round-trips the thoughtSignature of a function call part, which is base64 bytes.


def encode_thinking(blocks: list[dict[str, Any]]) -> str | None:
    """Signed thinking blocks as one thoughtSignature value (None when there are none)."""
    kept = [
        [b.get("type"), b.get("thinking") or "", b.get("signature") or b.get("data") or ""]
        for b in blocks
        if b.get("type") in ("thinking", "redacted_thinking")
        and (b.get("signature") or b.get("data"))
    ]
    if not kept:
        return None
    return base64.b64encode(_ENVELOPE + orjson.dumps(kept)).decode()


def decode_thinking(signature: Any) -> list[dict[str, Any]]:
    """The thinking blocks `encode_thinking` put in a thoughtSignature; [] for any other."""
    if not isinstance(signature, str) or not signature:
        return []
    try:
        raw = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        return []
    if not raw.startswith(_ENVELOPE):
        return []
    try:
        kept = orjson.loads(raw[len(_ENVELOPE) :])
    except orjson.JSONDecodeError:
        return []
    blocks: list[dict[str, Any]] = []
    for item in kept if isinstance(kept, list) else ():
        if not (isinstance(item, list) and len(item) == 3):
            continue
        kind, text, sig = item
        if kind == "redacted_thinking":
            blocks.append({"type": "redacted_thinking", "data": sig})
        else:
            blocks.append({"type": "thinking", "thinking": text, "signature": sig})
    return blocks
