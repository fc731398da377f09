"""Gateway benchmark: the same requests sent straight to a fast local upstream and through
`tether serve --only gateway`, in one run.

    .venv/bin/python -m bench.gateway [--requests 400] [--concurrency 16] [--seconds 4]

Cases, each streamed and not: passthrough (Anthropic client → Anthropic upstream),
translated (Anthropic client → OpenAI-compatible upstream), responses (an OpenAI Responses
client, Codex, → Anthropic upstream), gemini in (Gemini client → Anthropic upstream, through
the hub), gemini out (Anthropic client → Gemini upstream) and gemini pass (Gemini client →
Gemini upstream). The requests are real ones from tests/gateway/fixtures: Claude Code's
(~55 KB of system prompt, tools and history), Codex's (~48 KB) and Gemini CLI's (~50 KB).
For translated cases the direct baseline sends the already-translated body to the
upstream: what the upstream costs without tether in the way.

Reported per case: TTFB and total latency p50/p99 at concurrency 1 (and what tether adds),
requests/s at fixed concurrency (and the ratio to direct), CPU per request of the tether
process, and for streams the added time per SSE event; each figure next to its target.
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
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
from bench.gateway.upstream import EVENTS

from tether.gateway.translate.anthropic_request_to_gemini import anthropic_request_to_gemini
from tether.gateway.translate.anthropic_request_to_openai import request_to_openai
from tether.gateway.translate.gemini_request_to_anthropic import gemini_request_to_anthropic
from tether.gateway.translate.responses_request_to_anthropic import responses_to_anthropic

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "gateway" / "fixtures" / "claude_code_gateway_tool_result.json"
CODEX_FIXTURE = ROOT / "tests" / "gateway" / "fixtures" / "codex_tool_result.json"
GEMINI_FIXTURE = ROOT / "tests" / "gateway" / "fixtures" / "gemini_cli_tool_result.json"
PASS_MODEL = "claude-bench-sonnet"
TRANSLATED_MODEL = "oa-bench"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_up(url: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not come up")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Case:
    name: str
    path: str
    body: bytes
    stream: bool


@dataclass
class Result:
    ttfb: list[float]
    total: list[float]
    rps: float = 0.0
    cpu_per_request: float = 0.0


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def one(client: httpx.AsyncClient, case: Case) -> tuple[float, float]:
    start = time.perf_counter()
    first = None
    async with client.stream(
        "POST",
        case.path,
        content=case.body,
        headers={
            "content-type": "application/json",
            "anthropic-version": "2023-06-01",
            "x-api-key": "bench",
        },
    ) as response:
        async for _ in response.aiter_raw():
            if first is None:
                first = time.perf_counter()
        if response.status_code != 200:
            raise RuntimeError(f"{case.name}: HTTP {response.status_code}")
    end = time.perf_counter()
    return (first or end) - start, end - start


async def latency(
    direct_url: str, direct_case: Case, tether_url: str, tether_case: Case, n: int
) -> tuple[Result, Result]:
    """Sequential requests, direct and through tether taking turns, so both see the same
    background load (this machine is shared)."""
    async with (
        httpx.AsyncClient(base_url=direct_url, timeout=30) as direct,
        httpx.AsyncClient(base_url=tether_url, timeout=30) as through,
    ):
        for _ in range(min(50, n)):
            await one(direct, direct_case)
            await one(through, tether_case)
        d, t = [], []
        for _ in range(n):
            d.append(await one(direct, direct_case))
            t.append(await one(through, tether_case))
    return (
        Result([s[0] for s in d], [s[1] for s in d]),
        Result([s[0] for s in t], [s[1] for s in t]),
    )


async def throughput(
    base: str, case: Case, concurrency: int, seconds: float, pid: int
) -> tuple[float, float]:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as client:
        count = 0
        stop_at = 0.0

        async def worker() -> None:
            nonlocal count
            while time.perf_counter() < stop_at:
                await one(client, case)
                count += 1

        stop_at = time.perf_counter() + 0.5  # warm the pool
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        count = 0
        cpu0 = cpu_seconds(pid)
        t0 = time.perf_counter()
        stop_at = t0 + seconds
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - t0
        cpu = cpu_seconds(pid) - cpu0
    return count / elapsed, cpu / max(count, 1)


def ms(x: float) -> str:
    return f"{x * 1000:7.2f}"


def bench_config(upstream_url: str) -> dict:
    """The gateway's config (JSON is YAML): one provider of each type, on the upstream."""
    return {
        "gateway": {
            "providers": {
                "an": {"type": "anthropic", "base_url": upstream_url, "api_key": "k"},
                "oa": {"type": "openai", "base_url": f"{upstream_url}/v1", "api_key": "k"},
                "gm": {"type": "gemini", "base_url": upstream_url, "api_key": "k"},
            },
            "routes": [
                {"match": "oa-*", "provider": "oa", "model": "gpt-bench"},
                {"match": "gm-*", "provider": "gm", "model": "gemini-bench"},
                {"match": "*", "provider": "an"},
            ],
        }
    }


def serve_args(port: int, tmp: Path) -> list[str]:
    """`tether` arguments for the gateway alone, with the config bench_config wrote in tmp."""
    options = {"--only": "gateway", "--port": str(port), "--config": str(tmp / "config.yaml")}
    options.update({"--data-dir": str(tmp), "--log-level": "warning"})
    return ["serve", *(part for pair in options.items() for part in pair)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--requests", type=int, default=400, help="sequential requests per latency measurement"
    )
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--seconds", type=float, default=4.0, help="length of each throughput measurement"
    )
    parser.add_argument(
        "--only", default="", help="measure only the cases whose name contains this text"
    )
    args = parser.parse_args()

    fixture = orjson.loads(FIXTURE.read_bytes())
    codex = orjson.loads(CODEX_FIXTURE.read_bytes())
    gemini = orjson.loads(GEMINI_FIXTURE.read_bytes())["body"]
    up_port, gw_port = free_port(), free_port()
    upstream_url = f"http://127.0.0.1:{up_port}"
    gateway_url = f"http://127.0.0.1:{gw_port}"
    tmp = Path(tempfile.mkdtemp(prefix="tether-bench-"))
    (tmp / "config.yaml").write_bytes(orjson.dumps(bench_config(upstream_url)))

    env = {k: v for k, v in os.environ.items() if not k.startswith("TETHER_")}
    env.update(PYTHONPATH=f"{ROOT}:{ROOT / 'src'}")
    upstream = subprocess.Popen(
        [sys.executable, "-m", "bench.gateway.upstream", str(up_port)], cwd=ROOT, env=env
    )
    gateway = subprocess.Popen(
        [sys.executable, "-m", "tether", *serve_args(gw_port, tmp)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_up(f"{upstream_url}/health")
        wait_up(f"{gateway_url}/healthz")
        rows = []
        for stream in (False, True):
            passthrough = orjson.dumps({**fixture, "model": PASS_MODEL, "stream": stream})
            translated_in = {**fixture, "model": TRANSLATED_MODEL, "stream": stream}
            translated_out, _ = request_to_openai(translated_in, model="gpt-bench")
            kind = "stream" if stream else "json"
            responses_in = {**codex, "model": PASS_MODEL, "stream": stream}
            responses_out, _ = responses_to_anthropic(responses_in, model=PASS_MODEL)
            cases = [
                (
                    f"passthrough {kind}",
                    Case("direct", "/v1/messages", passthrough, stream),
                    Case("tether", "/v1/messages", passthrough, stream),
                ),
                (
                    f"translated  {kind}",
                    Case("direct", "/v1/chat/completions", orjson.dumps(translated_out), stream),
                    Case("tether", "/v1/messages", orjson.dumps(translated_in), stream),
                ),
                (
                    f"responses   {kind}",
                    Case("direct", "/v1/messages", orjson.dumps(responses_out), stream),
                    Case("tether", "/v1/responses", orjson.dumps(responses_in), stream),
                ),
                *gemini_cases(fixture, gemini, stream, kind),
            ]
            for label, direct_case, tether_case in cases:
                if args.only not in label:
                    continue
                direct, through = asyncio.run(
                    latency(upstream_url, direct_case, gateway_url, tether_case, args.requests)
                )
                direct.rps, direct.cpu_per_request = asyncio.run(
                    throughput(
                        upstream_url, direct_case, args.concurrency, args.seconds, upstream.pid
                    )
                )
                through.rps, through.cpu_per_request = asyncio.run(
                    throughput(
                        gateway_url, tether_case, args.concurrency, args.seconds, gateway.pid
                    )
                )
                rows.append((label, direct, through))
                print(f"measured {label}", file=sys.stderr)
        report(rows, len(passthrough), args)
    finally:
        for proc in (gateway, upstream):
            proc.terminate()
            proc.wait(10)


def gemini_cases(
    claude: dict, gemini: dict, stream: bool, kind: str
) -> list[tuple[str, Case, Case]]:
    """Gemini in (through the hub to Anthropic), out (Anthropic client to Gemini), and
    passthrough; each direct baseline is the body the upstream gets from tether."""
    method = "streamGenerateContent?alt=sse" if stream else "generateContent"
    raw = orjson.dumps(gemini)
    hub = gemini_request_to_anthropic(gemini, model="gem-in", stream=stream)
    out, _ = anthropic_request_to_gemini(claude)
    upstream_path = f"/v1beta/models/gemini-bench:{method}"
    return [
        (
            f"gemini in   {kind}",
            Case("direct", "/v1/messages", orjson.dumps(hub), stream),
            Case("tether", f"/v1beta/models/gem-in:{method}", raw, stream),
        ),
        (
            f"gemini out  {kind}",
            Case("direct", upstream_path, orjson.dumps(out), stream),
            Case(
                "tether",
                "/v1/messages",
                orjson.dumps({**claude, "model": "gm-out", "stream": stream}),
                stream,
            ),
        ),
        (
            f"gemini pass {kind}",
            Case("direct", upstream_path, raw, stream),
            Case("tether", f"/v1beta/models/gm-pass:{method}", raw, stream),
        ),
    ]


# Targets (issues 11, 12 and 16): what tether may add at p50, and the share of the direct
# upstream's throughput it must keep, per kind of case; and per streamed SSE event.
PASS_ADDED_MS, HUB_ADDED_MS = 1.0, 3.0
PER_EVENT_US = 30.0


def targets(label: str) -> tuple[float, float]:
    """(added p50 total, ms; tether/direct req/s) a case must meet."""
    passthrough = label.startswith(("passthrough", "gemini pass"))
    stream = "stream" in label
    if passthrough:
        return PASS_ADDED_MS, 0.5 if stream else 0.8
    if label.startswith("translated"):
        return HUB_ADDED_MS, 0.5 if stream else 0.7
    return HUB_ADDED_MS, 0.5


def verdict(ok: bool) -> str:
    return "ok  " if ok else "MISS"


def report(
    rows: list[tuple[str, Result, Result]], body_bytes: int, args: argparse.Namespace
) -> None:
    print(
        f"\nrequest body {body_bytes / 1024:.0f} KB (real Claude Code request), "
        f"{EVENTS} text events per stream, {args.requests} sequential requests, "
        f"concurrency {args.concurrency} for {args.seconds:g}s, {os.cpu_count()} cores, "
        f"load average {os.getloadavg()[0]:.1f}\n"
    )
    print(
        "latency (ms)            direct p50/p99         tether p50/p99      added p50/p99"
        "     target (added p50)"
    )
    for label, d, t in rows:
        limit, _ = targets(label)
        for metric, dv, tv in (("ttfb ", d.ttfb, t.ttfb), ("total", d.total, t.total)):
            dp50, dp99 = statistics.median(dv), pct(dv, 0.99)
            tp50, tp99 = statistics.median(tv), pct(tv, 0.99)
            added = (tp50 - dp50) * 1000
            print(
                f"{label} {metric} {ms(dp50)} {ms(dp99)}   {ms(tp50)} {ms(tp99)}   "
                f"{ms(tp50 - dp50)} {ms(tp99 - dp99)}   < {limit:g} {verdict(added < limit)}"
            )
    print(
        "\nthroughput              direct req/s   tether req/s   ratio   target   "
        "tether CPU/req   upstream CPU/req"
    )
    for label, d, t in rows:
        _, floor = targets(label)
        ratio = t.rps / d.rps
        print(
            f"{label}      {d.rps:9.0f}      {t.rps:9.0f}   {ratio:5.2f}   "
            f">= {floor:.1f} {verdict(ratio >= floor)}"
            f"{t.cpu_per_request * 1000:9.2f} ms   {d.cpu_per_request * 1000:9.2f} ms"
        )
    print(f"\nstreaming: added total p50 per SSE event (target < {PER_EVENT_US:g} µs)")
    for label, d, t in rows:
        if "stream" in label:
            added = statistics.median(t.total) - statistics.median(d.total)
            per_event = added / (EVENTS + 5) * 1e6
            print(f"{label}  {per_event:7.1f} µs/event   {verdict(per_event < PER_EVENT_US)}")


if __name__ == "__main__":
    main()
