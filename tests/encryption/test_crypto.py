"""tether.e2e: boxes bound to their place, keys wrapped to one holder, and a session's
messages, requests and answers that open only where they were sealed."""

from __future__ import annotations

import pytest

from tether.e2e import crypto
from tether.e2e.crypto import Tampered
from tether.e2e.sessions import NoKey, SessionCipher, is_encrypted


def test_a_box_opens_only_with_its_key_and_in_its_place() -> None:
    key = crypto.new_session_key()
    box = crypto.seal(key, {"text": "MARKER-1"}, ["msg", "ses_a", "m1", "agent", "assistant_text"])
    assert "MARKER-1" not in str(box)
    assert crypto.open_box(key, box, ["msg", "ses_a", "m1", "agent", "assistant_text"]) == {
        "text": "MARKER-1"
    }
    for moved in (
        ["msg", "ses_b", "m1", "agent", "assistant_text"],  # another session
        ["msg", "ses_a", "m2", "agent", "assistant_text"],  # another message
        ["msg", "ses_a", "m1", "user", "assistant_text"],  # another role
        ["msg", "ses_a", "m1", "agent", "tool_call"],  # re-kinded
    ):
        with pytest.raises(Tampered):
            crypto.open_box(key, box, moved)
    with pytest.raises(Tampered):
        crypto.open_box(
            crypto.new_session_key(), box, ["msg", "ses_a", "m1", "agent", "assistant_text"]
        )
    flipped = dict(box, c=box["c"][:-2] + ("A" if box["c"][-2] != "A" else "B") + box["c"][-1])
    with pytest.raises(Tampered):
        crypto.open_box(key, flipped, ["msg", "ses_a", "m1", "agent", "assistant_text"])


def test_a_wrapped_key_opens_for_its_recipient_only() -> None:
    alice, mallory = crypto.generate_private_key(), crypto.generate_private_key()
    key = crypto.new_session_key()
    wrapped = crypto.wrap(key, crypto.public_key_b64(alice), ["wrap", "ses_a", "device:1"])
    assert crypto.unwrap(wrapped, alice, ["wrap", "ses_a", "device:1"]) == key
    with pytest.raises(Tampered):
        crypto.unwrap(wrapped, mallory, ["wrap", "ses_a", "device:1"])
    with pytest.raises(Tampered):  # the same wrapped key copied onto another session
        crypto.unwrap(wrapped, alice, ["wrap", "ses_b", "device:1"])


def test_the_pairing_keys_split_the_secret_between_relay_and_host() -> None:
    auth, host = crypto.pairing_keys(b"s" * 32, "p1")
    assert auth != host and len(auth) == len(host) == 32
    assert crypto.pairing_keys(b"s" * 32, "p2")[0] != auth
    key = crypto.public_key_b64(crypto.generate_private_key())
    proof = crypto.host_proof(host, "p1", key)
    assert crypto.proof_matches(proof, crypto.host_proof(host, "p1", key))
    assert not crypto.proof_matches(proof, crypto.host_proof(auth, "p1", key))


def encrypted_session(host: crypto.X25519PrivateKey) -> tuple[SessionCipher, dict]:
    cipher, e2e = SessionCipher.create(
        "ses_a", {"host:x": crypto.public_key_b64(host)}, {"title": "MARKER title", "cwd": "/w"}
    )
    return cipher, {"id": "ses_a", "title": "(encrypted)", "metadata": {"e2e": e2e}}


def test_a_session_opens_for_the_host_and_its_messages_do_not_move() -> None:
    host = crypto.generate_private_key()
    cipher, session = encrypted_session(host)
    assert is_encrypted(session) and "MARKER" not in str(session)
    mine = SessionCipher.for_session(session, host, "host:x")
    assert mine is not None and mine.key == cipher.key
    assert mine.open_session(session)["title"] == "MARKER title"
    with pytest.raises(NoKey):
        SessionCipher.for_session(session, host, "device:9")
    assert SessionCipher.for_session({"id": "ses_p", "metadata": {}}, host, "host:x") is None

    sealed = cipher.seal_message(
        {
            "id": "m1",
            "role": "agent",
            "kind": "assistant_text",
            "content": {"text": "MARKER"},
            "raw": {"secret": "MARKER"},
        }
    )
    assert "MARKER" not in str(sealed) and sealed["raw"] is None
    stored = {**sealed, "session_id": "ses_a", "seq": 1}
    assert mine.open_message(stored)["content"] == {"text": "MARKER"}
    assert mine.open_message(stored)["raw"] == {"secret": "MARKER"}
    for tampered in ({**stored, "kind": "tool_call"}, {**stored, "session_id": "ses_b"}):
        shown = mine.open_message(tampered)
        assert shown["tampered"] and "MARKER" not in str(shown)
    # Moved into another session with its own key (what editing the database does).
    other, _ = SessionCipher.create("ses_b", {}, {})
    assert other.open_message({**stored, "session_id": "ses_b"})["tampered"]


def test_a_permission_request_and_its_answer_are_bound_to_each_other() -> None:
    cipher, _ = encrypted_session(crypto.generate_private_key())
    body = {
        "tool_name": "Bash",
        "tool_use_id": "tu1",
        "input": {"command": "echo MARKER"},
        "title": "Run MARKER",
        "description": None,
        "suggestions": [{"rule": "MARKER"}],
    }
    sealed = cipher.seal_permission(body)
    assert "MARKER" not in str(sealed) and sealed["tool_name"] == "Bash"
    stored = {**sealed, "id": "perm_1", "session_id": "ses_a", "status": "pending"}
    opened = cipher.open_permission(stored)
    assert opened["input"] == {"command": "echo MARKER"} and opened["suggestions"] == [
        {"rule": "MARKER"}
    ]
    assert cipher.open_permission({**stored, "tool_name": "Write"})["tampered"]

    answer = cipher.seal_answer("perm_1", {"behavior": "allow", "updated_input": {"command": "ls"}})
    decided = {**stored, "decision": answer}
    assert cipher.open_permission(decided)["decision"]["updated_input"] == {"command": "ls"}
    # The same answer handed to another request is a deny, never an allow.
    moved = cipher.open_answer("perm_2", answer)
    assert moved["behavior"] == "deny" and moved["updated_input"] is None and moved["tampered"]
    # An allow the relay makes up, or one whose sealed decision says deny, is a deny.
    assert cipher.open_answer("perm_1", {"behavior": "allow"})["behavior"] == "deny"
    denied = cipher.seal_answer("perm_1", {"behavior": "deny", "message": "MARKER no"})
    assert "MARKER" not in str(denied) and denied["message"] is None
    flipped = cipher.open_answer("perm_1", {**denied, "behavior": "allow"})
    assert flipped["behavior"] == "deny" and flipped["tampered"]
    assert cipher.open_answer("perm_1", denied)["message"] == "MARKER no"
    # A deny needs no proof: the relay could always withhold an answer.
    assert cipher.open_answer("perm_1", {"behavior": "deny"}) == {"behavior": "deny"}
