"""Where the relay's fan-out CPU goes: the unpaced fan-out of bench/relay against one
`tether serve --only relay` running under cProfile (process CPU time), then the top
functions by own and by cumulative time.

    .venv/bin/python -m bench.relay.profile [--database-url postgresql://...] [--messages 2000]
                                            [--processes 2]

With --processes N (PostgreSQL) the fan-out goes through N processes on one database, as
in bench.relay, and the first of them is profiled: half the posts are its own, the other
half reach it as notifications from the others.
"""

from __future__ import annotations

import argparse
import asyncio
import pstats
import sys
import tempfile
from pathlib import Path

from bench.relay.run import Server, fan_out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--fanout-clients", type=int, default=100)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--top", type=int, default=35)
    parser.add_argument("--save", default=None, help="also keep the raw stats here")
    parser.add_argument("--processes", type=int, default=1)
    args = parser.parse_args()
    if args.processes > 1 and not args.database_url:
        sys.exit("--processes needs --database-url: processes share a PostgreSQL database")
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    with tempfile.TemporaryDirectory(prefix="tether-profile-") as tmp:
        out = args.save or str(Path(tmp) / "serve.prof")
        servers = [Server(Path(tmp) / "p0", args.database_url, profile=out)]
        try:
            for i in range(1, args.processes):
                servers.append(Server(Path(tmp) / f"p{i}", args.database_url, servers[0].token))
            r = asyncio.run(fan_out(servers, args.fanout_clients, None, args.messages))
        finally:
            for server in servers:
                server.stop()
        per_message = r["server_cpu_per_s"] / r["messages_per_s"] * 1000
        print(
            f"{r['messages_per_s']:.0f} msg/s to {args.fanout_clients} clients through "
            f"{len(servers)} process(es), the first under the profiler; servers' CPU "
            f"{per_message:.2f} ms per message\n"
        )
        stats = pstats.Stats(out, stream=sys.stdout)
        stats.sort_stats("tottime").print_stats(args.top)
        stats.sort_stats("cumulative").print_stats(args.top)


if __name__ == "__main__":
    main()
