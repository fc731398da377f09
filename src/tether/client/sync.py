"""`SyncRelayClient`: the same calls for scripts and commands that are not async.

It owns a private event loop (an `asyncio.Runner`) and runs each call of an inner
`RelayClient` on it, so the connection pool is kept between calls.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from types import TracebackType
from typing import Any

from tether.client.relay import RelayClient
from tether.client.stream import Event

_CALLS = (
    "me",
    "create_session",
    "list_sessions",
    "get_session",
    "update_session",
    "messages",
    "post_messages",
    "send_text",
    "interrupt",
    "set_permission_mode",
    "end_session",
    "open_permission",
    "get_permission",
    "list_permissions",
    "respond",
    "cancel_permission",
    "list_tokens",
    "create_token",
    "revoke_token",
)


class SyncRelayClient:
    def __init__(self, url: str = "http://127.0.0.1:8787", token: str = "", **options: Any) -> None:
        self._runner = asyncio.Runner()
        self._client: RelayClient = self._runner.run(self._make(url, token, options))

    @staticmethod
    async def _make(url: str, token: str, options: dict[str, Any]) -> RelayClient:
        return RelayClient(url, token, **options)

    def __repr__(self) -> str:
        return f"SyncRelayClient(url={self._client.url!r})"

    def __getattr__(self, name: str) -> Any:
        if name not in _CALLS:
            raise AttributeError(name)
        method = getattr(self._client, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            return self._runner.run(method(*args, **kwargs))

        call.__name__ = name
        call.__doc__ = method.__doc__
        return call

    @property
    def url(self) -> str:
        return self._client.url

    @property
    def last_event_id(self) -> int | None:
        return self._client.last_event_id

    def events(self, **kwargs: Any) -> Iterator[Event]:
        """`RelayClient.events` as a blocking iterator."""
        stream = self._client.events(**kwargs)
        try:
            while True:
                try:
                    yield self._runner.run(stream.__anext__())
                except StopAsyncIteration:
                    return
        finally:
            self._runner.run(stream.aclose())

    def close(self) -> None:
        try:
            self._runner.run(self._client.aclose())
        finally:
            self._runner.close()

    def __enter__(self) -> SyncRelayClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
