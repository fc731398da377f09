"""Where a gateway request's time goes: one case of bench/gateway, sent N times through a
`tether serve --only gateway` that runs under a profiler.

    .venv/bin/python -m bench.gateway.profile passthrough-json [--requests 2000]
    .venv/bin/python -m bench.gateway.profile translated-stream --profiler callgrind

`cprofile` (default) prints the top functions by own and cumulative time; `callgrind`
runs the server under `valgrind --tool=callgrind` and prints the instructions the server
spent per request (loading, start-up and warm-up excluded: instrumentation is switched
on after them), a figure that the machine's load does not move. Cases: passthrough, translated,
responses, gemini-in, gemini-out, gemini-pass, each -json or -stream.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pstats
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import orjson
from bench.gateway.run import (
    CODEX_FIXTURE,
    FIXTURE,
    GEMINI_FIXTURE,
    PASS_MODEL,
    ROOT,
    TRANSLATED_MODEL,
    Case,
    bench_config,
    free_port,
    gemini_cases,
    one,
    serve_args,
    wait_up,
)


def tether_case(name: str) -> Case:
    kind, _, mode = name.rpartition("-")
    stream = mode == "stream"
    fixture = orjson.loads(FIXTURE.read_bytes())
    if kind == "passthrough":
        body = {**fixture, "model": PASS_MODEL, "stream": stream}
        return Case("tether", "/v1/messages", orjson.dumps(body), stream)
    if kind == "translated":
        body = {**fixture, "model": TRANSLATED_MODEL, "stream": stream}
        return Case("tether", "/v1/messages", orjson.dumps(body), stream)
    if kind == "responses":
        codex = orjson.loads(CODEX_FIXTURE.read_bytes())
        body = {**codex, "model": PASS_MODEL, "stream": stream}
        return Case("tether", "/v1/responses", orjson.dumps(body), stream)
    gemini = orjson.loads(GEMINI_FIXTURE.read_bytes())["body"]
    labels = {"gemini-in": 0, "gemini-out": 1, "gemini-pass": 2}
    return gemini_cases(fixture, gemini, stream, mode)[labels[kind]][2]


def callgrind_instructions(out: Path) -> int:
    """Instructions (Ir) in a callgrind output file's summary."""
    counts = [
        int(line.split()[1])
        for line in out.read_text(errors="replace").splitlines()
        if line.startswith(("summary:", "totals:"))
    ]
    return max(counts, default=0)


async def drive(url: str, case: Case, n: int) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=120) as client:
        for _ in range(n):
            await one(client, case)


def serve_under_cprofile(out: str, argv: list[str]) -> None:
    """`python -m tether ...` under cProfile counting this thread's CPU time, not wall
    time: on a shared machine, wall time charges other processes' turns to whatever
    call was running (a socket write that wakes the upstream, most often)."""
    import cProfile
    import runpy

    sys.argv = ["tether", *argv]
    profiler = cProfile.Profile(time.thread_time)
    profiler.enable()
    try:
        runpy.run_module("tether", run_name="__main__")
    except SystemExit:
        pass
    finally:
        profiler.disable()
        profiler.dump_stats(out)


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--serve-under-cprofile":
        return serve_under_cprofile(sys.argv[2], sys.argv[3:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("case", help="e.g. passthrough-json, translated-stream")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--profiler", choices=("cprofile", "callgrind"), default="cprofile")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--out", type=Path, default=None, help="keep the raw profile here")
    args = parser.parse_args()
    case = tether_case(args.case)

    up_port, gw_port = free_port(), free_port()
    upstream_url = f"http://127.0.0.1:{up_port}"
    gateway_url = f"http://127.0.0.1:{gw_port}"
    tmp = Path(tempfile.mkdtemp(prefix="tether-profile-"))
    (tmp / "config.yaml").write_bytes(orjson.dumps(bench_config(upstream_url)))
    out = args.out or tmp / ("callgrind.out" if args.profiler == "callgrind" else "cprofile.out")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TETHER_")}
    env.update(PYTHONPATH=f"{ROOT}:{ROOT / 'src'}")
    serve = ["-m", "tether", *serve_args(gw_port, tmp)]
    if args.profiler == "callgrind":
        command = [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            f"--callgrind-out-file={out}",
            sys.executable,
            *serve,
        ]
    else:
        command = [
            sys.executable,
            "-m",
            "bench.gateway.profile",
            "--serve-under-cprofile",
            str(out),
            *serve[2:],
        ]
    upstream = subprocess.Popen(
        [sys.executable, "-m", "bench.gateway.upstream", str(up_port)], cwd=ROOT, env=env
    )
    gateway = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    try:
        wait_up(f"{upstream_url}/health")
        wait_up(f"{gateway_url}/healthz", timeout=900)
        asyncio.run(drive(gateway_url, case, 50))  # warm-up: pools, caches, imports
        if args.profiler == "callgrind":
            subprocess.run(["callgrind_control", "-i", "on", str(gateway.pid)], check=True)
        t0 = time.perf_counter()
        asyncio.run(drive(gateway_url, case, args.requests))
        elapsed = time.perf_counter() - t0
        if args.profiler == "callgrind":
            subprocess.run(["callgrind_control", "-i", "off", str(gateway.pid)], check=True)
    finally:
        gateway.send_signal(signal.SIGINT)
        gateway.wait(60)
        upstream.terminate()
        upstream.wait(10)
    print(f"{args.case}: {args.requests} requests in {elapsed:.1f}s under {args.profiler}")
    if args.profiler == "callgrind":
        ir = callgrind_instructions(out)
        print(f"{ir / args.requests / 1e6:.2f} M instructions per request ({out})")
        return
    stats = pstats.Stats(str(out))
    stats.sort_stats("tottime").print_stats(args.top)
    stats.sort_stats("cumulative").print_stats(args.top)


if __name__ == "__main__":
    main()
