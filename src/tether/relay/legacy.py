"""The older confirmation contract's event shapes, as terminal handlers written for it read
them (ccproxy-api's `ccproxy.plugins.permissions.handlers.cli`, unmodified).

Such a handler keys requests by `request_id`, learns the outcome from `allowed`, and
validates `input` as a map of strings. The relay's own fields stay alongside.
"""

from __future__ import annotations

from typing import Any

import orjson

from tether.relay.event import WireEvent


def legacy_event(event: WireEvent) -> WireEvent:
    """The same event, its permission request reshaped for the older contract."""
    if event.type not in ("permission_request", "permission_resolved"):
        return event
    return WireEvent(event.id, event.type, event.session_id, legacy_permission(event.data))


def legacy_permission(permission: dict[str, Any]) -> dict[str, Any]:
    decision = permission.get("decision") or {}
    return {
        **permission,
        "request_id": permission["id"],
        "input": {key: _text(value) for key, value in (permission.get("input") or {}).items()},
        "tool_input": permission.get("input"),
        "allowed": permission.get("status") == "allowed" or decision.get("behavior") == "allow",
    }


def _text(value: Any) -> str:
    """A string as it is; anything else as its JSON, so nothing is lost in the string map."""
    return value if isinstance(value, str) else orjson.dumps(value).decode()
