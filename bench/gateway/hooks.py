"""What the hook pipeline costs per call, in process (no sockets): `python -m
bench.gateway.hooks`. The request is the recorded Claude Code request the gateway bench
sends (~48 KB); each case builds the pipeline from YAML-shaped config and runs the
request phase on a fresh copy, and the event case feeds a 40-event Anthropic stream
through one event hook. Copying the body is timed apart and subtracted."""

from __future__ import annotations

import asyncio
import copy
import json
import statistics
import time
from pathlib import Path

from starlette.requests import Request

from tether.gateway.config import parse_gateway_config
from tether.gateway.hooks import Pipeline, build_pipeline
from tether.gateway.hooks.pipeline import Stage
from tether.gateway.streaming import StreamOut

FIXTURE = Path(__file__).parents[2] / "tests/gateway/fixtures/claude_code_gateway_tool_result.json"
CASES = {
    "headers": [{"type": "headers", "set": {"x-team": "infra"}, "remove": ["anthropic-beta"]}],
    "rewrite_model": [{"type": "rewrite_model", "models": {"claude-*": "other"}}],
    "system_prompt": [{"type": "system_prompt", "append": "Be safe."}],
    "redact (2 patterns)": [
        {"type": "redact", "patterns": ["sk-[A-Za-z0-9_-]{20,}", "AKIA[0-9A-Z]{16}"]}
    ],
    "block (models, tools)": [{"type": "block", "models": ["gpt-*"], "tools": ["Danger*"]}],
}


class _Touch:
    """An event hook that reads every event and changes none."""

    def on_event(self, request, event):
        return False


def _request() -> Request:
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/messages",
        "headers": [],
        "query_string": b"",
    }
    return Request(scope)


async def _request_phase(body: dict, hooks: list[dict], n: int) -> float:
    pipeline = build_pipeline(parse_gateway_config({"hooks": hooks}).hooks)
    times = []
    for _ in range(n):
        fresh = copy.deepcopy(body)
        start = time.perf_counter()
        exchange = await pipeline.request(_request(), fresh, fresh["model"])
        exchange.body_bytes(b"")
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


async def _event_phase(n: int) -> tuple[float, float]:
    frames = [
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
        b'"delta":{"type":"text_delta","text":"word "}}\n\n'
    ] * 40

    async def source():
        for frame in frames:
            yield frame

    touch = _Touch()
    pipeline = Pipeline([Stage("touch", touch, "block", on_event=touch.on_event)])
    plain, hooked = [], []
    for _ in range(n):
        for out, wrap in ((plain, False), (hooked, True)):
            stream = StreamOut(200, [(b"content-type", b"text/event-stream")], source())
            start = time.perf_counter()
            if wrap:
                exchange = await pipeline.request(_request(), {"model": "m"}, "m")
                stream = await pipeline.response(exchange, stream)
            async for _chunk in stream.body:
                pass
            out.append(time.perf_counter() - start)
    return statistics.median(plain) * 1000, statistics.median(hooked) * 1000


async def main() -> None:
    body = json.loads(FIXTURE.read_text())
    body = body.get("body", body)
    print(f"request phase, {len(json.dumps(body)) // 1024} KB Claude Code request, p50 of 300")
    for name, hooks in CASES.items():
        print(f"  {name:24} {await _request_phase(body, hooks, 300):.3f} ms")
    every = [hook for hooks in CASES.values() for hook in hooks]
    print(f"  {'all five':24} {await _request_phase(body, every, 300):.3f} ms")
    plain, hooked = await _event_phase(300)
    print(
        f"event phase, 40 events: unwrapped {plain:.3f} ms, one event hook {hooked:.3f} ms "
        f"({(hooked - plain) / 40 * 1000:.1f} µs per event)"
    )


if __name__ == "__main__":
    asyncio.run(main())
