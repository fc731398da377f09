"""The relay's errors as Python exceptions, one class per `{"error": {"type"}}` it answers.

Callers catch what they can act on (`AlreadyResolved`, `NotFound`, `Unauthorized`…) and
treat the rest as `RelayError`. Every error carries the relay's `status`, `type` and
`message`, and the whole error object as `body` (e.g. `fields`, `current`, `permission`).
"""

from __future__ import annotations

from typing import Any

from tether.protocol import ERROR_STATUS, ProtocolError, general_error_type


class RelayError(ProtocolError):
    """Something the relay answered with an error, or could not be asked at all."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        type: str | None = None,
        body: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message, status=status, type=type)
        self.body: dict[str, Any] = body or {}


class RelayUnavailable(RelayError):
    """The relay cannot be reached (refused, timed out, down), or failed on its side (5xx)."""

    type = "unavailable"


class BadRequest(RelayError):
    type = "invalid_request"


class Unauthorized(RelayError):
    """The relay does not accept the token. Retrying will not help."""

    type = "unauthorized"


class Forbidden(RelayError):
    """The token is valid but its scope does not allow the call."""

    type = "forbidden"


class NotFound(RelayError):
    type = "not_found"


class Conflict(RelayError):
    type = "conflict"


class AlreadyResolved(Conflict):
    """The permission request was answered (or cancelled, or expired) before this answer.
    `permission` is the request as it was resolved."""

    type = "already_resolved"

    @property
    def permission(self) -> dict[str, Any] | None:
        return self.body.get("permission")


class VersionConflict(Conflict):
    """`expected_version` was stale; `current` is `{field, version, value}`."""

    type = "version_conflict"

    @property
    def current(self) -> dict[str, Any] | None:
        return self.body.get("current")


class SessionEnded(Conflict):
    type = "session_ended"


class Gone(RelayError):
    """A pairing link already used or expired."""

    type = "gone"


class PayloadTooLarge(RelayError):
    type = "payload_too_large"


class TooManyConnections(RelayError):
    """The token (or the relay) holds as many live event streams as it may; worth a retry
    later, which `events()` does by itself."""

    type = "too_many_connections"


class ValidationFailed(RelayError):
    """A field was wrong; `fields` lists each `{field, message}`."""

    type = "validation_error"

    @property
    def fields(self) -> list[dict[str, Any]]:
        return list(self.body.get("fields") or [])


def _error_classes(cls: type[RelayError]) -> list[type[RelayError]]:
    return [cls, *(c for sub in cls.__subclasses__() for c in _error_classes(sub))]


# Each type the protocol defines that has a class of its own; any other type falls back on
# the class of its status's general type (`malformed_json` → `BadRequest`).
_BY_TYPE: dict[str, type[RelayError]] = {
    cls.type: cls for cls in _error_classes(RelayError) if cls.type in ERROR_STATUS
}


def error_from(status: int, payload: Any) -> RelayError:
    """The exception for an error answer: `payload` is the decoded body (or anything else
    when the body was not the relay's JSON, e.g. a proxy's HTML page)."""
    error = payload.get("error") if isinstance(payload, dict) else None
    if not isinstance(error, dict):
        error = {}
    kind = str(error.get("type") or "")
    message = str(error.get("message") or f"the relay answered HTTP {status}")
    if status >= 500:
        cls: type[RelayError] = RelayUnavailable
    else:
        general = general_error_type(status)
        cls = _BY_TYPE.get(kind) or _BY_TYPE.get(general or "") or RelayError
    return cls(message, status=status, type=kind or None, body=error)
