"""Bad input: every error is `{"error": {"type", "message"}}` with the right status."""

from __future__ import annotations

import httpx

from tests.relay.support import aclient, assert_error, message, new_session, permission


async def test_malformed_json_is_400(server) -> None:
    async with aclient(server) as http:
        session = await new_session(http)
        sid = session["id"]
        pid = (await http.post(f"/api/v1/sessions/{sid}/permissions", json=permission())).json()[
            "id"
        ]
        for method, path in (
            ("POST", "/api/v1/sessions"),
            ("PATCH", f"/api/v1/sessions/{sid}"),
            ("POST", f"/api/v1/sessions/{sid}/messages"),
            ("POST", f"/api/v1/sessions/{sid}/permission-mode"),
            ("POST", f"/api/v1/sessions/{sid}/permissions"),
            ("POST", f"/api/v1/permissions/{pid}/respond"),
            ("POST", f"/permissions/{pid}/respond"),
        ):
            for body in (b"{", b"not json", b'{"title": "x",}', b"\xff\xfe"):
                response = await http.request(
                    method, path, content=body, headers={"Content-Type": "application/json"}
                )
                assert_error(response, 400, "malformed_json")
        # Nothing was changed by any of it.
        assert (await http.get(f"/api/v1/permissions/{pid}")).json()["status"] == "pending"
        assert (await http.get(f"/api/v1/sessions/{sid}")).json()["last_seq"] == 0


async def test_schema_violations_are_422_naming_the_field(server) -> None:
    async with aclient(server) as http:
        session = await new_session(http)
        sid = session["id"]
        pid = (await http.post(f"/api/v1/sessions/{sid}/permissions", json=permission())).json()[
            "id"
        ]
        cases = [
            ("POST", "/api/v1/sessions", {"status": "flying"}, "status"),
            ("POST", "/api/v1/sessions", {"title": "x" * 501}, "title"),
            ("POST", "/api/v1/sessions", {"metadata": [1, 2]}, "metadata"),
            ("POST", "/api/v1/sessions", [1], "body"),
            ("PATCH", f"/api/v1/sessions/{sid}", {"expected_version": -1}, "expected_version"),
            ("PATCH", f"/api/v1/sessions/{sid}", {"permission_mode": "yolo"}, "permission_mode"),
            ("POST", f"/api/v1/sessions/{sid}/messages", {"role": "robot"}, "role"),
            ("POST", f"/api/v1/sessions/{sid}/messages", {"kind": ""}, "kind"),
            ("POST", f"/api/v1/sessions/{sid}/messages", [], "body"),
            ("POST", f"/api/v1/sessions/{sid}/messages", [message("ok"), {"id": ""}], "id"),
            ("POST", f"/api/v1/sessions/{sid}/permission-mode", {}, "mode"),
            ("POST", f"/api/v1/sessions/{sid}/end", {"reason": 5}, "reason"),
            ("POST", f"/api/v1/sessions/{sid}/end", [1], "body"),
            ("POST", f"/api/v1/sessions/{sid}/permissions", {"input": {}}, "tool_name"),
            (
                "POST",
                f"/api/v1/sessions/{sid}/permissions",
                {"tool_name": "Bash", "timeout": 0},
                "timeout",
            ),
            (
                "POST",
                f"/api/v1/sessions/{sid}/permissions",
                {"tool_name": "Bash", "input": "ls"},
                "input",
            ),
            ("POST", f"/api/v1/permissions/{pid}/respond", {"behavior": "maybe"}, "behavior"),
            ("POST", f"/api/v1/permissions/{pid}/respond", {}, "behavior"),
            ("POST", f"/permissions/{pid}/respond", {"allowed": "perhaps"}, "allowed"),
            ("GET", f"/api/v1/sessions/{sid}/messages?limit=abc", None, "query.limit"),
            ("GET", f"/api/v1/sessions/{sid}/messages?limit=0", None, "query.limit"),
            ("GET", "/api/v1/sessions?limit=999999", None, "query.limit"),
        ]
        for method, path, body, field in cases:
            response = await http.request(method, path, json=body)
            error = assert_error(response, 422, "validation_error")
            # A rule over the whole body (e.g. "give behavior") is reported on `body`.
            named = error["message"].startswith(field) or (
                error["message"].startswith("body") and field in error["message"]
            )
            assert named, (path, body, error)
            if "fields" in error:
                assert any(
                    f["field"].endswith(field.split(".")[-1]) or f["field"] == "body"
                    for f in error["fields"]
                ), error
        # The rejected messages were not stored, the session still runs, and the request
        # is still open.
        after = (await http.get(f"/api/v1/sessions/{sid}")).json()
        assert (after["last_seq"], after["status"]) == (0, "starting")
        assert (await http.get(f"/api/v1/permissions/{pid}")).json()["status"] == "pending"


async def test_unknown_ids_and_endpoints_are_404(server) -> None:
    async with aclient(server) as http:
        for method, path, body in (
            ("GET", "/api/v1/sessions/ses_nope", None),
            ("PATCH", "/api/v1/sessions/ses_nope", {"title": "x"}),
            ("GET", "/api/v1/sessions/ses_nope/messages", None),
            ("POST", "/api/v1/sessions/ses_nope/messages", message("x")),
            ("POST", "/api/v1/sessions/ses_nope/interrupt", None),
            ("POST", "/api/v1/sessions/ses_nope/permission-mode", {"mode": "plan"}),
            ("POST", "/api/v1/sessions/ses_nope/end", None),
            ("GET", "/api/v1/permissions/perm_nope", None),
            ("GET", "/api/v1/no-such-endpoint", None),
        ):
            assert_error(await http.request(method, path, json=body), 404, "not_found")


def test_oversized_bodies_are_413(server_factory) -> None:
    server = server_factory(extra_env={"TETHER_MAX_BODY_BYTES": "2000"})
    with server.client() as http:
        session = http.post("/api/v1/sessions", json={"title": "small"}).json()
        url = f"/api/v1/sessions/{session['id']}/messages"
        fits = http.post(url, json=message("x" * 1000))
        assert fits.status_code == 201
        # Declared too big, and too big without a declared length (chunked upload).
        big = message("x" * 5000)
        assert_error(http.post(url, json=big), 413, "payload_too_large")

        def chunks():
            for _ in range(10):
                yield b"x" * 500

        response = http.post(url, content=chunks(), headers={"Content-Type": "application/json"})
        assert "content-length" not in {k.lower() for k in response.request.headers}
        assert_error(response, 413, "payload_too_large")
        assert_error(http.post("/api/v1/sessions", json={"title": "t" * 3000}), 413)
        assert http.get(f"/api/v1/sessions/{session['id']}").json()["last_seq"] == 1
        # The server is fine afterwards.
        assert http.post(url, json=message("after")).status_code == 201


def test_errors_are_json_even_for_wrong_methods(server) -> None:
    with httpx.Client(base_url=server.url, headers=server.headers, timeout=20) as http:
        response = http.delete("/api/v1/sessions")
        assert response.status_code == 405
        assert response.json()["error"]["type"] == "method_not_allowed"
