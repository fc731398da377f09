"""Several relay processes on one PostgreSQL database act as one relay."""

from __future__ import annotations

import threading

import httpx
import pytest

from tests.support.server import TetherServer


def _follow(server: TetherServer, since: int, want: int, out: list[dict]) -> None:
    """Collect `want` logged events from one server's SSE stream."""
    with httpx.stream("GET", f"{server.url}/api/v1/events", params={"since": since},
                      headers=server.headers, timeout=30) as response:
        current: dict = {}
        for line in response.iter_lines():
            if line.startswith("id: "):
                current["id"] = int(line[4:])
            elif line.startswith("event: "):
                current["event"] = line[7:]
            elif line == "" and current:
                if "id" in current:
                    out.append(current)
                    if len(out) >= want:
                        return
                current = {}


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_a_client_of_one_process_sees_writes_made_through_another(server_factory) -> None:
    first = server_factory()
    second = server_factory(token=first.token)
    with first.client() as a, second.client() as b:
        session = a.post("/api/v1/sessions", json={"title": "shared"}).json()
        # Both processes read the same session...
        assert b.get(f"/api/v1/sessions/{session['id']}").json()["title"] == "shared"

        # ...and a follower of the second gets, live and in order, what the first writes.
        seen: list[dict] = []
        follower = threading.Thread(target=_follow, args=(second, 1, 12, seen))
        follower.start()
        for i in range(10):
            writer = a if i % 2 == 0 else b
            posted = writer.post(f"/api/v1/sessions/{session['id']}/messages",
                                 json={"id": f"m{i}", "role": "agent",
                                       "kind": "assistant_text", "content": {"text": str(i)}})
            assert posted.status_code == 201
        permission = a.post(f"/api/v1/sessions/{session['id']}/permissions",
                            json={"tool_name": "Bash", "input": {"command": "ls"}}).json()
        answered = b.post(f"/api/v1/permissions/{permission['id']}/respond",
                          json={"behavior": "allow"})
        assert answered.status_code == 200
        assert a.post(f"/api/v1/permissions/{permission['id']}/respond",
                      json={"behavior": "deny"}).status_code == 409
        follower.join(30)

    ids = [e["id"] for e in seen]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    kinds = [e["event"] for e in seen]
    assert kinds.count("message") == 10
    assert kinds[-2:] == ["permission_request", "permission_resolved"]
