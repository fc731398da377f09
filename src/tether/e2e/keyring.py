"""What the terminal viewers (`attach`, `permissions`, `sessions`) read encrypted
sessions with: this host's key, and one cipher per session, learned from the session
itself. A session that is not encrypted passes through untouched; one that is encrypted
but not for this host shows as locked; a box that does not open shows as tampered."""

from __future__ import annotations

from typing import Any, Literal

from tether.client import RelayClient
from tether.config import ConfigError, load_settings
from tether.e2e import crypto
from tether.e2e.keys import HostKeys
from tether.e2e.sessions import TAMPERED_TEXT, NoKey, SessionCipher, is_encrypted

LOCKED_TITLE = "(encrypted: no key on this host)"
LOCKED_TEXT = "(encrypted; this host holds no key for this session)"


class Keyring:
    def __init__(self, keys: HostKeys | None) -> None:
        self.keys = keys
        self._ciphers: dict[str, SessionCipher | None] = {}
        self._locked: set[str] = set()

    @classmethod
    def local(cls) -> Keyring:
        """This machine's host key (none when the settings cannot be read)."""
        try:
            return cls(HostKeys(load_settings().data_dir))
        except ConfigError:
            return cls(None)

    def session(self, session: dict[str, Any]) -> dict[str, Any]:
        """Learn a session's cipher; the session with its sealed title and cwd opened."""
        sid = str(session.get("id"))
        if not is_encrypted(session):
            self._ciphers[sid] = None
            return session
        cipher = self._ciphers.get(sid)
        if cipher is None and self.keys is not None and sid not in self._locked:
            try:
                cipher = SessionCipher.for_session(
                    session, self.keys.private_key, self.keys.recipient
                )
                self._ciphers[sid] = cipher
            except (NoKey, crypto.Tampered):
                self._locked.add(sid)
        if cipher is None:
            self._locked.add(sid)
            return {**session, "title": LOCKED_TITLE, "encrypted": True}
        return cipher.open_session(session)

    def cipher(self, session_id: str) -> SessionCipher | None:
        return self._ciphers.get(session_id)

    def message(self, message: dict[str, Any]) -> dict[str, Any]:
        """A message as a terminal renders it: opened, locked, or an error saying it was
        tampered with (never the content of a box that did not open)."""
        sid = str(message.get("session_id"))
        cipher = self._ciphers.get(sid)
        if cipher is not None:
            opened = cipher.open_message(message)
            if not opened.get("tampered"):
                return opened
            text = f"tampered: {TAMPERED_TEXT}"
        elif crypto.is_box(message.get("content")) or sid in self._locked:
            text = LOCKED_TEXT if sid in self._locked else f"tampered: {TAMPERED_TEXT}"
        else:
            return message
        # Shown as the relay's own note, never as the person's or the agent's words.
        return {**message, "role": "system", "kind": "error", "content": {"message": text}}

    def permission(self, permission: dict[str, Any]) -> dict[str, Any]:
        cipher = self._ciphers.get(str(permission.get("session_id")))
        if cipher is not None:
            return cipher.open_permission(permission)
        if crypto.is_box(permission.get("input")):
            return {**permission, "input": {}, "title": LOCKED_TEXT}
        return permission

    async def respond(
        self,
        relay: RelayClient,
        permission: dict[str, Any],
        behavior: Literal["allow", "deny"],
        message: str | None = None,
        remember: list[int] | bool | None = None,
        updated_input: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Answer a request; in an encrypted session the decision goes sealed to it."""
        answer: dict[str, Any] = {
            "behavior": behavior,
            "message": message,
            "remember": remember,
            "updated_input": updated_input,
        }
        cipher = self._ciphers.get(str(permission.get("session_id")))
        if cipher is not None:
            answer = cipher.seal_answer(str(permission["id"]), answer)
        return await relay.respond(
            permission["id"],
            behavior,
            updated_input=answer.get("updated_input"),
            message=answer.get("message"),
            remember=remember or False,
        )

    def text(self, session_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """A message to post: sealed when the session is encrypted."""
        cipher = self._ciphers.get(session_id)
        return cipher.seal_message(body) if cipher is not None else body
