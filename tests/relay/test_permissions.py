"""Permission requests: first answer wins, 404s, expiry, cancellation, long-poll waits, and
who decided when."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime

import pytest

from tests.relay.support import (
    aclient,
    assert_error,
    make_token,
    new_session,
    open_sse,
    permission,
)

PERMISSION_KEYS = {
    "id",
    "session_id",
    "tool_name",
    "tool_use_id",
    "input",
    "title",
    "description",
    "suggestions",
    "status",
    "decision",
    "created_at",
    "expires_at",
    "resolved_at",
}
DECISION_KEYS = {
    "behavior",
    "updated_input",
    "message",
    "interrupt",
    "remember",
    "decided_by",
    "decided_at",
}


def _t(iso: str) -> datetime:
    return datetime.strptime(iso, "%Y-%m-%dT%H:%M:%S.%fZ")


async def test_open_list_get_and_answer(server) -> None:
    client_token = make_token(server, "client", "phone")
    async with aclient(server) as agent, aclient(server, client_token) as phone:
        session = await new_session(agent)
        opened = await agent.post(
            f"/api/v1/sessions/{session['id']}/permissions", json=permission(command="rm -rf build")
        )
        assert opened.status_code == 201
        request = opened.json()
        assert set(request) == PERMISSION_KEYS
        assert request["id"].startswith("perm_")
        assert (request["status"], request["decision"], request["resolved_at"]) == (
            "pending",
            None,
            None,
        )
        assert request["input"] == {"command": "rm -rf build"}
        # The default expiry is ten minutes.
        assert (
            _t(request["expires_at"]) - _t(request["created_at"])
        ).total_seconds() == pytest.approx(600, abs=1)
        assert (await agent.get(f"/api/v1/sessions/{session['id']}")).json()[
            "pending_permissions"
        ] == 1

        pending = await phone.get(
            "/api/v1/permissions", params={"status": "pending", "session": session["id"]}
        )
        assert [p["id"] for p in pending.json()["permissions"]] == [request["id"]]
        assert (await phone.get(f"/api/v1/permissions/{request['id']}")).json() == request

        answer = await phone.post(
            f"/api/v1/permissions/{request['id']}/respond",
            json={
                "behavior": "allow",
                "updated_input": {"command": "rm -rf build/tmp"},
                "message": "narrower",
                "remember": True,
            },
        )
        assert answer.status_code == 200
        resolved = answer.json()
        assert resolved["status"] == "allowed"
        decision = resolved["decision"]
        assert set(decision) == DECISION_KEYS
        assert decision["behavior"] == "allow"
        assert decision["updated_input"] == {"command": "rm -rf build/tmp"}
        assert (decision["message"], decision["remember"], decision["interrupt"]) == (
            "narrower",
            True,
            False,
        )
        # Who decided and when is recorded, and stays recorded.
        assert decision["decided_by"] == "phone"
        assert decision["decided_at"] == resolved["resolved_at"]
        assert _t(resolved["resolved_at"]) >= _t(resolved["created_at"])
        assert (await agent.get(f"/api/v1/permissions/{request['id']}")).json() == resolved
        assert (
            await agent.get(
                "/api/v1/permissions", params={"status": "pending", "session": session["id"]}
            )
        ).json()["permissions"] == []
        assert (await agent.get(f"/api/v1/sessions/{session['id']}")).json()[
            "pending_permissions"
        ] == 0

        denied = (
            await agent.post(f"/api/v1/sessions/{session['id']}/permissions", json=permission())
        ).json()
        no = await phone.post(
            f"/api/v1/permissions/{denied['id']}/respond",
            json={"behavior": "deny", "message": "not now", "interrupt": True},
        )
        assert no.json()["status"] == "denied"
        assert (no.json()["decision"]["message"], no.json()["decision"]["interrupt"]) == (
            "not now",
            True,
        )


async def test_two_clients_racing_exactly_one_wins(server) -> None:
    phone_token = make_token(server, "client", "phone")
    laptop_token = make_token(server, "client", "laptop")
    async with (
        aclient(server) as agent,
        aclient(server, phone_token) as phone,
        aclient(server, laptop_token) as laptop,
    ):
        session = await new_session(agent)
        for round_ in range(5):
            request = (
                await agent.post(f"/api/v1/sessions/{session['id']}/permissions", json=permission())
            ).json()
            url = f"/api/v1/permissions/{request['id']}/respond"
            answers = await asyncio.gather(
                phone.post(url, json={"behavior": "allow"}),
                laptop.post(url, json={"behavior": "deny", "message": "no"}),
            )
            statuses = sorted(a.status_code for a in answers)
            assert statuses == [200, 409], (round_, [a.text for a in answers])
            winner = next(a for a in answers if a.status_code == 200).json()
            loser = next(a for a in answers if a.status_code == 409)
            error = assert_error(loser, 409, "already_resolved")
            # The loser is told how it was decided, and the stored answer is the winner's.
            assert error["permission"] == winner
            stored = (await agent.get(f"/api/v1/permissions/{request['id']}")).json()
            assert stored == winner
            expected_by = "phone" if winner["decision"]["behavior"] == "allow" else "laptop"
            assert winner["decision"]["decided_by"] == expected_by


async def test_remember_names_the_chosen_suggestions_by_index(server) -> None:
    async with aclient(server) as http:
        session = await new_session(http)
        rule = {"type": "addRules", "rules": [{"toolName": "Bash"}], "behavior": "allow"}
        url = f"/api/v1/sessions/{session['id']}/permissions"
        asked = [
            (await http.post(url, json=permission(suggestions=[rule, rule]))).json()
            for _ in range(2)
        ]
        for bad in ([-1], ["0"], list(range(101)), {"0": True}):
            assert_error(
                await http.post(
                    f"/api/v1/permissions/{asked[0]['id']}/respond",
                    json={"behavior": "allow", "remember": bad},
                ),
                422,
            )
        answered = await http.post(
            f"/api/v1/permissions/{asked[0]['id']}/respond",
            json={"behavior": "allow", "remember": [1]},
        )
        assert answered.json()["decision"]["remember"] == [1]
        # The older form still means "all of them".
        answered = await http.post(
            f"/api/v1/permissions/{asked[1]['id']}/respond",
            json={"behavior": "allow", "remember": True},
        )
        assert answered.json()["decision"]["remember"] is True


async def test_unknown_permission_ids_are_404(server) -> None:
    async with aclient(server) as http:
        for call in (
            http.get("/api/v1/permissions/perm_nope"),
            http.get("/api/v1/permissions/perm_nope", params={"wait": 1}),
            http.post("/api/v1/permissions/perm_nope/respond", json={"behavior": "allow"}),
            http.post("/api/v1/permissions/perm_nope/cancel", json={}),
            http.post("/permissions/perm_nope/respond", json={"allowed": True}),
        ):
            assert_error(await call, 404, "not_found")
        assert_error(
            await http.post("/api/v1/sessions/ses_nope/permissions", json=permission()),
            404,
            "not_found",
        )


async def test_a_request_nobody_answers_expires_as_a_timed_out_deny(server) -> None:
    async with aclient(server) as http:
        session = await new_session(http)
        async with open_sse(http, "/api/v1/events", params={"session": session["id"]}) as stream:
            request = (
                await http.post(
                    f"/api/v1/sessions/{session['id']}/permissions", json=permission(timeout=1)
                )
            ).json()
            assert (
                _t(request["expires_at"]) - _t(request["created_at"])
            ).total_seconds() == pytest.approx(1, abs=0.01)
            # The agent waits for the decision; the relay answers it once the request expires.
            waited = await http.get(f"/api/v1/permissions/{request['id']}", params={"wait": 30})
            events = await stream.until(lambda e: e.event == "permission_resolved")

        expired = waited.json()
        assert expired["status"] == "expired"
        decision = expired["decision"]
        assert decision["behavior"] == "deny"
        assert re.search(r"timed out after 1 seconds?", decision["message"]), decision
        assert decision["decided_by"] and decision["decided_at"] == expired["resolved_at"]
        assert events[-1].data == expired
        late = await http.post(
            f"/api/v1/permissions/{request['id']}/respond", json={"behavior": "allow"}
        )
        assert assert_error(late, 409, "already_resolved")["permission"]["status"] == "expired"


def test_the_configured_timeout_applies_and_survives_a_restart(server_factory) -> None:
    # Sync: the PostgreSQL variant of the factory makes its database with asyncio.run.
    server = server_factory(extra_env={"TETHER_PERMISSION_TIMEOUT": "2"})
    with server.client() as http:
        session = http.post("/api/v1/sessions", json={"title": "t"}).json()
        request = http.post(
            f"/api/v1/sessions/{session['id']}/permissions", json=permission()
        ).json()
        assert (
            _t(request["expires_at"]) - _t(request["created_at"])
        ).total_seconds() == pytest.approx(2, abs=0.01)
    # A request opened before a restart still expires after it.
    server.restart()
    with server.client() as http:
        waited = http.get(
            f"/api/v1/permissions/{request['id']}", params={"wait": 30}, timeout=40
        ).json()
        assert waited["status"] == "expired"
        assert "timed out after 2 seconds" in waited["decision"]["message"]


async def test_the_agent_cancels_and_every_client_is_told(server) -> None:
    client_token = make_token(server, "client")
    async with aclient(server) as agent, aclient(server, client_token) as phone:
        session = await new_session(agent)
        sid = session["id"]
        async with (
            open_sse(phone, "/api/v1/events") as one,
            open_sse(phone, "/api/v1/events", params={"session": sid}) as two,
            open_sse(phone, "/permissions/stream") as legacy,
        ):
            request = (
                await agent.post(f"/api/v1/sessions/{sid}/permissions", json=permission())
            ).json()
            cancelled = await agent.post(
                f"/api/v1/permissions/{request['id']}/cancel",
                json={"reason": "the turn was interrupted"},
            )
            assert cancelled.status_code == 200
            assert cancelled.json()["status"] == "cancelled"
            assert cancelled.json()["decision"]["message"] == "the turn was interrupted"
            for stream in (one, two, legacy):
                seen = await stream.until(
                    lambda e: e.event == "permission_resolved" and e.data["id"] == request["id"]
                )
                # The legacy stream adds that contract's fields (see test_legacy_stream).
                extra = {"request_id", "allowed", "tool_input"} if stream is legacy else set()
                assert {k: v for k, v in seen[-1].data.items() if k not in extra} == (
                    cancelled.json()
                )

        # Nobody can answer a withdrawn request, and it cannot be withdrawn twice.
        answer = await phone.post(
            f"/api/v1/permissions/{request['id']}/respond", json={"behavior": "allow"}
        )
        assert assert_error(answer, 409, "already_resolved")["permission"]["status"] == "cancelled"
        assert_error(await agent.post(f"/api/v1/permissions/{request['id']}/cancel"), 409)

        # A cancel with no reason says who withdrew it.
        other = (await agent.post(f"/api/v1/sessions/{sid}/permissions", json=permission())).json()
        plain = (await agent.post(f"/api/v1/permissions/{other['id']}/cancel")).json()
        assert plain["decision"]["message"] and plain["decision"]["decided_by"] == "TETHER_TOKEN"


async def test_ending_a_session_cancels_its_pending_requests(server) -> None:
    async with aclient(server) as http:
        session = await new_session(http)
        sid = session["id"]
        requests = [
            (await http.post(f"/api/v1/sessions/{sid}/permissions", json=permission())).json()
            for _ in range(2)
        ]
        ended = (await http.post(f"/api/v1/sessions/{sid}/end")).json()
        assert ended["status"] == "ended"
        for request in requests:
            stored = (await http.get(f"/api/v1/permissions/{request['id']}")).json()
            assert stored["status"] == "cancelled"
            assert stored["decision"]["behavior"] == "deny"
        assert (await http.get(f"/api/v1/sessions/{sid}")).json()["pending_permissions"] == 0
        assert_error(
            await http.post(f"/api/v1/sessions/{sid}/permissions", json=permission()),
            409,
            "session_ended",
        )


async def test_wait_long_polls_until_answered(server) -> None:
    async with aclient(server) as agent, aclient(server) as person:
        session = await new_session(agent)
        request = (
            await agent.post(f"/api/v1/sessions/{session['id']}/permissions", json=permission())
        ).json()
        url = f"/api/v1/permissions/{request['id']}"

        # A short wait comes back with the request still pending.
        short = await agent.get(url, params={"wait": 0.2})
        assert short.status_code == 200 and short.json()["status"] == "pending"

        waiter = asyncio.create_task(agent.get(url, params={"wait": 60}))
        await asyncio.sleep(0.3)
        assert not waiter.done()  # held while nobody has answered
        answered = await person.post(f"{url}/respond", json={"behavior": "deny", "message": "no"})
        waited = await asyncio.wait_for(waiter, 20)
        assert waited.json() == answered.json()
        assert waited.json()["decision"]["message"] == "no"

        # Once resolved, a wait answers at once.
        again = await asyncio.wait_for(agent.get(url, params={"wait": 60}), 10)
        assert again.json()["status"] == "denied"
        assert_error(await agent.get(url, params={"wait": "soon"}), 422, "validation_error")


async def test_the_older_confirmation_contract(server) -> None:
    async with aclient(server) as http:
        session = await new_session(http)
        sid = session["id"]
        async with open_sse(http, "/permissions/stream") as stream:
            await http.post(
                f"/api/v1/sessions/{sid}/messages",
                json={
                    "role": "agent",
                    "kind": "assistant_text",
                    "content": {"text": "not a permission event"},
                },
            )
            first = (
                await http.post(f"/api/v1/sessions/{sid}/permissions", json=permission())
            ).json()
            second = (
                await http.post(f"/api/v1/sessions/{sid}/permissions", json=permission())
            ).json()
            yes = await http.post(f"/permissions/{first['id']}/respond", json={"allowed": True})
            no = await http.post(f"/permissions/{second['id']}/respond", json={"allowed": False})
            assert (yes.status_code, no.status_code) == (200, 200)
            assert (yes.json()["status"], no.json()["status"]) == ("allowed", "denied")
            again = await http.post(f"/permissions/{first['id']}/respond", json={"allowed": False})
            assert_error(again, 409, "already_resolved")
            seen = await stream.until(
                lambda e: e.event == "permission_resolved" and e.data["id"] == second["id"]
            )
        # Only permission events on this stream: no messages, no sessions.
        assert [(e.event, e.data["id"]) for e in seen] == [
            ("permission_request", first["id"]),
            ("permission_request", second["id"]),
            ("permission_resolved", first["id"]),
            ("permission_resolved", second["id"]),
        ]
        assert_error(await http.post(f"/permissions/{first['id']}/respond", json={}), 422)


async def test_pending_requests_come_first_on_connect(server) -> None:
    async with aclient(server) as http:
        session = await new_session(http)
        sid = session["id"]
        opened = [
            (
                await http.post(
                    f"/api/v1/sessions/{sid}/permissions", json=permission(command=f"c{i}")
                )
            ).json()
            for i in range(3)
        ]
        await http.post(
            f"/api/v1/permissions/{opened[1]['id']}/respond", json={"behavior": "allow"}
        )
        for path in ("/api/v1/events", "/permissions/stream"):
            async with open_sse(http, path, params={"session": sid}) as stream:
                snapshot = await stream.take(2)
                await http.post(f"/api/v1/sessions/{sid}/interrupt")
                if path == "/api/v1/events":
                    live = await stream.take(1)
                    assert live[0].event == "control" and live[0].id is not None
            # Still-pending requests only, oldest first, without a cursor.
            assert [(e.event, e.id, e.data["id"]) for e in snapshot] == [
                ("permission_request", None, opened[0]["id"]),
                ("permission_request", None, opened[2]["id"]),
            ]
