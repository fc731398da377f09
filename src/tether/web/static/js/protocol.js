// The relay protocol's words, for the web UI. Generated from src/tether/protocol.py
// by `python -m tether.protocol > src/tether/web/static/js/protocol.js`; do not
// edit by hand (a test fails when the two differ).

export const SCOPES = Object.freeze(["admin", "agent", "client", "viewer"]);
export const SESSION_STATUSES = Object.freeze(["starting", "running", "idle", "waiting", "ended"]);
export const PERMISSION_MODES = Object.freeze(["default", "acceptEdits", "plan", "bypassPermissions", "dontAsk", "auto"]);
export const PERMISSION_STATUSES = Object.freeze(["pending", "allowed", "denied", "cancelled", "expired"]);
export const ROLES = Object.freeze(["user", "agent", "system"]);
export const MESSAGE_KINDS = Object.freeze(["user_text", "assistant_text", "thinking", "tool_call", "tool_result", "plan", "usage", "result", "status", "error", "system"]);
export const ROLE_KINDS = Object.freeze({"user": ["user_text"], "agent": ["user_text", "assistant_text", "thinking", "tool_call", "tool_result", "plan", "usage", "result", "status", "error", "system"], "system": ["status", "error", "system"]});
export const EVENT_TYPES = Object.freeze(["session", "message", "permission_request", "permission_resolved", "control", "ping", "reset"]);
export const CONTROL_ACTIONS = Object.freeze(["interrupt", "permission_mode", "end"]);
export const WS_ACTIONS = Object.freeze(["create_session", "update_session", "post_messages", "interrupt", "set_permission_mode", "end_session", "open_permission", "respond", "cancel_permission", "get_permission"]);
export const PUSH_EVENTS = Object.freeze(["permission", "turn", "ended"]);
export const ERROR_STATUS = Object.freeze({"invalid_request": 400, "malformed_json": 400, "unauthorized": 401, "forbidden": 403, "not_found": 404, "method_not_allowed": 405, "conflict": 409, "version_conflict": 409, "already_resolved": 409, "session_ended": 409, "gone": 410, "payload_too_large": 413, "misdirected_request": 421, "validation_error": 422, "too_many_connections": 429, "internal_error": 500});
