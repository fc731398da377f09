"""Token management over the API (`/api/v1/tokens`), admin scope only, as `tether token`
uses it while the server runs."""

from __future__ import annotations

from tests.relay.support import aclient, assert_error, make_token


async def test_an_admin_creates_lists_and_revokes_tokens(server) -> None:
    async with aclient(server) as admin:
        response = await admin.post("/api/v1/tokens", json={"scope": "client", "name": "phone"})
        assert response.status_code == 201, response.text
        created = response.json()
        assert (created["scope"], created["name"]) == ("client", "phone")
        token = created["token"]
        assert token.startswith(f"tth_{created['id']}_")
        async with aclient(server, token) as phone:
            assert (await phone.get("/api/v1/me")).json()["name"] == "phone"

            listed = (await admin.get("/api/v1/tokens")).json()["tokens"]
            row = next(t for t in listed if t["id"] == created["id"])
            assert set(row) == {"id", "name", "scope", "created_at", "revoked_at"}
            assert row["revoked_at"] is None
            assert token.split("_", 2)[2] not in str(listed)  # never a secret

            revoked = await admin.post(f"/api/v1/tokens/{created['id']}/revoke")
            assert revoked.status_code == 200 and revoked.json()["revoked_at"]
            assert_error(await phone.get("/api/v1/me"), 401, "unauthorized")
        again = await admin.post(f"/api/v1/tokens/{created['id']}/revoke")
        assert_error(again, 404, "not_found")
        named = await admin.post("/api/v1/tokens", json={"scope": "viewer"})
        assert named.json()["name"].startswith("viewer-")
        error = assert_error(
            await admin.post("/api/v1/tokens", json={"scope": "root"}), 422, "validation_error"
        )
        assert error["message"].startswith("scope:")


async def test_only_an_admin_token_manages_tokens(server) -> None:
    for scope in ("agent", "client", "viewer"):
        async with aclient(server, make_token(server, scope)) as http:
            for response in (
                await http.get("/api/v1/tokens"),
                await http.post("/api/v1/tokens", json={"scope": "admin"}),
                await http.post("/api/v1/tokens/abcd/revoke"),
            ):
                error = assert_error(response, 403, "forbidden")
                assert scope in error["message"]
