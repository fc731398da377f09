"""Tokens and scopes: who may do what, 401 for a bad token, 403 for a missing scope, and
revoked tokens stop working. Tokens are minted by the real `tether token` command."""

from __future__ import annotations

import asyncio
import time

import httpx

from tests.relay.support import (
    aclient,
    assert_error,
    make_token,
    message,
    new_session,
    permission,
    run_tether,
)

# Each write, and the scopes allowed to do it (docs/protocol.md, "Scopes").
WRITES: dict[str, set[str]] = {
    "create_session": {"agent", "admin"},
    "patch_session": {"agent", "admin"},
    "post_message": {"client", "agent", "admin"},
    "interrupt": {"client", "admin"},
    "permission_mode": {"client", "admin"},
    "end_session": {"client", "agent", "admin"},
    "open_permission": {"agent", "admin"},
    "respond": {"client", "admin"},
    "respond_legacy": {"client", "admin"},
    "cancel_permission": {"agent", "admin"},
}


async def _attempt(write: str, http: httpx.AsyncClient, admin: httpx.AsyncClient) -> httpx.Response:
    """Do one write as `http` against fresh state made by the admin."""
    sid = (await new_session(admin))["id"]
    pid = (await admin.post(f"/api/v1/sessions/{sid}/permissions", json=permission())).json()["id"]
    calls = {
        "create_session": lambda: http.post("/api/v1/sessions", json={"title": "x"}),
        "patch_session": lambda: http.patch(f"/api/v1/sessions/{sid}", json={"title": "y"}),
        "post_message": lambda: http.post(
            f"/api/v1/sessions/{sid}/messages", json=message("m", role="user", kind="user_text")
        ),
        "interrupt": lambda: http.post(f"/api/v1/sessions/{sid}/interrupt"),
        "permission_mode": lambda: http.post(
            f"/api/v1/sessions/{sid}/permission-mode", json={"mode": "plan"}
        ),
        "end_session": lambda: http.post(f"/api/v1/sessions/{sid}/end"),
        "open_permission": lambda: http.post(
            f"/api/v1/sessions/{sid}/permissions", json=permission()
        ),
        "respond": lambda: http.post(
            f"/api/v1/permissions/{pid}/respond", json={"behavior": "allow"}
        ),
        "respond_legacy": lambda: http.post(f"/permissions/{pid}/respond", json={"allowed": True}),
        "cancel_permission": lambda: http.post(f"/api/v1/permissions/{pid}/cancel"),
    }
    return await calls[write]()


async def _reads(http: httpx.AsyncClient, sid: str, pid: str) -> list[int]:
    statuses = [
        (await http.get(path)).status_code
        for path in (
            "/api/v1/me",
            "/api/v1/sessions",
            f"/api/v1/sessions/{sid}",
            f"/api/v1/sessions/{sid}/messages",
            "/api/v1/permissions",
            f"/api/v1/permissions/{pid}",
        )
    ]
    for path in ("/api/v1/events", "/permissions/stream"):
        async with http.stream("GET", path) as response:
            statuses.append(response.status_code)
    return statuses


async def test_scope_matrix(server) -> None:
    tokens = {
        scope: make_token(server, scope, f"{scope}-token")
        for scope in ("admin", "agent", "client", "viewer")
    }
    async with aclient(server) as admin:
        sid = (await new_session(admin))["id"]
        pid = (await admin.post(f"/api/v1/sessions/{sid}/permissions", json=permission())).json()[
            "id"
        ]
        for scope, token in tokens.items():
            async with aclient(server, token) as http:
                me = (await http.get("/api/v1/me")).json()
                assert (me["scope"], me["name"]) == (scope, f"{scope}-token")
                assert token.startswith(f"tth_{me['token_id']}_")
                # Every scope reads everything.
                assert await _reads(http, sid, pid) == [200] * 8, scope
                for write, allowed in WRITES.items():
                    response = await _attempt(write, http, admin)
                    if scope in allowed:
                        assert response.status_code in (200, 201), (scope, write, response.text)
                    else:
                        error = assert_error(response, 403, "forbidden")
                        assert scope in error["message"], error


async def test_wrong_or_missing_tokens_are_401(server) -> None:
    agent = make_token(server, "agent")
    token_id = agent.split("_")[1]
    bad_headers = [
        {},
        {"Authorization": ""},
        {"Authorization": "Bearer"},
        {"Authorization": f"Basic {server.token}"},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Bearer tth_{token_id}_not-the-secret"},
        {"Authorization": "Bearer tth_ffffffff_whatever"},
        {"Authorization": f"Bearer {server.token}x"},
    ]
    async with httpx.AsyncClient(base_url=server.url, timeout=20) as http:
        for headers in bad_headers:
            for method, path in (
                ("GET", "/api/v1/sessions"),
                ("POST", "/api/v1/sessions"),
                ("GET", "/api/v1/events"),
                ("GET", "/permissions/stream"),
                ("POST", "/permissions/perm_x/respond"),
                ("GET", "/api/v1/permissions/perm_x"),
            ):
                response = await http.request(method, path, headers=headers, json={})
                assert_error(response, 401, "unauthorized")
                assert response.headers["www-authenticate"] == "Bearer"
        # The health check is the one open door.
        assert (await http.get("/healthz")).status_code == 200


async def test_revoked_tokens_stop_working(server) -> None:
    token = make_token(server, "client", "lost-phone")
    token_id = token.split("_")[1]
    async with aclient(server, token) as http:
        assert (await http.get("/api/v1/me")).status_code == 200
        done = run_tether(server, "token", "revoke", token_id, "--data-dir", str(server.data_dir))
        assert done.returncode == 0, done.stderr
        # Good lookups are cached for 2 s; within a few seconds the token is refused.
        deadline = time.monotonic() + 15
        while (status := (await http.get("/api/v1/me")).status_code) == 200:
            assert time.monotonic() < deadline, "revoked token still accepted"
            await asyncio.sleep(0.2)
        assert status == 401
        assert_error(await http.post("/api/v1/sessions", json={}), 401)
