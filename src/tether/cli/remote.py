"""Running a command against the relay: one `RelayClient`, and every way the relay can
fail turned into one clear line for the person at the terminal (never a traceback)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from tether.cli.common import fail, resolve_token, resolve_url
from tether.client import (
    Forbidden,
    NotFound,
    RelayClient,
    RelayError,
    RelayUnavailable,
    Unauthorized,
    ValidationFailed,
)

T = TypeVar("T")


def explain(error: RelayError, url: str) -> str:
    """The one line a person reads for a relay error."""
    if isinstance(error, RelayUnavailable):
        if error.status:
            return f"the relay at {url} failed (HTTP {error.status}): {error.message}"
        return (
            f"cannot reach the relay at {url} ({error.message}); is `tether serve` "
            "running, and is --url / TETHER_URL right?"
        )
    if isinstance(error, Unauthorized):
        return (
            f"the relay at {url} refused the token: {error.message}; check --token / TETHER_TOKEN"
        )
    if isinstance(error, Forbidden):
        return f"not allowed: {error.message}"
    if isinstance(error, ValidationFailed):
        return f"the relay refused the request: {error.message}"
    return error.message


def run(url: str | None, token: str | None, work: Callable[[RelayClient], Awaitable[T]]) -> T:
    """Resolve the address and token, run `work` with a client, and fail in one line on any
    relay error. Ctrl-C outside a command's own handling exits quietly (130)."""
    base, secret = resolve_url(url), resolve_token(token)

    async def main() -> T:
        async with RelayClient(base, secret) as relay:
            return await work(relay)

    try:
        return asyncio.run(main())
    except RelayError as exc:
        fail(explain(exc, base))
    except KeyboardInterrupt:
        raise SystemExit(130) from None


async def find_session(relay: RelayClient, session_id: str) -> dict[str, Any]:
    """The session with this id, or with this unique id prefix (as `tether sessions`
    shows them), so people can type a few characters."""
    try:
        return await relay.get_session(session_id)
    except NotFound:
        pass
    if session_id:
        matches = [
            s
            for s in await relay.list_sessions()
            if s["id"].startswith(session_id) or s["id"].removeprefix("ses_").startswith(session_id)
        ]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            ids = ", ".join(s["id"] for s in matches[:5])
            raise NotFound(f"{session_id!r} matches several sessions ({ids}); give more of the id")
    raise NotFound(f"no session {session_id!r} on the relay; `tether sessions` lists them")
