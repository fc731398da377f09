"""Errors the relay answers with: JSON `{"error": {"type", "message"}}` and a status code
(each type's status is `tether.protocol.ERROR_STATUS`)."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

from tether.protocol import ProtocolError


class ApiError(ProtocolError):
    """An error the relay answers; raised as itself, it is a 400 `invalid_request`."""

    type: str = "invalid_request"
    status: int

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        type: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message, status=status, type=type)
        self.extra = extra or {}

    def body(self) -> dict[str, Any]:
        return {"error": {"type": self.type, "message": self.message, **self.extra}}

    def response(self) -> Response:
        return error_response(self.status, self.type, self.message, self.extra)


class MalformedJSON(ApiError):
    type = "malformed_json"


class Unauthorized(ApiError):
    type = "unauthorized"


class Forbidden(ApiError):
    type = "forbidden"


class NotFound(ApiError):
    type = "not_found"


class Conflict(ApiError):
    type = "conflict"


class PayloadTooLarge(ApiError):
    type = "payload_too_large"


class Unprocessable(ApiError):
    type = "validation_error"


def error_response(
    status: int, type: str, message: str, extra: dict[str, Any] | None = None
) -> Response:
    body = {"error": {"type": type, "message": message, **(extra or {})}}
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return Response(
        orjson.dumps(body), status_code=status, media_type="application/json", headers=headers
    )
