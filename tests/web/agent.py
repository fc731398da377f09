"""A test agent: does through the relay client library what the runner does for a real
agent (create a session, post transcript messages, ask permission, wait for decisions
and control events), so the browser tests see a session behave like a live one."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tether.client import RelayClient, SyncRelayClient

_ids = itertools.count(1)


class ThreadedClient:
    """`SyncRelayClient` on a thread of its own. Playwright's sync API keeps an event loop
    running on the test's thread, where the client's private loop cannot run."""

    def __init__(self, url: str, token: str) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="relay-client")
        self._client: SyncRelayClient = self._pool.submit(SyncRelayClient, url, token).result()

    def run(self, work: Callable[[SyncRelayClient], Any]) -> Any:
        return self._pool.submit(work, self._client).result()

    def __getattr__(self, name: str) -> Callable[..., Any]:
        return lambda *args, **kwargs: self.run(
            lambda client: getattr(client, name)(*args, **kwargs)
        )

    def close(self) -> None:
        self.run(lambda client: client.close())
        self._pool.shutdown()

    def __enter__(self) -> ThreadedClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class RunnerStream:
    """A runner's event stream (`runner=1`) on a thread of its own: while it is open the
    session's agent is online; `stop()` ends it as a killed runner's would end."""

    def __init__(self, url: str, token: str, session_id: str) -> None:
        self._loop = asyncio.new_event_loop()
        self._task: asyncio.Task[None] | None = None
        ready = threading.Event()  # the lease is held (its `session` event came back)

        async def follow() -> None:
            async with RelayClient(url, token) as client:
                async for event in client.events(session_id=session_id, runner=True):
                    if event.type == "session" and event.data.get("agent_online"):
                        ready.set()

        def main() -> None:
            asyncio.set_event_loop(self._loop)
            self._task = self._loop.create_task(follow())
            with contextlib.suppress(asyncio.CancelledError):
                self._loop.run_until_complete(self._task)
            self._loop.close()

        self._thread = threading.Thread(target=main, name="runner-stream", daemon=True)
        self._thread.start()
        assert ready.wait(20), "the runner stream did not take the lease"

    def stop(self) -> None:
        if self._task is not None:
            self._loop.call_soon_threadsafe(self._task.cancel)
        self._thread.join(10)


class TestAgent:
    __test__ = False  # not a pytest test class

    def __init__(self, url: str, token: str) -> None:
        self.relay = ThreadedClient(url, token)
        self.url, self.token = url, token

    def hold(self, session_id: str) -> RunnerStream:
        """Follow the session as its runner does (holding its lease)."""
        return RunnerStream(self.url, self.token, session_id)

    def close(self) -> None:
        self.relay.close()

    def create_session(self, title: str, **fields: Any) -> dict[str, Any]:
        body = {
            "cwd": "/home/dev/project",
            "host": "devbox",
            "status": "running",
            "model": "claude-sonnet-4-5",
            **fields,
        }
        return self.relay.create_session(title=title, agent="claude-code", **body)

    def post(self, session_id: str, *messages: dict[str, Any]) -> list[dict[str, Any]]:
        return self.relay.post_messages(session_id, [{"role": "agent", **m} for m in messages])

    def say(self, session_id: str, text: str) -> dict[str, Any]:
        return self.post(session_id, {"kind": "assistant_text", "content": {"text": text}})[0]

    def tool(
        self,
        session_id: str,
        name: str,
        tool_input: dict[str, Any],
        output: str | None = None,
        *,
        is_error: bool = False,
    ) -> str:
        call_id = f"call_{next(_ids)}"
        self.post(
            session_id,
            {
                "kind": "tool_call",
                "content": {"call_id": call_id, "name": name, "input": tool_input},
            },
        )
        if output is not None:
            self.result(session_id, call_id, output, is_error=is_error)
        return call_id

    def result(self, session_id: str, call_id: str, output: str, *, is_error: bool = False) -> None:
        self.post(
            session_id,
            {
                "kind": "tool_result",
                "content": {"call_id": call_id, "output": output, "is_error": is_error},
            },
        )

    def patch(self, session_id: str, **fields: Any) -> dict[str, Any]:
        return self.relay.update_session(session_id, **fields)

    def end(self, session_id: str) -> dict[str, Any]:
        return self.relay.end_session(session_id)

    def ask(
        self, session_id: str, tool_name: str, tool_input: dict[str, Any], **fields: Any
    ) -> dict[str, Any]:
        return self.relay.open_permission(
            session_id,
            tool_name=tool_name,
            input=tool_input,
            tool_use_id=f"toolu_{next(_ids)}",
            **fields,
        )

    def cancel(self, permission_id: str, reason: str) -> dict[str, Any]:
        return self.relay.cancel_permission(permission_id, reason)

    def permission(self, permission_id: str) -> dict[str, Any]:
        return self.relay.get_permission(permission_id)

    def decision(self, permission_id: str, timeout: float = 30) -> dict[str, Any]:
        """The request once someone answered it (long-polls the relay)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            request = self.relay.get_permission(permission_id, wait=10)
            if request["status"] != "pending":
                return request
        raise AssertionError(f"permission {permission_id} was not answered in {timeout}s")

    def messages(self, session_id: str) -> list[dict[str, Any]]:
        return self.relay.messages(session_id, limit=5000)

    def wait_message(self, session_id: str, kind: str, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [m for m in self.messages(session_id) if m["kind"] == kind]
            if found:
                return found[-1]
            time.sleep(0.1)
        raise AssertionError(f"no {kind} message in session {session_id} after {timeout}s")

    def wait_control(self, session_id: str, action: str, timeout: float = 30) -> dict[str, Any]:
        """The first `control` event with this action, from the session's event stream
        (replayed from the start, so it may have been sent before we listened). The
        relay pings every 15 s, so the deadline is checked even when nothing happens."""
        deadline = time.monotonic() + timeout

        def follow(client: SyncRelayClient) -> dict[str, Any] | None:
            for event in client.events(session_id=session_id, since=0, reconnect=False):
                if event.type == "control" and event.data["action"] == action:
                    return event.data
                if time.monotonic() > deadline:
                    break
            return None

        found = self.relay.run(follow)
        if found is None:
            raise AssertionError(f"no {action} control event for {session_id} in {timeout}s")
        return found
