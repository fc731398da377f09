"""The hook pipeline: built from `gateway.hooks`, run around the router by each surface.

    exchange = await pipeline.request(http_request, body, model)   # before routing
    ...route, translate, call the provider...
    result = await pipeline.response(exchange, result)             # the client's answer

Every hook run is recorded on the Starlette request as `request.state.hook_runs`, a list
of `{name, phase, changed, ms, outcome}` (plus `what` when the hook said what it
changed, and `events` for the event phase); flows store that list. A stream is wrapped
only when a hook asks for its events: otherwise its chunks go through untouched.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from tether.gateway.hooks.api import Blocked, HookRequest, HookResponse, StreamEvent, Surface
from tether.gateway.hooks.builtin import BUILTINS
from tether.gateway.hooks.config import HookSpec, Only, PluginSpec, hook_name
from tether.gateway.hooks.formats import stream_error
from tether.gateway.hooks.order import Declared, sort_hooks
from tether.gateway.hooks.plugins import load_plugin
from tether.gateway.inbound import ClientError, Format, error_response
from tether.gateway.streaming import StreamOut
from tether.gateway.upstream import HEADER_EDITS
from tether.sse import SSEParser

log = logging.getLogger("tether.gateway.hooks")

FORMATS: dict[Surface, Format] = {
    "anthropic": Format.ANTHROPIC,
    "openai": Format.OPENAI,
    "responses": Format.OPENAI,
    "gemini": Format.GEMINI,
}


def surface_of(path: str) -> Surface:
    """The client's format, from the endpoint it called."""
    if path.startswith("/v1/messages"):
        return "anthropic"
    if path == "/v1/chat/completions":
        return "openai"
    if path == "/v1/responses":
        return "responses"
    return "gemini"


@dataclass
class Stage:
    name: str
    hook: Any
    on_error: str
    # The hook's methods for each phase (None: it sits that phase out).
    on_request: Callable[..., Any] | None = None
    on_response: Callable[..., Any] | None = None
    on_event: Callable[..., Any] | None = None
    only: Only | None = None

    def is_for(self, request: HookRequest) -> bool:
        return self.only is None or self.only.matches(request.surface, request.model)


@dataclass
class Exchange:
    """One call going through the pipeline."""

    request: HookRequest
    runs: list[dict[str, Any]]
    # Some hook said it changed the body: the client's bytes no longer stand for it.
    changed: bool = False
    # Hooks whose `only` leaves this call out, in every phase.
    passed_by: set[str] = field(default_factory=set)

    def of(self, stages: list[Stage]) -> list[Stage]:
        """The stages of a later phase that are for this call."""
        if not self.passed_by:
            return stages
        return [s for s in stages if s.name not in self.passed_by]

    def body_bytes(self, raw: bytes) -> bytes:
        return orjson.dumps(self.request.body) if self.changed else raw


class _Refused(Exception):
    """A hook refused the call (Blocked) or failed with on_error: block."""

    def __init__(self, status: int, message: str, kind: str, outcome: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind = kind
        self.outcome = outcome  # "blocked" or "failed", as recorded


@dataclass
class _EventTally:
    ms: float = 0.0
    events: int = 0
    changed: bool = False
    outcome: str = "ok"


@dataclass
class Pipeline:
    stages: list[Stage] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._request = [s for s in self.stages if s.on_request]
        self._response = [s for s in self.stages if s.on_response]
        self._event = [s for s in self.stages if s.on_event]
        # Filtered hooks with no request phase: told apart once the request is final.
        self._later = [s for s in self.stages if s.only and not s.on_request]

    def __bool__(self) -> bool:
        return bool(self.stages)

    # --- the two call sites --------------------------------------------------------------

    async def request(
        self, http: Request, body: dict[str, Any], model: str, surface: Surface | None = None
    ) -> Exchange:
        """Run the request hooks on `body` (changed in place). Raises ClientError when a
        hook refuses the call."""
        path = http.url.path
        hooked = HookRequest(surface or surface_of(path), path, body, http.headers, model)
        exchange = Exchange(hooked, [])
        http.state.hook_runs = exchange.runs
        for stage in self._request:
            # Checked as the hook's turn comes: after a rewrite_model, the new model.
            if not stage.is_for(hooked):
                exchange.passed_by.add(stage.name)
                continue
            try:
                what = await self._run(stage, "request", exchange, stage.on_request)
            except _Refused as refused:
                raise ClientError(refused.status, refused.message, kind=refused.kind) from None
            # A change of headers only leaves the client's body bytes as they are.
            if what is not None and set(what) != {"headers"}:
                exchange.changed = True
        hooked.settle()
        exchange.passed_by.update(s.name for s in self._later if not s.is_for(hooked))
        if hooked.header_edits:
            # Read by Upstream.open, the one place every provider path sends from; the
            # provider call runs in this request's context (or a copy of it).
            HEADER_EDITS.set(hooked.header_edits)
        return exchange

    async def response(self, exchange: Exchange, result: Any) -> Any:
        """The answer after the response hooks (and, for a stream, with its events handed
        to the event hooks)."""
        if isinstance(result, StreamOut):
            return await self._stream(exchange, result)
        stages = exchange.of(self._response)
        if not stages or not isinstance(result, Response):
            return result
        try:
            body = orjson.loads(bytes(result.body))
        except orjson.JSONDecodeError:
            body = None
        answer = HookResponse(result.status_code, body, stream=False)
        changed = False
        for stage in stages:
            try:
                what = await self._run(stage, "response", exchange, stage.on_response, answer)
            except _Refused as refused:
                fmt = FORMATS[exchange.request.surface]
                return error_response(fmt, refused.status, refused.message, kind=refused.kind)
            changed |= what is not None
        if changed and answer.body is not None:
            content = orjson.dumps(answer.body)
            result.body = content
            result.raw_headers[:] = [
                (k, v) for k, v in result.raw_headers if k != b"content-length"
            ] + [(b"content-length", str(len(content)).encode())]
        return result

    # --- running one hook ----------------------------------------------------------------

    async def _run(
        self, stage: Stage, phase: str, exchange: Exchange, method: Any, *args: Any
    ) -> list[str] | None:
        """Run one hook and record it: what it changed (None: nothing). Raises _Refused."""
        start = time.perf_counter()
        outcome, what = "ok", None
        try:
            what, outcome = await _invoke(stage, phase, method, exchange.request, *args)
        except _Refused as refused:
            outcome = refused.outcome
            raise
        finally:
            ms = (time.perf_counter() - start) * 1000
            run = {
                "name": stage.name,
                "phase": phase,
                "changed": what is not None,
                "ms": round(ms, 3),
                "outcome": outcome,
            }
            if what:
                run["what"] = what
            exchange.runs.append(run)
            log.debug("hook %s %s: %s, changed %s, %.3f ms", stage.name, phase, outcome, what, ms)
        return what

    # --- streams -------------------------------------------------------------------------

    async def _stream(self, exchange: Exchange, out: StreamOut) -> StreamOut:
        answer = HookResponse(out.status, None, stream=True)
        for stage in exchange.of(self._response):
            try:
                await self._run(stage, "response", exchange, stage.on_response, answer)
            except _Refused as refused:
                # Nothing has been sent yet: the client gets a plain error answer.
                aclose = getattr(out.body, "aclose", None)
                if aclose is not None:
                    await aclose()
                if out.on_close is not None:
                    await out.on_close()
                fmt = FORMATS[exchange.request.surface]
                return error_response(fmt, refused.status, refused.message, kind=refused.kind)
        content_type = next((v for k, v in out.headers if k == b"content-type"), b"")
        stages = exchange.of(self._event)
        if stages and b"text/event-stream" in content_type:
            # Gemini's JSON-array streams (no ?alt=sse) are not split into events.
            out.body = self._events(exchange, stages, out.body)
        return out

    async def _events(
        self, exchange: Exchange, stages: list[Stage], source: AsyncIterator[bytes]
    ) -> AsyncIterator[bytes]:
        parser = SSEParser()
        tallies = [(stage, _EventTally()) for stage in stages]
        surface = exchange.request.surface
        try:
            async for chunk in source:
                messages = parser.feed(chunk)
                if not messages:
                    if chunk.startswith(b":"):
                        yield chunk  # a keep-alive comment: pass it on
                    continue
                frames = []
                for message in messages:
                    frames.append(await self._event_frame(exchange, message, tallies))
                yield b"".join(frames)
            tail = [await self._event_frame(exchange, m, tallies) for m in parser.close()]
            if tail:
                yield b"".join(tail)
        except _Refused as refused:
            yield stream_error(surface, refused.status, refused.message)
        finally:
            aclose = getattr(source, "aclose", None)
            if aclose is not None:
                await aclose()
            for stage, tally in tallies:
                exchange.runs.append(
                    {
                        "name": stage.name,
                        "phase": "event",
                        "changed": tally.changed,
                        "ms": round(tally.ms, 3),
                        "outcome": tally.outcome,
                        "events": tally.events,
                    }
                )

    async def _event_frame(
        self, exchange: Exchange, message: Any, tallies: list[tuple[Stage, _EventTally]]
    ) -> bytes:
        """One SSE message through the event hooks, as the frame that goes on."""
        try:
            data: Any = orjson.loads(message.data)
        except orjson.JSONDecodeError:
            data = message.data  # OpenAI's [DONE]
        event = StreamEvent(None if message.event == "message" else message.event, data)
        changed = False
        for stage, tally in tallies:
            if tally.outcome == "skipped":
                continue  # failed earlier in this stream: skipped (and logged) once
            start = time.perf_counter()
            try:
                what, outcome = await _invoke(
                    stage, "event", stage.on_event, exchange.request, event
                )
            except _Refused as refused:
                tally.outcome = refused.outcome
                raise
            finally:
                tally.ms += (time.perf_counter() - start) * 1000
                tally.events += 1
            if outcome != "ok":
                tally.outcome = outcome
            if what is not None:
                changed = tally.changed = True
        if not changed:
            text = message.data
        elif isinstance(event.data, str):
            text = event.data
        else:
            text = orjson.dumps(event.data).decode()
        head = f"event: {event.event}\n" if event.event else ""
        return (head + "data: " + text.replace("\n", "\ndata: ") + "\n\n").encode()


async def _invoke(
    stage: Stage, phase: str, method: Any, *args: Any
) -> tuple[list[str] | None, str]:
    """Call a hook's method: (what it changed or None, "ok" or "skipped"). Raises _Refused
    when it blocks the call or fails with on_error: block."""
    try:
        result = method(*args)
        if inspect.isawaitable(result):
            result = await result
    except Blocked as exc:
        raise _Refused(
            exc.status,
            f"refused by the gateway's hook {stage.name!r}: {exc.message}",
            "permission_error" if exc.status == 403 else "invalid_request_error",
            "blocked",
        ) from None
    except Exception as exc:
        # Its type only: the message may quote the body.
        skip = stage.on_error == "skip"
        log.warning(
            "gateway hook %r failed in its %s phase (%s); %s",
            stage.name,
            phase,
            type(exc).__name__,
            "skipped it (on_error: skip)" if skip else "refused the call (on_error: block)",
        )
        if skip:
            return None, "skipped"
        message = f"the gateway's hook {stage.name!r} failed, and it is set to refuse the call then"
        raise _Refused(500, message, "api_error", "failed") from None
    return _changed(result), "ok"


def _changed(result: Any) -> list[str] | None:
    """What a hook reported changing: None for nothing, else the words it gave (if any)."""
    if result is None or result is False:
        return None
    if result is True:
        return []
    if isinstance(result, str):
        return [result]
    what = [str(item) for item in result]
    return what or None


# --- building ------------------------------------------------------------------------------


def build_pipeline(specs: Sequence[HookSpec]) -> Pipeline:
    """The hooks of `gateway.hooks`, made and sorted. Raises ConfigError for a plugin that
    is not installed or refuses its options, a repeated or unknown name, or a cycle."""
    stages: list[Stage] = []
    declared: list[Declared] = []
    for i, spec in enumerate(specs):
        where = f"gateway.hooks[{i}]"
        if isinstance(spec, PluginSpec):
            hook = load_plugin(spec.plugin, spec.options, where)
        else:
            hook = BUILTINS[type(spec)](spec)
        name = hook_name(spec)
        stages.append(
            Stage(
                name,
                hook,
                spec.on_error,
                **{m: getattr(hook, m, None) for m in ("on_request", "on_response", "on_event")},
                only=spec.only,
            )
        )
        declared.append(
            Declared(
                name,
                after=(*spec.after, *_names(hook, "after")),
                before=(*spec.before, *_names(hook, "before")),
            )
        )
    return Pipeline([stages[i] for i in sort_hooks(declared)])


def _names(hook: Any, attribute: str) -> tuple[str, ...]:
    """A plugin's own `after`/`before`: a name or a list of names."""
    value = getattr(hook, attribute, ())
    return (value,) if isinstance(value, str) else tuple(value)
