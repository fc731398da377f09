"""`GET /permissions/stream` speaks the older confirmation contract's shapes: terminal
handlers written for it key requests by `request_id`, learn the outcome from `allowed`
and take `input` as a map of strings. (test_ccproxy_handler drives a real one.)"""

from __future__ import annotations

from tests.relay.support import aclient, new_session, open_sse, permission


async def test_legacy_events_carry_request_id_allowed_and_string_inputs(server) -> None:
    async with aclient(server) as http:
        sid = (await new_session(http))["id"]
        async with open_sse(http, "/permissions/stream") as stream:
            body = permission(input={"command": "ls", "timeout": 5, "env": {"A": "1"}})
            opened = (await http.post(f"/api/v1/sessions/{sid}/permissions", json=body)).json()
            (request,) = await stream.take(1)
            assert request.event == "permission_request"
            assert request.data["request_id"] == opened["id"] == request.data["id"]
            assert request.data["input"] == {"command": "ls", "timeout": "5", "env": '{"A":"1"}'}
            assert request.data["tool_input"] == body["input"]  # nothing lost
            assert request.data["allowed"] is False
            await http.post(f"/permissions/{opened['id']}/respond", json={"allowed": True})
            (resolved,) = await stream.take(1)
            assert resolved.event == "permission_resolved"
            assert (resolved.data["request_id"], resolved.data["allowed"]) == (opened["id"], True)

            denied = (await http.post(f"/api/v1/sessions/{sid}/permissions", json=body)).json()
            await stream.take(1)
            await http.post(f"/api/v1/permissions/{denied['id']}/cancel", json={})
            (cancelled,) = await stream.take(1)
            assert (cancelled.data["request_id"], cancelled.data["allowed"]) == (
                denied["id"],
                False,
            )
        # The relay's own stream keeps its own shape.
        async with open_sse(http, "/api/v1/events", params={"since": "0"}) as stream:
            events = await stream.until(lambda e: e.event == "permission_request")
            assert "request_id" not in events[-1].data
            assert events[-1].data["input"]["timeout"] == 5
