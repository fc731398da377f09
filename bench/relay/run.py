"""Relay benchmark: one `tether serve --only relay` process, measured on loopback in one run.

    .venv/bin/python -m bench.relay [--idle 10000] [--fanout-clients 100] [--rate 500]
                                    [--database-url postgresql://...] [--processes 2]
                                    [--storage-messages 20000]

1. Permission round trip: the agent opens a request → a client sees it on SSE → the client
   answers → the agent's `GET /permissions/{id}?wait=` returns the decision. p50/p99.
2. Fan-out: one agent POSTs messages at a fixed offered rate to N subscribed SSE clients;
   delivered messages/s and delivery latency (POST sent → event read by a client) p50/p99.
   Then the same unpaced, to find the ceiling (at two depths of posts in flight, the
   higher counting); with --processes N, also through N processes on one PostgreSQL
   database, followers and posts spread over them. Every follower checks
   that seqs only rise (order, no doubling) and counts what it got (no loss).
3. Storage: bytes the database grows by per message of a paragraph, against the
   message's own JSON: all in one session, then spread over ten sessions written in turn.
   Then the time to read a page of 100 of those messages, against a page of a short
   session: a page must not cost more as its session grows.
4. Idle connections: N idle SSE clients (and N/10 WebSocket clients) held by the one
   process, with its RSS before and after.

Targets (issues 2 and 16): round trip p50 < 5 ms; 500 msg/s to 100 clients with p99 < 50
ms; one process ≥ 1,500 msg/s to 100 clients; N processes ≥ 1.6× one; ≤ 1.5× the JSON on
disk; 10,000 idle clients < 1 GB.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import orjson
from bench.relay.clients import HTTPConnection, SSEClient, WSClient, read_marks

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def raise_fd_limit(want: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU seconds all cores have spent on anything but idling and waiting for I/O."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


class Server:
    """The one `tether serve` under test (it inherits the raised fd limit)."""

    def __init__(
        self,
        data_dir: Path,
        database_url: str | None,
        token: str | None = None,
        profile: str | None = None,
    ) -> None:
        self.port = free_port()
        self.token = token or "bench-" + secrets.token_hex(8)
        data_dir.mkdir(exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("TETHER_")}
        (data_dir / "config.yaml").write_text("")
        env.update(
            TETHER_TOKEN=self.token,
            TETHER_DATA_DIR=str(data_dir),
            TETHER_CONFIG=str(data_dir / "config.yaml"),
            TETHER_LOG_LEVEL="warning",
            # The idle-connection scenario holds thousands of streams with this one token.
            TETHER_MAX_CONNECTIONS_PER_TOKEN="100000",
            TETHER_MAX_CONNECTIONS="100000",
        )
        if database_url:
            env["TETHER_DATABASE_URL"] = database_url
        self.log = (data_dir / "serve.log").open("wb")
        # `profile`: run under cProfile, the stats written there when it stops.
        runner = ["-m", "tether"] if profile is None else ["-m", "bench.relay.profiled", profile]
        self.proc = subprocess.Popen(
            [sys.executable, *runner, "serve", "--only", "relay", "--port", str(self.port)],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("tether serve exited; see " + str(data_dir / "serve.log"))
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            time.sleep(0.05)
        raise RuntimeError("tether serve did not come up")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.url,
            timeout=60,
            headers={"Authorization": f"Bearer {self.token}"},
            limits=httpx.Limits(max_connections=64),
        )

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


# ── 1. permission round trip ─────────────────────────────────────────────────────────


async def permission_round_trip(server: Server, rounds: int) -> list[float]:
    async with server.client() as agent, server.client() as person:
        session = (await agent.post("/api/v1/sessions", json={"title": "bench"})).json()
        sid = session["id"]
        sse = await SSEClient(server.port, server.token, f"?session={sid}").open()
        answered: dict[str, float] = {}

        async def answer_what_comes() -> None:
            carry = sse.pending
            while True:
                data = carry + await sse.read()
                events = data.split(b"\n\n")
                carry = events.pop()
                for raw in events:
                    if b"event: permission_request" not in raw:
                        continue
                    payload = orjson.loads(raw.split(b"data: ", 1)[1].split(b"\r\n", 1)[0])
                    pid = payload["id"]
                    await person.post(
                        f"/api/v1/permissions/{pid}/respond", json={"behavior": "allow"}
                    )
                    answered[pid] = time.perf_counter()

        helper = asyncio.create_task(answer_what_comes())
        times: list[float] = []
        body = {"tool_name": "Bash", "tool_use_id": "t", "input": {"command": "ls"}}
        try:
            for i in range(rounds + 20):
                start = time.perf_counter()
                opened = await agent.post(f"/api/v1/sessions/{sid}/permissions", json=body)
                pid = opened.json()["id"]
                decided = await agent.get(f"/api/v1/permissions/{pid}", params={"wait": 30})
                elapsed = time.perf_counter() - start
                assert decided.json()["status"] == "allowed", decided.text
                if i >= 20:  # warm-up rounds left out
                    times.append(elapsed * 1000)
        finally:
            helper.cancel()
            sse.close()
        return times


# ── 2. fan-out ───────────────────────────────────────────────────────────────────────


async def fan_out(
    servers: list[Server],
    clients: int,
    rate: float | None,
    count: int,
    in_flight: int = 8,
    agent_per_process: bool = False,
) -> dict[str, float]:
    """One agent publishes `count` messages (paced at `rate`/s, or as fast as it can with
    `rate=None`) to `clients` SSE followers of the session. With several servers (processes
    on one database) the followers are spread over them, and so are the posts, each
    server taking `in_flight` at a time. With `agent_per_process` each server has an agent
    of its own, posting to its own session (as runners spread over relay processes do),
    and every follower follows all of those sessions."""
    server = servers[0]
    async with server.client() as agent:
        agents = len(servers) if agent_per_process else 1
        sids = [
            (await agent.post("/api/v1/sessions", json={"title": "fan"})).json()["id"]
            for _ in range(agents)
        ]
        # Several agents: the followers take every event (the stream filters on one
        # session at most); only the agents' messages carry marks.
        query = f"?session={sids[0]}" if agents == 1 else ""
        followers = await asyncio.gather(
            *(
                SSEClient(servers[i % len(servers)].port, server.token, query).open()
                for i in range(clients)
            )
        )
        sent: dict[int, float] = {}
        latencies: list[float] = []
        received = [0]
        last_at = [0.0]

        all_in = asyncio.Event()

        def on_mark(k: int, at: float) -> None:
            latencies.append((at - sent[k]) * 1000)
            received[0] += 1
            last_at[0] = at
            if received[0] >= count * clients:
                all_in.set()

        readers = [read_marks(follower, on_mark, agents) for follower in followers]
        # Agent j posts marks k with k % agents == j, to its own server.
        connections = [
            [await HTTPConnection(s.port, server.token).open() for _ in range(in_flight)]
            for s in servers
        ]
        idle = [asyncio.Queue[HTTPConnection]() for _ in range(agents)]
        for i, mine in enumerate(connections):
            for connection in mine:
                idle[i % agents].put_nowait(connection)

        async def post(k: int) -> None:
            connection = await idle[k % agents].get()
            path = f"/api/v1/sessions/{sids[k % agents]}/messages"
            body = orjson.dumps(
                {
                    "id": f"m{k}",
                    "role": "agent",
                    "kind": "assistant_text",
                    "content": {"text": "hello world", "k": k},
                }
            )
            sent[k] = time.perf_counter()
            status, answer = await connection.request("POST", path, body)
            assert status == 201, answer
            idle[k % agents].put_nowait(connection)

        pids = [s.proc.pid for s in servers]
        cpu0, own0 = sum(cpu_seconds(p) for p in pids), time.process_time()
        busy0 = machine_busy_seconds()
        start = time.perf_counter()
        tasks = []
        for k in range(count):
            if rate is not None:
                delay = start + k / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(post(k)))
        await asyncio.gather(*tasks)
        published = time.perf_counter()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(all_in.wait(), 30)
        for f in followers:
            f.close()
        for mine in connections:
            for connection in mine:
                connection.close()
        cpu = sum(cpu_seconds(p) for p in pids) - cpu0
        own = time.process_time() - own0
        busy = machine_busy_seconds() - busy0
    span = max(last_at[0], published) - start
    return {
        "offered": rate or 0.0,
        "published_per_s": count / (published - start),
        "delivered": received[0],
        "expected": count * clients,
        "disorder": sum(r.disorder for r in readers),
        "messages_per_s": count / span,
        "deliveries_per_s": received[0] / span,
        "p50": pct(latencies, 50) if latencies else float("nan"),
        "p99": pct(latencies, 99) if latencies else float("nan"),
        "max": max(latencies) if latencies else float("nan"),
        "server_cpu_per_s": cpu / span,
        "bench_cpu_per_s": own / span,
        "machine_busy": busy / span,
    }


# ── storage ──────────────────────────────────────────────────────────────────────────

# What an agent's message is like: a paragraph of assistant text, ~550 bytes of JSON.
PARAGRAPH = (
    "I read the failing test and the function it calls. The loop compares the cursor with "
    "the end of the log before the last page is read, so a page that ends exactly at the "
    "limit is taken for the last one and the rest is never replayed. I will change the "
    "condition to compare the page's length with the limit instead, add a test that "
    "replays exactly two full pages, and run the relay's tests on both databases."
)


def _stored_bytes(data_dir: Path, database_url: str | None) -> int:
    """Bytes the database holds in use: SQLite pages not on the free list (after a
    checkpoint), or PostgreSQL's tables with their indexes and TOAST."""
    if database_url:
        import asyncpg

        async def size() -> int:
            conn = await asyncpg.connect(database_url)
            try:
                return int(
                    await conn.fetchval(
                        "SELECT SUM(pg_total_relation_size(c.oid)) FROM pg_class c "
                        "WHERE c.relkind = 'r' AND c.relnamespace = 'public'::regnamespace"
                    )
                )
            finally:
                await conn.close()

        return asyncio.run(size())
    import sqlite3

    with sqlite3.connect(data_dir / "tether.db") as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        free = conn.execute("PRAGMA freelist_count").fetchone()[0]
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    return (pages - free) * page_size


async def storage(
    server: Server, data_dir: Path, database_url: str | None, count: int, sessions: int
) -> dict:
    """Post `count` messages of a paragraph each, spread over `sessions` sessions in turn (as
    agents running side by side write them); the bytes the database grew by per message,
    against the message's own JSON (as GET /messages returns it).

    Enough messages that what a table takes once (its first pages, PostgreSQL's free-space
    map) is not counted as if every message cost it: at 2,000 it was ~25 B a message."""
    async with server.client() as agent:
        sids = [
            (await agent.post("/api/v1/sessions", json={"title": "storage"})).json()["id"]
            for _ in range(sessions)
        ]
        before = await asyncio.to_thread(_stored_bytes, data_dir, database_url)
        per_session = count // sessions
        for first in range(0, per_session, 20):
            batch = [
                {
                    "id": f"s{k}",
                    "role": "agent",
                    "kind": "assistant_text",
                    "content": {"text": PARAGRAPH},
                }
                for k in range(first, min(per_session, first + 20))
            ]
            for sid in sids:
                r = await agent.post(f"/api/v1/sessions/{sid}/messages", json=batch)
                assert r.status_code == 201, r.text
        after = await asyncio.to_thread(_stored_bytes, data_dir, database_url)
        json_bytes = 0
        for sid in sids:
            after_seq = 0
            while True:
                page = await agent.get(
                    f"/api/v1/sessions/{sid}/messages", params={"after": after_seq, "limit": 500}
                )
                messages = page.json()["messages"]
                if not messages:
                    break
                json_bytes += sum(len(orjson.dumps(m)) for m in messages)
                after_seq = messages[-1]["seq"]
        page_ms = await _page_times(agent, sids[0], per_session)
    stored = per_session * sessions
    return {
        "count": stored,
        "per_message": (after - before) / stored,
        "json_per_message": json_bytes / stored,
        **page_ms,
    }


async def _page_times(agent: httpx.AsyncClient, sid: str, length: int) -> dict[str, float]:
    """p50 ms of reading a page of 100 messages (the newest, as a client opening a session
    does, and one from the middle) of `sid`, `length` messages long, against the newest
    page of a session of 100: a page must cost the same however long its session is."""
    short = (await agent.post("/api/v1/sessions", json={"title": "short"})).json()["id"]
    batch = [{"role": "agent", "kind": "assistant_text", "content": {"text": PARAGRAPH}}] * 100
    assert (await agent.post(f"/api/v1/sessions/{short}/messages", json=batch)).status_code == 201

    pages = {
        "newest_page_ms": (sid, {"before": length + 1, "limit": 100}),
        "middle_page_ms": (sid, {"after": length // 2, "limit": 100}),
        "short_page_ms": (short, {"before": 101, "limit": 100}),
    }
    times: dict[str, list[float]] = {name: [] for name in pages}
    for _ in range(100):  # in turn, so that whatever else the machine does hits all three
        for name, (session, params) in pages.items():
            began = time.perf_counter()
            r = await agent.get(f"/api/v1/sessions/{session}/messages", params=params)
            times[name].append((time.perf_counter() - began) * 1000)
            assert len(r.json()["messages"]) == 100, r.text
    return {name: statistics.median(t[10:]) for name, t in times.items()}


# ── 3. idle connections ──────────────────────────────────────────────────────────────


async def idle(server: Server, sse_count: int, ws_count: int) -> dict[str, float]:
    pid = server.proc.pid
    before = rss_mb(pid)
    opened: list[SSEClient | WSClient] = []
    gate = asyncio.Semaphore(200)  # stay inside the listen backlog

    async def one(kind: str) -> None:
        async with gate:
            client = (
                SSEClient(server.port, server.token)
                if kind == "sse"
                else WSClient(server.port, server.token)
            )
            opened.append(await client.open())

    start = time.perf_counter()
    await asyncio.gather(*(one("sse") for _ in range(sse_count)))
    sse_rss = rss_mb(pid)
    took = time.perf_counter() - start
    await asyncio.gather(*(one("ws") for _ in range(ws_count)))
    both_rss = rss_mb(pid)
    # The held connections are live: one write reaches every SSE client.
    sse_clients = [c for c in opened if isinstance(c, SSEClient)]

    async def sees_it(client: SSEClient) -> float:
        buf = client.pending
        while b"event: session" not in buf:
            buf += await client.read()
        return time.perf_counter()

    async with server.client() as http:
        waiting = [asyncio.create_task(sees_it(c)) for c in sse_clients]
        await asyncio.sleep(0.5)
        sent = time.perf_counter()
        r = await http.post("/api/v1/sessions", json={"title": "wake up"})
        assert r.status_code == 201
        arrivals = await asyncio.wait_for(asyncio.gather(*waiting), 120)
    reach_ms = (max(arrivals) - sent) * 1000
    for client in opened:
        client.close()
    await asyncio.sleep(1)
    return {
        "sse": sse_count,
        "ws": ws_count,
        "before_mb": before,
        "sse_mb": sse_rss,
        "all_mb": both_rss,
        "open_s": took,
        "reach_ms": reach_ms,
        "kb_per_sse": (sse_rss - before) * 1024 / max(sse_count, 1),
        "kb_per_ws": (both_rss - sse_rss) * 1024 / max(ws_count, 1),
    }


# ── main ─────────────────────────────────────────────────────────────────────────────


async def analyze(database_url: str) -> None:
    """Give PostgreSQL's planner statistics, as autovacuum does in a running database within
    a minute of the first writes. A fresh database's first plans are made for empty tables
    (a sequential scan, or a probe by session alone, looks cheapest there) and are kept by
    each connection's prepared statements until statistics arrive: what the ceilings would
    measure then is how fast those plans slow down as the tables grow (bench/README.md)."""
    import asyncpg

    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


async def run(args: argparse.Namespace, servers: list[Server], data_dir: Path) -> None:
    server = servers[0]
    print(
        f"tether serve --only relay: {len(servers)} process(es) on "
        f"{'PostgreSQL' if args.database_url else 'SQLite'}, load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores\n"
    )

    if args.rounds:
        times = await permission_round_trip(server, args.rounds)
        print(
            f"permission round trip ({len(times)} rounds, open → seen on SSE → answered → "
            f"agent's ?wait= returns)"
        )
        print(
            f"  p50 {pct(times, 50):.2f} ms   p99 {pct(times, 99):.2f} ms   "
            f"mean {statistics.mean(times):.2f} ms      target p50 < 5 ms\n"
        )

    count = int(args.rate * args.seconds)
    paced = await fan_out([server], args.fanout_clients, args.rate, count, args.in_flight)
    print(
        f"fan-out: one agent → {args.fanout_clients} SSE clients of one process, "
        f"{args.rate:g} msg/s offered for {args.seconds:g} s"
    )
    _print_fan(paced, "p99 < 50 ms at 500 msg/s offered, all delivered")
    if args.database_url:
        await analyze(args.database_url)
    # A ceiling is the most the server delivers, whatever the offer: with few posts in
    # flight the rate is bounded by each post's latency (Little's law), not by the server,
    # so it is measured at two depths and the higher one counts.
    depths = (args.in_flight, args.in_flight * 4)
    unpaced = int(args.rate * 4)

    async def ceilings(how: str, on: list[Server], agent_per_process: bool = False) -> list[float]:
        """The unpaced rate through `on` at each depth, each run printed."""
        rates = []
        count = unpaced * len(on)
        for depth in depths:
            r = await fan_out(on, args.fanout_clients, None, count, depth, agent_per_process)
            print(f"fan-out ceiling, {how} ({count} messages, {depth} posts in flight each)")
            _print_fan(r, "")
            rates.append(r["messages_per_s"])
        return rates

    alone = await ceilings("one process: the same, unpaced", [server])
    one = max(alone)
    print(f"  ceiling, one process: {one:,.0f} msg/s      target ≥ 1,500 msg/s to every client\n")
    if len(servers) > 1:
        total = unpaced * len(servers)
        both = await fan_out(servers, args.fanout_clients, None, total, args.in_flight)
        print(
            f"fan-out ceiling, {len(servers)} processes on one database: followers and posts "
            f"spread over them ({total} messages, {args.in_flight} posts in flight each)"
        )
        _print_fan(both, "")
        ratio = both["messages_per_s"] / alone[0]
        print(
            f"  {ratio:.2f}× one process at the same depth (one session, so every post waits "
            f"for its row)\n"
        )
        spread = max(
            await ceilings(
                f"{len(servers)} processes, an agent on each: each agent posts its own session "
                "through its own process, every follower follows them all",
                servers,
                agent_per_process=True,
            )
        )
        print(
            f"  ceiling, {len(servers)} processes: {spread:,.0f} msg/s = {spread / one:.2f}× "
            f"one process's ceiling      target ≥ 1.6×\n"
        )

    if args.storage_messages:
        for sessions in (1, 10):
            stored = await storage(
                server, data_dir / "p0", args.database_url, args.storage_messages, sessions
            )
            ratio = stored["per_message"] / stored["json_per_message"]
            where = "one session" if sessions == 1 else f"{sessions} sessions written in turn"
            print(
                f"storage: {stored['count']:,} messages of a paragraph each, {where}; the "
                f"database grew {stored['per_message']:.0f} B per message of "
                f"{stored['json_per_message']:.0f} B of JSON = {ratio:.2f}×      target ≤ 1.5×"
            )
            short = stored["short_page_ms"]
            print(
                f"  a page of 100 of its messages: the newest {stored['newest_page_ms']:.2f} ms "
                f"= {stored['newest_page_ms'] / short:.2f}×, from the middle "
                f"{stored['middle_page_ms']:.2f} ms = {stored['middle_page_ms'] / short:.2f}× "
                f"a session of 100's ({short:.2f} ms, p50)      target ≈ 1×"
            )
        print()

    if not args.idle:
        return
    held = await idle(server, args.idle, args.idle // 10)
    print(f"idle connections held by one process: {held['sse']:,} SSE + {held['ws']:,} WebSocket")
    print(
        f"  RSS {held['before_mb']:.0f} MB before, {held['sse_mb']:.0f} MB with the SSE "
        f"clients, {held['all_mb']:.0f} MB with all ({held['kb_per_sse']:.1f} KB per SSE, "
        f"{held['kb_per_ws']:.1f} KB per WS); opened in {held['open_s']:.1f} s"
    )
    print(f"  one event then reached all {held['sse']:,} SSE clients in {held['reach_ms']:.0f} ms")
    print("  target: 10,000 idle clients < 1 GB")


def _print_fan(r: dict[str, float], target: str) -> None:
    print(
        f"  published {r['published_per_s']:.0f} msg/s; delivered {r['delivered']:,}/"
        f"{r['expected']:,} = {r['messages_per_s']:.0f} msg/s to every client "
        f"({r['deliveries_per_s']:,.0f} events/s)" + (f"      target {target}" if target else "")
    )
    print(
        f"  delivery latency p50 {r['p50']:.1f} ms   p99 {r['p99']:.1f} ms   max {r['max']:.1f} ms"
    )
    print(
        f"  order: {r['disorder']:,} events out of order or doubled      target 0; "
        f"lost: {r['expected'] - r['delivered']:,}      target 0"
    )
    # On a loaded machine the CPU a message costs says more than the rate it reached.
    per_message = r["server_cpu_per_s"] / r["messages_per_s"] * 1000
    print(
        f"  CPU: servers {r['server_cpu_per_s'] * 100:.0f}% of a core = {per_message:.2f} ms "
        f"per message fanned out, bench clients {r['bench_cpu_per_s'] * 100:.0f}%; the "
        f"machine (PostgreSQL too) {r['machine_busy']:.1f} of {os.cpu_count()} cores busy\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=300, help="0 leaves it out")
    parser.add_argument("--fanout-clients", type=int, default=100)
    parser.add_argument("--rate", type=float, default=500)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--idle", type=int, default=10_000, help="0 leaves it out")
    parser.add_argument("--storage-messages", type=int, default=20_000, help="0 leaves it out")
    parser.add_argument("--database-url", default=None)
    parser.add_argument(
        "--processes", type=int, default=1, help="relay processes on one PostgreSQL database"
    )
    parser.add_argument(
        "--in-flight",
        type=int,
        default=8,
        help="posts the agent has in flight per process; the ceilings are measured at this "
        "depth and at four times it (the writer commits what is queued together, so more in "
        "flight means fewer commits per message)",
    )
    args = parser.parse_args()
    if args.processes > 1 and not args.database_url:
        sys.exit("--processes needs --database-url: processes share a PostgreSQL database")
    limit = raise_fd_limit(args.idle * 2 + 2048)
    if limit < args.idle + 1024:
        sys.exit(f"the open-file limit is {limit}; raise it (ulimit -n) for --idle {args.idle}")
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    with tempfile.TemporaryDirectory(prefix="tether-bench-") as tmp:
        servers: list[Server] = []
        try:
            for i in range(args.processes):
                token = servers[0].token if servers else None
                servers.append(Server(Path(tmp) / f"p{i}", args.database_url, token))
            asyncio.run(run(args, servers, Path(tmp)))
        finally:
            for server in servers:
                server.stop()
