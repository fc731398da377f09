"""One exchange as it happens. Everything here runs on the request's path, so it only
stores references, appends chunks and reads the clock; joining, parsing, redacting and
compressing happen later in the writer (`digest.py`)."""

from __future__ import annotations

import contextvars
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from tether.gateway.http1 import UpstreamResponse

# The flow of the request being served; the upstream layer reads it to record what it
# sends and receives without the flow being threaded through every provider.
CURRENT: contextvars.ContextVar[Flow | None] = contextvars.ContextVar("tether_flow", default=None)


def new_flow_id() -> str:
    # Time first, so ids sort by when the exchange began (the API pages by id).
    return f"flw_{time.time_ns():016x}{secrets.token_hex(3)}"


@dataclass(slots=True, eq=False)
class Flow:
    surface: str  # anthropic, openai, responses, gemini
    method: str
    path: str
    query: str
    request_headers: list[tuple[bytes, bytes]]
    id: str = field(default_factory=new_flow_id)
    received: float = field(default_factory=time.time)
    t0: float = field(default_factory=time.perf_counter)
    mode: str = "full"
    state: Any = None  # the Starlette request's state (hooks record into it)
    # the request as received, and where routing sent it
    raw: bytes | None = None
    client_model: str | None = None
    provider: str | None = None
    upstream_model: str | None = None
    reason: str | None = None
    stream: bool = False
    # the request as sent upstream, and the upstream's answer
    upstream_url: str | None = None
    upstream_request_headers: list[tuple[str, str]] | None = None
    upstream_request_body: bytes | None = None
    upstream_status: int | None = None
    upstream_response_headers: list[tuple[bytes, bytes]] | None = None
    upstream_chunks: list[bytes] = field(default_factory=list)
    upstream_error: str | None = None
    t_connected: float | None = None
    t_first_byte: float | None = None
    t_last_byte: float | None = None
    # the response as returned
    status: int | None = None
    response_headers: list[tuple[bytes, bytes]] | None = None
    response_chunks: list[bytes] = field(default_factory=list)
    t_done: float | None = None
    error: str | None = None
    size: int = 0  # bytes held while queued (recorder.py)

    def routed(self, raw: bytes, client_model: str, route: Any, stream: bool, mode: str) -> None:
        self.raw = raw
        self.client_model = client_model
        self.provider = route.provider.name
        self.upstream_model = route.model
        self.reason = route.reason
        self.stream = stream
        self.mode = mode

    def sent(self, url: str, headers: list[tuple[str, str]], content: bytes) -> None:
        self.upstream_url = url
        self.upstream_request_headers = headers
        self.upstream_request_body = content

    def connected(self, response: UpstreamResponse) -> None:
        self.t_connected = time.perf_counter()
        self.upstream_status = response.status_code
        self.upstream_response_headers = response.headers.raw
        response.observer = self  # the body as it is read: streamed, whole or error

    def body_chunk(self, chunk: bytes) -> None:
        if not self.upstream_chunks:
            self.t_first_byte = time.perf_counter()
        self.upstream_chunks.append(chunk)

    def body_end(self) -> None:
        self.t_last_byte = time.perf_counter()

    def ms(self, t: float | None) -> float | None:
        return None if t is None else round((t - self.t0) * 1000, 3)
