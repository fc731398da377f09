"""The protocol's words are said once (tether.protocol); every other copy is held to it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import get_args

import pytest
from claude_agent_sdk.types import PermissionMode

from tether import protocol
from tether.client.errors import (
    AlreadyResolved,
    BadRequest,
    Conflict,
    RelayError,
    RelayUnavailable,
    error_from,
)
from tether.relay import errors as relay_errors
from tether.relay.stream import WS_HANDLERS

WEB_COPY = Path(protocol.__file__).parent / "web/static/js/protocol.js"


def test_the_web_uis_copy_is_rendered_from_the_protocol() -> None:
    assert WEB_COPY.read_text() == protocol.render_js(), (
        "regenerate it: python -m tether.protocol > src/tether/web/static/js/protocol.js"
    )


def test_no_web_module_spells_out_the_permission_modes() -> None:
    # The modes as a JS array literal anywhere but the generated copy is a second list.
    pattern = re.compile(r"\[\s*\"default\",\s*\"acceptEdits\"")
    for path in WEB_COPY.parent.rglob("*.js"):
        if path != WEB_COPY:
            assert not pattern.search(path.read_text()), path


def test_permission_modes_are_the_ones_claude_code_takes() -> None:
    assert set(protocol.PERMISSION_MODES) == set(get_args(PermissionMode))


def test_every_websocket_action_has_one_handler() -> None:
    assert set(WS_HANDLERS) == set(protocol.WS_ACTIONS)


def test_every_role_posts_only_known_kinds() -> None:
    assert set(protocol.ROLE_KINDS) == set(protocol.ROLES)
    for kinds in protocol.ROLE_KINDS.values():
        assert kinds <= set(protocol.MESSAGE_KINDS)
    assert protocol.ROLE_KINDS["user"] == {"user_text"}
    assert protocol.kind_error("user", "user_text") is None
    assert "may not be 'assistant_text'" in (protocol.kind_error("user", "assistant_text") or "")
    assert "unknown kind 'banner'" in (protocol.kind_error("agent", "banner") or "")


def test_relay_errors_take_their_status_from_the_protocol() -> None:
    classes = [relay_errors.ApiError, *relay_errors.ApiError.__subclasses__()]
    for cls in classes:
        assert cls.status == protocol.ERROR_STATUS[cls.type], cls
    assert relay_errors.Conflict("x", type="session_ended").status == 409


@pytest.mark.parametrize("kind", list(protocol.ERROR_STATUS))
def test_the_client_maps_every_error_type_to_an_exception(kind: str) -> None:
    status = protocol.ERROR_STATUS[kind]
    error = error_from(status, {"error": {"type": kind, "message": "m"}})
    assert (error.status, error.type, error.message) == (status, kind, "m")
    if status >= 500:
        assert isinstance(error, RelayUnavailable)
    else:
        general = protocol.general_error_type(status)
        # Its own class, else its status's general class; 405 and 421 (no API call
        # answers them) have neither and stay a plain RelayError.
        assert type(error).type in (kind, general) or kind in (
            "method_not_allowed",
            "misdirected_request",
        ), type(error)


def test_client_exceptions_by_type_and_by_status() -> None:
    assert type(error_from(409, {"error": {"type": "already_resolved"}})) is AlreadyResolved
    assert type(error_from(409, {"error": {"type": "brand_new"}})) is Conflict
    assert type(error_from(400, {"error": {"type": "malformed_json"}})) is BadRequest
    assert type(error_from(418, "<html>")) is RelayError
    assert type(error_from(502, None)) is RelayUnavailable
