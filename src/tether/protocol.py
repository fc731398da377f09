"""The relay protocol's words, said once: scopes and what each may do, permission modes,
message roles and kinds (and which role may post each kind), session statuses, event
types, WebSocket actions, and error types with their HTTP status.

A leaf module: it imports nothing of tether, so the relay, the client, the CLI, the
config and the e2e code all import it (the runner speaks it through the client), and the
web UI's copy (`web/static/js/protocol.js`) is rendered from it (`python -m
tether.protocol`) and checked against it by the tests.
"""

from __future__ import annotations

import json
from enum import StrEnum

# ── tokens ────────────────────────────────────────────────────────────────────────

SCOPES = ("admin", "agent", "client", "viewer")


class Capability(StrEnum):
    """What a token's scope lets it do (see SCOPE_CAPABILITIES)."""

    read = "read"
    create_session = "create_session"
    update_session = "update_session"
    post_message = "post_message"
    steer = "steer"  # interrupt, permission-mode change
    end_session = "end_session"
    open_permission = "open_permission"
    answer_permission = "answer_permission"
    manage_tokens = "manage_tokens"
    # Add a session key wrapped to another paired device (never replace or remove one):
    # how a device that holds a session's key shares it with one paired later.
    grant_key = "grant_key"
    # The gateway's captured model calls hold prompts and answers: not for viewers, and
    # not for agent tokens (a runner has no need to read any session's model calls).
    read_flows = "read_flows"


SCOPE_CAPABILITIES: dict[str, frozenset[Capability]] = {
    "admin": frozenset(Capability),
    "agent": frozenset(
        {
            Capability.read,
            Capability.create_session,
            Capability.update_session,
            Capability.post_message,
            Capability.end_session,
            Capability.open_permission,
        }
    ),
    "client": frozenset(
        {
            Capability.read,
            Capability.post_message,
            Capability.steer,
            Capability.end_session,
            Capability.answer_permission,
            Capability.read_flows,
            Capability.grant_key,
        }
    ),
    "viewer": frozenset({Capability.read}),
}

# ── sessions ──────────────────────────────────────────────────────────────────────

SESSION_STATUSES = ("starting", "running", "idle", "waiting", "ended")

# The modes Claude Code takes, both as `--permission-mode` and as a mode change while it
# runs (claude-agent-sdk's `PermissionMode`; the tests hold the two equal).
PERMISSION_MODES = ("default", "acceptEdits", "plan", "bypassPermissions", "dontAsk", "auto")

PERMISSION_STATUSES = ("pending", "allowed", "denied", "cancelled", "expired")

# ── messages ──────────────────────────────────────────────────────────────────────

ROLES = ("user", "agent", "system")

MESSAGE_KINDS = (
    "user_text",
    "assistant_text",
    "thinking",
    "tool_call",
    "tool_result",
    "plan",
    "usage",
    "result",
    "status",
    "error",
    "system",
)

# Who may post what. A person (role `user`) only ever prompts. The agent (role `agent`)
# may post every kind — `user_text` too, for the "user" frames of its own stream (a
# subagent's prompt) — and the session's start and housekeeping are `system`. A viewer
# tells who wrote a message from its role, never from its kind.
ROLE_KINDS: dict[str, frozenset[str]] = {
    "user": frozenset({"user_text"}),
    "agent": frozenset(MESSAGE_KINDS),
    "system": frozenset({"system", "status", "error"}),
}

# Scopes that may post as any role; every other scope that may post is stored as `user`.
SCOPES_POSTING_ANY_ROLE = frozenset({"admin", "agent"})


def kind_error(role: str, kind: str) -> str | None:
    """Why a message of this role may not have this kind, or None when it may."""
    if kind not in MESSAGE_KINDS:
        return f"unknown kind {kind!r}; one of {', '.join(MESSAGE_KINDS)}"
    allowed = ROLE_KINDS.get(role, frozenset())
    if kind not in allowed:
        ordered = [k for k in MESSAGE_KINDS if k in allowed]
        return f"a {role} message may not be {kind!r}; a {role} posts {', '.join(ordered)}"
    return None


# ── events ────────────────────────────────────────────────────────────────────────

EVENT_TYPES = (
    "session",
    "message",
    "permission_request",
    "permission_resolved",
    "control",
    "ping",
    # A cursor beyond the end of the log: the stream starts from the end (docs/protocol.md).
    "reset",
)
PERMISSION_EVENTS = frozenset({"permission_request", "permission_resolved"})
CONTROL_ACTIONS = ("interrupt", "permission_mode", "end")

# Actions a WebSocket frame `{"type": "action", "action": NAME}` may name.
WS_ACTIONS = (
    "create_session",
    "update_session",
    "post_messages",
    "interrupt",
    "set_permission_mode",
    "end_session",
    "open_permission",
    "respond",
    "cancel_permission",
    "get_permission",
)

# ── push notifications ────────────────────────────────────────────────────────────

# What a device subscribed to Web Push may be notified of; each device chooses among them
# (docs/protocol.md, "Push notifications"). `permission`: a request waits for an answer
# (its Allow/Deny actions answer it; a `resolved` push closes it everywhere); `turn`: the
# agent finished a turn; `ended`: a session ended or crashed.
PUSH_EVENTS = ("permission", "turn", "ended")

# ── end-to-end encryption ─────────────────────────────────────────────────────────

# The `encryption` setting (docs/encryption.md).
ENCRYPTION_MODES = ("off", "on", "required")


def is_sealed(value: object) -> bool:
    """Whether a value has the shape of an end-to-end encrypted box. Only the shape: the
    relay holds no key and can tell ciphertext from plaintext, nothing more."""
    return (
        isinstance(value, dict)
        and value.get("e2e") == 1
        and isinstance(value.get("n"), str)
        and isinstance(value.get("c"), str)
    )


# ── errors ────────────────────────────────────────────────────────────────────────

# Every `{"error": {"type"}}` the relay answers, with its status. The first type given
# for a status is the general one a client falls back on for an unknown type.
ERROR_STATUS: dict[str, int] = {
    "invalid_request": 400,
    "malformed_json": 400,
    "unauthorized": 401,
    "forbidden": 403,
    "not_found": 404,
    "method_not_allowed": 405,
    "conflict": 409,
    "version_conflict": 409,
    "already_resolved": 409,
    "session_ended": 409,
    # A pairing link used or expired.
    "gone": 410,
    "payload_too_large": 413,
    "misdirected_request": 421,
    "validation_error": 422,
    "too_many_connections": 429,
    "internal_error": 500,
}


def general_error_type(status: int) -> str | None:
    """The general error type of a status (409 → `conflict`), None when it has none."""
    return next((kind for kind, code in ERROR_STATUS.items() if code == status), None)


class ProtocolError(Exception):
    """An error by its protocol `type`, with the status that type is answered with. The
    relay raises its subclasses (relay/errors.py); the client raises its own for what the
    relay answered (client/errors.py). A subclass names its type; the status comes with it
    from ERROR_STATUS, so nothing is kept in step by hand."""

    type: str = "error"
    status: int | None = None

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        cls.status = ERROR_STATUS.get(cls.type)

    def __init__(self, message: str, *, status: int | None = None, type: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if type is not None:
            self.type = type
            self.status = ERROR_STATUS.get(type, self.status)
        if status is not None:
            self.status = status


# ── the web UI's copy ─────────────────────────────────────────────────────────────


def vocabulary() -> dict[str, object]:
    """The words a client needs, as JSON-ready data."""
    return {
        "SCOPES": list(SCOPES),
        "SESSION_STATUSES": list(SESSION_STATUSES),
        "PERMISSION_MODES": list(PERMISSION_MODES),
        "PERMISSION_STATUSES": list(PERMISSION_STATUSES),
        "ROLES": list(ROLES),
        "MESSAGE_KINDS": list(MESSAGE_KINDS),
        "ROLE_KINDS": {
            role: [k for k in MESSAGE_KINDS if k in kinds] for role, kinds in ROLE_KINDS.items()
        },
        "EVENT_TYPES": list(EVENT_TYPES),
        "CONTROL_ACTIONS": list(CONTROL_ACTIONS),
        "WS_ACTIONS": list(WS_ACTIONS),
        "PUSH_EVENTS": list(PUSH_EVENTS),
        "ERROR_STATUS": ERROR_STATUS,
    }


def render_js() -> str:
    """`web/static/js/protocol.js`: the vocabulary as an ES module of frozen constants."""
    lines = [
        "// The relay protocol's words, for the web UI. Generated from src/tether/protocol.py",
        "// by `python -m tether.protocol > src/tether/web/static/js/protocol.js`; do not",
        "// edit by hand (a test fails when the two differ).",
        "",
    ]
    for name, value in vocabulary().items():
        lines.append(f"export const {name} = Object.freeze({json.dumps(value)});")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render_js(), end="")
