"""Errors the relay answers with: JSON `{"error": {"type", "message"}}` and a status code."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response


class ApiError(Exception):
    status: int = 400
    type: str = "invalid_request"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        type: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        if type is not None:
            self.type = type
        self.extra = extra or {}

    def body(self) -> dict[str, Any]:
        return {"error": {"type": self.type, "message": self.message, **self.extra}}

    def response(self) -> Response:
        return error_response(self.status, self.type, self.message, self.extra)


class BadRequest(ApiError):
    status, type = 400, "invalid_request"


class MalformedJSON(ApiError):
    status, type = 400, "malformed_json"


class Unauthorized(ApiError):
    status, type = 401, "unauthorized"


class Forbidden(ApiError):
    status, type = 403, "forbidden"


class NotFound(ApiError):
    status, type = 404, "not_found"


class Conflict(ApiError):
    status, type = 409, "conflict"


class PayloadTooLarge(ApiError):
    status, type = 413, "payload_too_large"


class Unprocessable(ApiError):
    status, type = 422, "validation_error"


def error_response(
    status: int, type: str, message: str, extra: dict[str, Any] | None = None
) -> Response:
    body = {"error": {"type": type, "message": message, **(extra or {})}}
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return Response(
        orjson.dumps(body), status_code=status, media_type="application/json", headers=headers
    )
