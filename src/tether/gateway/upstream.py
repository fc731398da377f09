"""One pooled HTTP client per provider, and opening an upstream call with retries.

Retries (429, 5xx, connect errors) happen only here, before any byte has gone to the
client; once a response is handed back its status is final.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import email.utils
import logging
import time

import httpx

from tether.backoff import Backoff
from tether.gateway.config import Provider
from tether.gateway.flows.flow import CURRENT as CURRENT_FLOW
from tether.gateway.http1 import ConnectionPool, UpstreamResponse
from tether.redact import redact_url

log = logging.getLogger("tether.gateway")

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504, 529})
# Never sleep longer than this for one retry, whatever Retry-After says: past it the
# client (Claude Code retries on its own) is better placed to wait.
MAX_RETRY_SLEEP = 8.0

# Header changes the hook pipeline asked for (name → value, None to remove), set in the
# request's own context: applied here, where every provider path sends from, so none of
# them (passthrough or translated) can miss them.
HEADER_EDITS: contextvars.ContextVar[dict[str, str | None] | None] = contextvars.ContextVar(
    "tether_header_edits", default=None
)


def edited_headers(
    headers: list[tuple[str, str]], edits: dict[str, str | None]
) -> list[tuple[str, str]]:
    out = [(k, v) for k, v in headers if k.lower() not in edits]
    out.extend((k, v) for k, v in edits.items() if v is not None)
    return out


class UpstreamFailure(Exception):
    """The upstream could not be reached or did not answer in time (no HTTP status)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _retry_after(response: UpstreamResponse) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    with contextlib.suppress(TypeError, ValueError):
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - time.time())
    return None


class Upstream:
    """A provider's connection pool. HTTP/1.1 keep-alive, TLS verification on."""

    def __init__(self, provider: Provider) -> None:
        self.provider = provider
        self.pool = ConnectionPool(
            provider.base_url,
            timeout=provider.timeout,
            connect_timeout=provider.connect_timeout,
            max_connections=256,
            max_keepalive=64,
            keepalive_expiry=60,
        )

    async def aclose(self) -> None:
        await self.pool.aclose()

    async def open(
        self, path: str, content: bytes, headers: list[tuple[str, str]]
    ) -> UpstreamResponse:
        """POST and return the response with its body unread (the caller streams or reads
        it and must close it). Raises UpstreamFailure when no response could be had.
        The flow being captured, if any, records what was sent and what came back."""
        # Hooks' header edits apply here, before the flow records the headers, so the
        # flow shows what really went upstream on passthrough and translated paths alike.
        if (edits := HEADER_EDITS.get()) is not None:
            headers = edited_headers(headers, edits)
        flow = CURRENT_FLOW.get()
        if flow is None:
            return await self._open(path, content, headers)
        flow.sent(self.provider.base_url.rstrip("/") + path, headers, content)
        try:
            response = await self._open(path, content, headers)
        except UpstreamFailure as failure:
            flow.upstream_error = failure.message
            raise
        flow.connected(response)
        return response

    async def _open(
        self, path: str, content: bytes, headers: list[tuple[str, str]]
    ) -> UpstreamResponse:
        provider = self.provider
        # Made at the first retry: a Backoff seeds its own Random from os.urandom, which
        # the profile showed at ~1% of every request's instructions.
        backoff: Backoff | None = None
        attempt = 0
        while True:
            try:
                response = await self.pool.post(path, content, headers)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError) as exc:
                if attempt < provider.retries:
                    backoff = await self._wait(backoff, attempt, None)
                    attempt += 1
                    continue
                raise UpstreamFailure(
                    502,
                    f"cannot reach provider {provider.name!r} at {redact_url(provider.base_url)}: "
                    f"{type(exc).__name__}",
                ) from None
            except httpx.TimeoutException:
                raise UpstreamFailure(
                    504, f"provider {provider.name!r} did not answer within {provider.timeout:g}s"
                ) from None
            except httpx.HTTPError as exc:
                raise UpstreamFailure(
                    502, f"provider {provider.name!r} failed: {type(exc).__name__}"
                ) from None
            if response.status_code in RETRY_STATUSES and attempt < provider.retries:
                wait = _retry_after(response)
                if wait is not None and wait > MAX_RETRY_SLEEP:
                    # Too long to hold the request: hand the 429 (and its Retry-After)
                    # to the client, which is better placed to wait.
                    return response
                await response.aclose()
                backoff = await self._wait(backoff, attempt, wait)
                attempt += 1
                continue
            return response

    async def _wait(
        self, backoff: Backoff | None, attempt: int, retry_after: float | None
    ) -> Backoff:
        backoff = backoff or Backoff(base=self.provider.retry_backoff, cap=MAX_RETRY_SLEEP)
        delay = backoff.next_delay()
        if retry_after is not None:
            delay = max(delay, retry_after)
        log.info(
            "retrying provider %s in %.2fs (attempt %d)", self.provider.name, delay, attempt + 2
        )
        await asyncio.sleep(min(delay, MAX_RETRY_SLEEP))
        return backoff
