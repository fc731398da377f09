"""`encryption: required`: the relay refuses plaintext sessions and content.

The relay holds no key and checks only shapes (`protocol.is_sealed`): a session must come
with a key set, and message content, permission input and an answer's edited input must be
sealed boxes. Anything else is a 422 naming the field, so a runner or client that forgot
to encrypt learns it at once instead of leaking.
"""

from __future__ import annotations

from typing import Any

from tether.protocol import is_sealed
from tether.relay.errors import Unprocessable

HINT = "this relay requires end-to-end encryption (encryption: required)"


def _refuse(field: str, what: str) -> None:
    message = f"{field}: {what}; {HINT}"
    raise Unprocessable(message, extra={"fields": [{"field": field, "message": message}]})


def check_session(required: bool, metadata: dict[str, Any] | None) -> None:
    e2e = (metadata or {}).get("e2e")
    if required and not (
        isinstance(e2e, dict) and isinstance(e2e.get("keys"), dict) and e2e["keys"]
    ):
        _refuse("metadata.e2e", "a session must carry its wrapped keys")


def check_contents(required: bool, contents: list[Any]) -> None:
    if not required:
        return
    for index, content in enumerate(contents):
        if not is_sealed(content):
            _refuse("content" if len(contents) == 1 else f"{index}.content", "must be sealed")


def check_input(required: bool, field: str, value: Any) -> None:
    if required and value is not None and not is_sealed(value):
        _refuse(field, "must be sealed")
