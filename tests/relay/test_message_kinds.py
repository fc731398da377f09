"""Who may post which message kind (docs/protocol.md, "Roles and kinds"), over HTTP and the
WebSocket: a person's token can only prompt, so it can never put words in the agent's mouth,
and a kind the protocol does not know is refused naming the field."""

from __future__ import annotations

import pytest

from tests.relay.support import aclient, assert_error, make_token, message, new_session
from tests.relay.test_websocket import connect


@pytest.mark.parametrize("kind", ["assistant_text", "tool_result", "tool_call", "system"])
async def test_a_client_token_may_post_only_user_text(server, kind: str) -> None:
    client = make_token(server, "client", "phone")
    async with aclient(server) as admin, aclient(server, client) as phone:
        sid = (await new_session(admin))["id"]
        for role in ("user", "agent"):  # the role a client asks for does not change that
            fake = message("I did it", role=role, kind=kind)
            error = assert_error(
                await phone.post(f"/api/v1/sessions/{sid}/messages", json=fake),
                422,
                "validation_error",
            )
            assert error["message"].startswith("kind: a user message may not be"), error
            assert error["fields"] == [{"field": "kind", "message": error["message"][6:]}]
        prompt = await phone.post(
            f"/api/v1/sessions/{sid}/messages", json=message("hi", role="agent", kind="user_text")
        )
        assert prompt.status_code == 201, prompt.text
        assert (prompt.json()["role"], prompt.json()["kind"]) == ("user", "user_text")
        stored = (await admin.get(f"/api/v1/sessions/{sid}/messages")).json()["messages"]
        assert [(m["role"], m["kind"]) for m in stored] == [("user", "user_text")]


async def test_unknown_kinds_are_refused_naming_the_field(server) -> None:
    async with aclient(server) as http:
        sid = (await new_session(http))["id"]
        response = await http.post(
            f"/api/v1/sessions/{sid}/messages", json=message("x", kind="banner")
        )
        error = assert_error(response, 422, "validation_error")
        assert error["message"].startswith("kind: "), error
        assert "assistant_text" in error["message"]
        assert (await http.get(f"/api/v1/sessions/{sid}")).json()["last_seq"] == 0


async def test_each_role_posts_its_own_kinds(server) -> None:
    agent = make_token(server, "agent", "runner")
    async with aclient(server, agent) as http:
        sid = (await new_session(http))["id"]
        accepted = [
            message("go", role="user", kind="user_text"),
            message("a subagent's prompt", role="agent", kind="user_text"),
            message("done", role="agent", kind="assistant_text"),
            message("1. read 2. fix", role="agent", kind="plan"),
            message("started", role="system", kind="system"),
            message("idle", role="system", kind="status"),
        ]
        response = await http.post(f"/api/v1/sessions/{sid}/messages", json=accepted)
        assert response.status_code == 201, response.text
        refused = [
            message("ok", role="agent", kind="assistant_text"),
            message("fake", role="user", kind="assistant_text"),
        ]
        response = await http.post(f"/api/v1/sessions/{sid}/messages", json=refused)
        error = assert_error(response, 422, "validation_error")
        assert error["message"].startswith("1.kind: a user message may not be 'assistant_text'")
        wrong = message("x", role="system", kind="assistant_text")
        response = await http.post(f"/api/v1/sessions/{sid}/messages", json=wrong)
        assert_error(response, 422, "validation_error")
        # A refused batch stores nothing, not even its good part.
        assert (await http.get(f"/api/v1/sessions/{sid}")).json()["last_seq"] == len(accepted)


async def test_the_websocket_applies_the_same_rule(server) -> None:
    client = make_token(server, "client", "browser")
    async with aclient(server) as admin:
        sid = (await new_session(admin))["id"]
    ws, ready = await connect(server, client)
    try:
        assert ready["scope"] == "client"
        reply = await ws.act(
            "post_messages", session_id=sid, body=message("fake", kind="tool_result")
        )
        assert (reply["ok"], reply["status"], reply["error"]["type"]) == (
            False,
            422,
            "validation_error",
        )
        assert reply["error"]["message"].startswith("kind: ")
        reply = await ws.act(
            "post_messages", session_id=sid, body=message("hi", role="user", kind="user_text")
        )
        assert reply["ok"] and reply["data"]["role"] == "user"
    finally:
        await ws.close()
