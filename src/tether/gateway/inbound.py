"""The client side of a call: its wire format, its key, its body, and errors in its format."""

from __future__ import annotations

import hmac
import re
from enum import Enum
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from tether.gateway.translate.errors import anthropic_error, openai_error
from tether.gateway.translate.gemini_wire import gemini_error


class Format(Enum):
    ANTHROPIC = "anthropic"
    OPENAI = "openai"
    GEMINI = "gemini"


class ClientError(Exception):
    """A request refused before it reached a provider; rendered in the client's format."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        kind: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind = kind
        self.headers = headers or {}


def json_bytes_response(
    status: int, body: bytes, headers: dict[str, str] | None = None
) -> Response:
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def error_response(
    fmt: Format,
    status: int,
    message: str,
    *,
    kind: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    status, body = error_body(fmt, status, message, kind)
    return json_bytes_response(status, orjson.dumps(body), headers)


def error_body(
    fmt: Format, status: int, message: str, kind: str | None = None
) -> tuple[int, dict[str, Any]]:
    """`kind` is an Anthropic error type; OpenAI clients get the type their status implies
    (their SDKs pick the exception class from the status alone)."""
    if fmt is Format.ANTHROPIC:
        return anthropic_error(status, message, upstream_type=kind)
    if fmt is Format.GEMINI:
        return gemini_error(status, message)
    return openai_error(status, message)


def client_key(request: Request) -> str | None:
    """The key the client presented: `x-api-key` (or Gemini's `x-goog-api-key`), else
    `Authorization: Bearer`."""
    key = request.headers.get("x-api-key") or request.headers.get("x-goog-api-key")
    if key:
        return key
    auth = request.headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def check_key(request: Request, keys: tuple[str, ...], presented: str | None = None) -> None:
    """With gateway keys configured, the request must carry one (compared in constant time,
    and against every key so the time says nothing about which one was close). `presented`
    is a key found elsewhere (Gemini's `?key=`), checked when no header carries one."""
    if not keys:
        return
    presented = client_key(request) or presented
    if presented is None:
        raise ClientError(
            401,
            "this gateway needs a key: send it as x-api-key or Authorization: Bearer",
            kind="authentication_error",
        )
    given = presented.encode()
    ok = False
    for key in keys:
        ok |= hmac.compare_digest(given, key.encode())
    if not ok:
        raise ClientError(401, "invalid gateway key", kind="authentication_error")


async def read_body(request: Request, limit: int) -> bytes:
    """The whole request body, refused with 413 once it passes `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise ClientError(
            413,
            f"request body is {int(declared)} bytes; this gateway accepts at most {limit}",
            kind="request_too_large",
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ClientError(
                413,
                f"request body is over this gateway's limit of {limit} bytes",
                kind="request_too_large",
            )
        chunks.append(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def parse_json_object(raw: bytes) -> dict[str, Any]:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ClientError(
            400, f"request body is not valid JSON: {exc}", kind="invalid_request_error"
        ) from None
    if not isinstance(body, dict):
        raise ClientError(400, "request body must be a JSON object", kind="invalid_request_error")
    return body


MAX_MODEL_NAME = 256
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def require_model(body: dict[str, Any]) -> str:
    """The model name, checked before any upstream call: it goes into a header of the
    answer, where a newline would break the response after the provider was paid."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise ClientError(
            400, "model: field required (a model name string)", kind="invalid_request_error"
        )
    if len(model) > MAX_MODEL_NAME or _CONTROL_CHARS.search(model):
        raise ClientError(
            400,
            f"model: must be a name of at most {MAX_MODEL_NAME} characters, "
            "without control characters",
            kind="invalid_request_error",
        )
    return model


def check_origin(request: Request, allowed: tuple[str, ...]) -> None:
    """Refuse a call made by a web page (browsers send `Origin`; SDKs and CLIs do not)
    unless its origin is allowed: a page must not spend the provider's key."""
    origin = request.headers.get("origin")
    if origin is not None and origin.rstrip("/") not in allowed:
        raise ClientError(
            403,
            f"requests from web pages are refused: origin {origin!r} is not in "
            "gateway.allowed_origins",
            kind="permission_error",
        )
