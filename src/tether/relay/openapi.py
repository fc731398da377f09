"""The relay API's one description: a table of operations that the router mounts and that
`/api/v1/openapi.json` (OpenAPI 3.1) is written from, with request bodies taken from the
same pydantic models that validate them, and query parameters from the same `Param`s
the handlers read them with. The document cannot drift from what the relay accepts.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from tether import __version__


@dataclass(frozen=True)
class Param:
    """A query parameter; for numbers, its bounds are the ones the handler enforces."""

    name: str
    type: str = "string"  # "string", "integer" or "number"
    description: str = ""
    minimum: float | None = None
    maximum: float | None = None
    default: Any = None

    def schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type}
        if self.minimum is not None:
            out["minimum"] = self.minimum
        if self.maximum is not None:
            out["maximum"] = self.maximum
        if self.default is not None:
            out["default"] = self.default
        return out


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # under /api/v1
    handler: Callable[..., Any]
    summary: str
    body: type[BaseModel] | None = None
    body_list: bool = False  # the body may also be a non-empty list of `body`
    query: tuple[Param, ...] = ()
    created: bool = False  # answers 201 rather than 200
    stream: bool = False  # answers text/event-stream
    raw: bool = False  # answers bytes (application/octet-stream)
    headers: tuple[Param, ...] = field(default=())


ERROR_STATUSES = {
    "400": "malformed JSON",
    "401": "no token, or one the relay does not accept",
    "403": "the token's scope does not allow this",
    "404": "unknown session, permission request or endpoint",
    "409": "conflict: stale version, already resolved, session ended",
    "410": "a pairing link already used or expired",
    "413": "the body is over max_body_bytes",
    "422": "a field (body, path or query) is wrong; the message names it",
}

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["type", "message"],
            "properties": {"type": {"type": "string"}, "message": {"type": "string"}},
        }
    },
}


def _path_params(path: str) -> list[dict[str, Any]]:
    names = [part[1:-1] for part in path.split("/") if part.startswith("{")]
    return [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in names
    ]


def _operation(op: Operation, schemas: dict[tuple[type[BaseModel], str], Any]) -> dict:
    parameters = _path_params(op.path) + [
        {"name": p.name, "in": "query", "required": False, "schema": p.schema()}
        | ({"description": p.description} if p.description else {})
        for p in op.query
    ]
    parameters += [
        {"name": p.name, "in": "header", "required": False, "schema": p.schema()}
        for p in op.headers
    ]
    success: dict[str, Any] = {"description": "OK"}
    if op.stream:
        success["content"] = {"text/event-stream": {"schema": {"type": "string"}}}
    elif op.raw:
        success["content"] = {"application/octet-stream": {"schema": {"type": "string"}}}
    else:
        success["content"] = {"application/json": {"schema": {"type": "object"}}}
    responses: dict[str, Any] = {"201" if op.created else "200": success}
    for status, why in ERROR_STATUSES.items():
        responses[status] = {
            "description": why,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
    out: dict[str, Any] = {
        "summary": op.summary,
        "operationId": op.handler.__name__,
        "parameters": parameters,
        "responses": responses,
    }
    if op.body is not None:
        one = schemas[(op.body, "validation")]
        schema = (
            {"oneOf": [one, {"type": "array", "items": one, "minItems": 1}]}
            if op.body_list
            else one
        )
        out["requestBody"] = {
            "required": False,
            "content": {"application/json": {"schema": schema}},
        }
    return out


@functools.cache
def openapi_document(operations: tuple[Operation, ...]) -> dict[str, Any]:
    models = sorted({op.body for op in operations if op.body is not None}, key=lambda m: m.__name__)
    schemas, top = models_json_schema(
        [(model, "validation") for model in models], ref_template="#/components/schemas/{model}"
    )
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op, schemas)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "tether relay",
            "version": __version__,
            "description": (
                "Sessions, messages, permission requests and their events. The WebSocket "
                "(/api/v1/ws) and the older confirmation contract (/permissions/...) are "
                "described in docs/protocol.md."
            ),
        },
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": {**top.get("$defs", {}), "Error": ERROR_SCHEMA},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
