"""A session's encryption: its key set, and sealing and opening what travels through the
relay for it (messages, permission requests, answers, the title and other metadata).

The key set lives in the session's `metadata.e2e`:

    {"v": 1,
     "keys": {"host:<fingerprint>": wrapped, "device:<id>": wrapped, ...},
     "meta": box}            # {"title", "cwd", ...} sealed to ["meta", session_id]

Every box is bound to its place (crypto.py's contexts), so a relay that moves a message
to another session, renames its role or kind, or hands one permission's answer to another
makes it fail to open; viewers then show it as tampered and do not render it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from tether.e2e import crypto
from tether.e2e.crypto import Tampered

ENCRYPTED_TITLE = "(encrypted)"
TAMPERED_TEXT = (
    "This message failed its integrity check (altered, moved from another session, or "
    "not meant for this place) and is not shown."
)


class NoKey(Exception):
    """The session is encrypted, and none of its keys is wrapped to us."""


def is_encrypted(session: dict[str, Any]) -> bool:
    e2e = (session.get("metadata") or {}).get("e2e")
    return isinstance(e2e, dict) and isinstance(e2e.get("keys"), dict)


def message_context(session_id: str, message: dict[str, Any]) -> list[str]:
    return [
        "msg",
        session_id,
        str(message.get("id") or ""),
        str(message.get("role") or "user"),
        str(message.get("kind") or "user_text"),
    ]


def permission_context(session_id: str, tool_name: str, tool_use_id: str | None) -> list[str]:
    return ["permission", session_id, tool_name, tool_use_id or ""]


@dataclass(frozen=True)
class SessionCipher:
    session_id: str
    key: bytes

    # ── the key set ───────────────────────────────────────────────────────────────

    @classmethod
    def create(
        cls, session_id: str, recipients: dict[str, str], meta: dict[str, Any]
    ) -> tuple[SessionCipher, dict[str, Any]]:
        """A new session key, wrapped to each recipient (name → public key); returns the
        cipher and the `metadata.e2e` value to create the session with."""
        cipher = cls(session_id, crypto.new_session_key())
        return cipher, {
            "v": crypto.VERSION,
            "keys": cipher.wrap_for(recipients),
            "meta": cipher.seal_meta(meta),
        }

    def wrap_for(self, recipients: dict[str, str]) -> dict[str, Any]:
        return {
            name: crypto.wrap(self.key, public, ["wrap", self.session_id, name])
            for name, public in recipients.items()
        }

    @classmethod
    def for_session(
        cls, session: dict[str, Any], private_key: X25519PrivateKey, recipient: str
    ) -> SessionCipher | None:
        """The cipher of an encrypted session whose key is wrapped to `recipient`; None for
        a plaintext session. NoKey when it is not wrapped to us, Tampered when it is but
        does not open, or opens to a key that is not the session's."""
        if not is_encrypted(session):
            return None
        wrapped = session["metadata"]["e2e"]["keys"].get(recipient)
        if not isinstance(wrapped, dict):
            raise NoKey(f"session {session['id']} is encrypted and not shared with this host")
        key = crypto.unwrap(wrapped, private_key, ["wrap", session["id"], recipient])
        # Anyone who may add a key entry can wrap a key of their own to us: only the key
        # the session was sealed with opens its metadata box, so a planted one is tampered.
        box = session["metadata"]["e2e"].get("meta")
        if box is not None:
            crypto.open_box(key, box, ["meta", session["id"]])
        return cls(session["id"], key)

    # ── metadata ──────────────────────────────────────────────────────────────────

    def seal_meta(self, meta: dict[str, Any]) -> dict[str, Any]:
        return crypto.seal(self.key, meta, ["meta", self.session_id])

    def open_session(self, session: dict[str, Any]) -> dict[str, Any]:
        """The session with its sealed title and cwd put back (or marked tampered)."""
        box = ((session.get("metadata") or {}).get("e2e") or {}).get("meta")
        out = {**session, "encrypted": True}
        try:
            meta = crypto.open_box(self.key, box, ["meta", self.session_id])
        except Tampered:
            return {**out, "title": "(tampered)", "tampered": True}
        if isinstance(meta, dict):
            out.update({k: v for k, v in meta.items() if k in ("title", "cwd")})
        return out

    # ── messages ──────────────────────────────────────────────────────────────────

    def seal_message(self, message: dict[str, Any]) -> dict[str, Any]:
        """Content and raw event sealed into `content`; id, role and kind stay clear for
        routing, and are what the box is bound to."""
        if crypto.is_box(message.get("content")):
            return message  # sealed already (a replay from the outbox)
        out = dict(message)
        out.setdefault("id", f"e2e-{uuid.uuid4().hex}")
        out.setdefault("role", "user")
        out.setdefault("kind", "user_text")
        plain = {"content": out.get("content"), "raw": out.get("raw")}
        out["content"] = crypto.seal(self.key, plain, message_context(self.session_id, out))
        out["raw"] = None
        return out

    def open_message(self, message: dict[str, Any]) -> dict[str, Any]:
        """The message as it was written, or one marked `tampered` whose content is only a
        warning: a box that does not open here is never rendered."""
        content = message.get("content")
        session_id = str(message.get("session_id") or self.session_id)
        try:
            if session_id != self.session_id:
                raise Tampered("a message of another session")
            plain = crypto.open_box(self.key, content, message_context(session_id, message))
            return {**message, "content": plain.get("content"), "raw": plain.get("raw")}
        except (Tampered, AttributeError):
            return {**message, "content": {"text": TAMPERED_TEXT}, "raw": None, "tampered": True}

    # ── permission requests and answers ───────────────────────────────────────────

    def seal_permission(self, body: dict[str, Any]) -> dict[str, Any]:
        """A permission request with its input, title, description and suggestions sealed
        into `input`; the tool name stays clear (docs/encryption.md says why)."""
        plain = {k: body.get(k) for k in ("input", "title", "description", "suggestions")}
        context = permission_context(self.session_id, body["tool_name"], body.get("tool_use_id"))
        return {
            **body,
            "input": crypto.seal(self.key, plain, context),
            "title": None,
            "description": None,
            "suggestions": [],
        }

    def open_permission(self, permission: dict[str, Any]) -> dict[str, Any]:
        context = permission_context(
            self.session_id, str(permission.get("tool_name")), permission.get("tool_use_id")
        )
        out = dict(permission)
        try:
            if permission.get("session_id") not in (None, self.session_id):
                raise Tampered("a request of another session")
            plain = crypto.open_box(self.key, permission.get("input"), context)
            out.update({k: plain.get(k) for k in ("input", "title", "description")})
            out["suggestions"] = plain.get("suggestions") or []
        except (Tampered, AttributeError):
            out.update(input={}, title="(tampered)", description=TAMPERED_TEXT, tampered=True)
            out["suggestions"] = []
        decision = out.get("decision")
        if isinstance(decision, dict):
            out["decision"] = self.open_answer(str(permission["id"]), decision)
        return out

    def seal_answer(self, permission_id: str, answer: dict[str, Any]) -> dict[str, Any]:
        """An answer as a device sends it into an encrypted session: the decision itself
        (behavior, edited input, remembered rules, message) sealed to this one request in
        `updated_input`, so the relay can neither read the edit nor forge an allow."""
        plain = {k: answer.get(k) for k in ("behavior", "updated_input", "remember", "message")}
        box = crypto.seal(self.key, plain, ["answer", self.session_id, permission_id])
        return {**answer, "updated_input": box, "message": None}

    def open_answer(self, permission_id: str, decision: dict[str, Any]) -> dict[str, Any]:
        """The decision as the device sealed it. A deny needs no proof (the relay could
        always withhold an answer); an allow does: one whose box is missing, does not open
        for this request, or says otherwise becomes a deny, never an allow nobody here
        gave."""
        box = decision.get("updated_input")
        if decision.get("behavior") != "allow" and not crypto.is_box(box):
            return decision
        try:
            plain = crypto.open_box(self.key, box, ["answer", self.session_id, permission_id])
            if not isinstance(plain, dict) or plain.get("behavior") != decision.get("behavior"):
                raise Tampered("the sealed decision is not the one the relay reports")
        except Tampered:
            return {
                **decision,
                "behavior": "deny",
                "updated_input": None,
                "remember": False,
                "message": "The answer failed its integrity check, so it was treated as a deny.",
                "tampered": True,
            }
        return {
            **decision,
            "updated_input": plain.get("updated_input"),
            "remember": plain.get("remember") or False,
            "message": plain.get("message"),
        }
