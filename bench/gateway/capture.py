"""What flow capture costs: two `tether serve` processes (gateway and relay, so flows are
stored) in front of one fast upstream, one with `flows.capture: off` and one with full
capture (bodies, streamed events, written to SQLite behind the call), taking turns.

    .venv/bin/python -m bench.gateway.capture [--requests 400] [--concurrency 16] [--seconds 4]

Reported per case: total latency p50/p99 with capture off and on, what capture adds
(target under 0.2 ms at p50), requests/s at fixed concurrency and the ratio on/off, CPU
per request of each server, and how many flows were written and dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import orjson
from bench.gateway.run import (
    FIXTURE,
    PASS_MODEL,
    ROOT,
    TRANSLATED_MODEL,
    Case,
    free_port,
    latency,
    ms,
    pct,
    throughput,
    wait_up,
)


def serve(upstream_url: str, capture: str, env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    port = free_port()
    tmp = Path(tempfile.mkdtemp(prefix=f"tether-bench-capture-{capture}-"))
    config = {
        "gateway": {
            "providers": {
                "an": {"type": "anthropic", "base_url": upstream_url, "api_key": "k"},
                "oa": {"type": "openai", "base_url": f"{upstream_url}/v1", "api_key": "k"},
            },
            "routes": [
                {"match": "oa-*", "provider": "oa", "model": "gpt-bench"},
                {"match": "*", "provider": "an"},
            ],
            "flows": {"capture": capture, "queue_size": 10000},
        }
    }
    (tmp / "config.yaml").write_bytes(orjson.dumps(config))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tether",
            "serve",
            "--port",
            str(port),
            "--config",
            str(tmp / "config.yaml"),
            "--data-dir",
            str(tmp),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env={**env, "TETHER_TOKEN": "tth_bench_token"},
        stdout=subprocess.DEVNULL,
    )
    return proc, f"http://127.0.0.1:{port}"


async def path_cost(calls: int = 2000, events: int = 40) -> tuple[float, float]:
    """Per call, the work capture adds on the request's path, in process (no sockets, so
    a loaded machine blurs it less): a streamed call of `events` upstream chunks through
    the recorder's endpoint, its upstream stream and its response, capture on vs off.
    The best of five runs, in microseconds per call (off, on)."""
    from starlette.requests import Request

    from tether.gateway.config import FlowsConfig
    from tether.gateway.flows.flow import CURRENT
    from tether.gateway.flows.recorder import Recorder
    from tether.gateway.streaming import StreamOut

    chunk = b'event: content_block_delta\ndata: {"type":"content_block_delta"}\n\n'
    body = FIXTURE.read_bytes()

    class Chunks(httpx.AsyncByteStream):
        async def __aiter__(self):  # type: ignore[override]
            for _ in range(events):
                yield chunk

    class Route:
        provider = type("P", (), {"name": "an"})()
        model = "m"
        reason = "default"

    async def handler(request: Request) -> StreamOut:
        flow = CURRENT.get()
        if flow is not None:
            flow.routed(body, "m", Route, True, "full")
            flow.sent("http://up/v1/messages", [], body)
        upstream = httpx.Response(200, stream=Chunks())
        if flow is not None:
            flow.connected(upstream)

        async def relay():
            async for item in upstream.aiter_raw():
                yield item

        return StreamOut(200, [], relay(), on_close=upstream.aclose)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/messages",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json"), (b"x-api-key", b"k")],
    }

    async def run(recorder: Recorder) -> float:
        endpoint = recorder.endpoint(handler, "anthropic")
        start = time.perf_counter()
        for _ in range(calls):
            out = await endpoint(Request(scope))
            async for _chunk in out.body:
                pass
            await out.on_close()
        if recorder._queue is not None:
            while not recorder._queue.empty():
                recorder._queue.get_nowait()
            recorder._queued_bytes = 0
        return (time.perf_counter() - start) / calls * 1e6

    off, on = Recorder(FlowsConfig(capture="off")), Recorder(FlowsConfig())
    on._queue = asyncio.Queue(calls + 1)  # no writer: only the request's path is timed
    best_off = min([await run(off) for _ in range(5)])
    best_on = min([await run(on) for _ in range(5)])
    return best_off, best_on


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument(
        "--path-only", action="store_true", help="only the in-process request-path cost"
    )
    args = parser.parse_args()
    off_us, on_us = asyncio.run(path_cost())
    print(
        f"request path, in process: {off_us:.1f} µs/call capture off, {on_us:.1f} µs/call on "
        f"(+{on_us - off_us:.1f} µs; streamed call of 40 events; load {os.getloadavg()[0]:.1f})"
    )
    if args.path_only:
        return

    fixture = orjson.loads(FIXTURE.read_bytes())
    up_port = free_port()
    upstream_url = f"http://127.0.0.1:{up_port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TETHER_")}
    env.update(PYTHONPATH=str(ROOT))
    upstream = subprocess.Popen(
        [sys.executable, "-m", "bench.gateway.upstream", str(up_port)], cwd=ROOT, env=env
    )
    off, off_url = serve(upstream_url, "off", env)
    on, on_url = serve(upstream_url, "full", env)
    try:
        for url in (f"{upstream_url}/health", f"{off_url}/healthz", f"{on_url}/healthz"):
            wait_up(url)
        rows = []
        for stream in (False, True):
            kind = "stream" if stream else "json"
            for label, model in (("passthrough", PASS_MODEL), ("translated ", TRANSLATED_MODEL)):
                body = orjson.dumps({**fixture, "model": model, "stream": stream})
                case = Case(label, "/v1/messages", body, stream)
                without, with_ = asyncio.run(latency(off_url, case, on_url, case, args.requests))
                without.rps, without.cpu_per_request = asyncio.run(
                    throughput(off_url, case, args.concurrency, args.seconds, off.pid)
                )
                with_.rps, with_.cpu_per_request = asyncio.run(
                    throughput(on_url, case, args.concurrency, args.seconds, on.pid)
                )
                rows.append((f"{label} {kind}", without, with_))
                print(f"measured {label} {kind}", file=sys.stderr)
        stats = httpx.get(f"{on_url}/healthz", timeout=10).json().get("flows")
        report(rows, args, stats)
    finally:
        for proc in (on, off, upstream):
            proc.terminate()
            proc.wait(10)


def report(rows: list, args: argparse.Namespace, stats: dict | None) -> None:
    load = os.getloadavg()[0]
    print(
        f"\n{args.requests} sequential requests per case (off and on taking turns), "
        f"concurrency {args.concurrency} for {args.seconds:g}s, {os.cpu_count()} cores, "
        f"load average {load:.1f}\n"
    )
    print("total latency (ms)    capture off p50/p99   capture on p50/p99   added p50/p99  ratio")
    for label, off, on in rows:
        op50, op99 = statistics.median(off.total), pct(off.total, 0.99)
        np50, np99 = statistics.median(on.total), pct(on.total, 0.99)
        print(
            f"{label:<20} {ms(op50)} {ms(op99)}     {ms(np50)} {ms(np99)}    "
            f"{ms(np50 - op50)} {ms(np99 - op99)}  {np50 / op50:5.3f}"
        )
    print("\nthroughput            off req/s   on req/s   ratio   off CPU/req   on CPU/req")
    for label, off, on in rows:
        print(
            f"{label:<20} {off.rps:9.0f}  {on.rps:9.0f}   {on.rps / off.rps:5.2f}   "
            f"{off.cpu_per_request * 1000:8.2f} ms  {on.cpu_per_request * 1000:8.2f} ms"
        )
    print(f"\nflows (capture on): {stats}")


if __name__ == "__main__":
    main()
