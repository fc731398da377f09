"""The relay answers over real HTTP on both backends."""

from __future__ import annotations


def test_session_roundtrip(server) -> None:
    with server.client() as http:
        created = http.post("/api/v1/sessions", json={"title": "first", "cwd": "/tmp"})
        assert created.status_code == 201
        session = created.json()
        fetched = http.get(f"/api/v1/sessions/{session['id']}").json()
        assert fetched["title"] == "first"
        assert fetched["status"] == "starting"
