"""A test agent: does over the relay API what the runner does for a real agent (create a
session, post transcript messages, ask permission, wait for decisions and control
events), so the browser tests see a session behave like a live one."""

from __future__ import annotations

import itertools
import time
from typing import Any

import httpx
import orjson

_ids = itertools.count(1)


class TestAgent:
    __test__ = False  # not a pytest test class

    def __init__(self, url: str, token: str) -> None:
        self.http = httpx.Client(base_url=url + "/api/v1", timeout=30,
                                 headers={"Authorization": f"Bearer {token}"})

    def close(self) -> None:
        self.http.close()

    def _ok(self, response: httpx.Response) -> Any:
        assert response.is_success, f"{response.request.method} {response.request.url}: " \
                                    f"{response.status_code} {response.text}"
        return response.json()

    def create_session(self, title: str, **fields: Any) -> dict[str, Any]:
        body = {"title": title, "agent": "claude-code", "cwd": "/home/dev/project",
                "host": "devbox", "status": "running", "model": "claude-sonnet-4-5", **fields}
        return self._ok(self.http.post("/sessions", json=body))

    def post(self, session_id: str, *messages: dict[str, Any]) -> list[dict[str, Any]]:
        items = [{"role": "agent", **m} for m in messages]
        return self._ok(self.http.post(f"/sessions/{session_id}/messages", json=items))["messages"]

    def say(self, session_id: str, text: str) -> dict[str, Any]:
        return self.post(session_id, {"kind": "assistant_text", "content": {"text": text}})[0]

    def tool(self, session_id: str, name: str, tool_input: dict[str, Any],
             output: str | None = None, *, is_error: bool = False) -> str:
        call_id = f"call_{next(_ids)}"
        self.post(session_id, {"kind": "tool_call",
                               "content": {"call_id": call_id, "name": name, "input": tool_input}})
        if output is not None:
            self.result(session_id, call_id, output, is_error=is_error)
        return call_id

    def result(self, session_id: str, call_id: str, output: str, *, is_error: bool = False
               ) -> None:
        self.post(session_id, {"kind": "tool_result", "content": {
            "call_id": call_id, "output": output, "is_error": is_error}})

    def patch(self, session_id: str, **fields: Any) -> dict[str, Any]:
        return self._ok(self.http.patch(f"/sessions/{session_id}", json=fields))

    def ask(self, session_id: str, tool_name: str, tool_input: dict[str, Any],
            **fields: Any) -> dict[str, Any]:
        body = {"tool_name": tool_name, "tool_use_id": f"toolu_{next(_ids)}",
                "input": tool_input, **fields}
        return self._ok(self.http.post(f"/sessions/{session_id}/permissions", json=body))

    def cancel(self, permission_id: str, reason: str) -> dict[str, Any]:
        return self._ok(self.http.post(f"/permissions/{permission_id}/cancel",
                                       json={"reason": reason}))

    def decision(self, permission_id: str, timeout: float = 30) -> dict[str, Any]:
        """The request once someone answered it (long-polls the relay)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            request = self._ok(self.http.get(f"/permissions/{permission_id}",
                                             params={"wait": 10}))
            if request["status"] != "pending":
                return request
        raise AssertionError(f"permission {permission_id} was not answered in {timeout}s")

    def messages(self, session_id: str) -> list[dict[str, Any]]:
        return self._ok(self.http.get(f"/sessions/{session_id}/messages",
                                      params={"limit": 5000}))["messages"]

    def wait_message(self, session_id: str, kind: str, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [m for m in self.messages(session_id) if m["kind"] == kind]
            if found:
                return found[-1]
            time.sleep(0.1)
        raise AssertionError(f"no {kind} message in session {session_id} after {timeout}s")

    def wait_control(self, session_id: str, action: str, timeout: float = 30
                     ) -> dict[str, Any]:
        """The first `control` event with this action, read from the session's event
        stream (replayed from the start, so it may have been sent before we listened)."""
        deadline = time.monotonic() + timeout
        params = {"session": session_id, "since": 0}
        with self.http.stream("GET", "/events", params=params,
                              timeout=httpx.Timeout(timeout, read=20)) as response:
            assert response.status_code == 200, response.read()
            event = None
            for line in response.iter_lines():
                if time.monotonic() > deadline:
                    break
                if line.startswith("event:"):
                    event = line.split(":", 1)[1].strip()
                elif line.startswith("data:") and event == "control":
                    data = orjson.loads(line.split(":", 1)[1])
                    if data["action"] == action:
                        return data
        raise AssertionError(f"no {action} control event for {session_id} in {timeout}s")
