"""Round trips to PostgreSQL per relay write, counted, with the time each write takes.

    .venv/bin/python -m bench.relay.roundtrips --database-url postgresql://.../DB
                                               [--messages 400] [--concurrency 1 8]

Runs the relay's own Store and Relay in this process (no HTTP: the write path alone) on
the given database, posts messages to one session through `Relay.post_messages` the way
the API does, and counts every call that crosses to the server: statements, BEGIN and
COMMIT, and the reset a pooled connection gets when it goes back to its pool. The log
feed's reads are counted apart. Uses the database as it is (it creates its tables).
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import secrets
import time
from collections import Counter
from pathlib import Path
from typing import Any

import asyncpg
from asyncpg.transaction import Transaction

from tether.config import Settings
from tether.relay.auth import Principal
from tether.relay.models import MessageIn, SessionCreate
from tether.relay.service import Relay
from tether.relay.store import Store, open_database

COUNTS: Counter[str] = Counter()


# Calls made inside a counted call (a reset runs its query through execute) are not
# counted again.
_INSIDE: contextvars.ContextVar[bool] = contextvars.ContextVar("inside", default=False)


def _count(name: str, original: Any) -> Any:
    async def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
        if _INSIDE.get():
            return await original(self, *args, **kwargs)
        COUNTS[name] += 1
        token = _INSIDE.set(True)
        try:
            return await original(self, *args, **kwargs)
        finally:
            _INSIDE.reset(token)

    return counted


def instrument() -> None:
    """Count what asyncpg sends: each of these is one round trip to the server (a
    statement's first use also prepares it; the statement cache makes that rare)."""
    conn = asyncpg.connection.Connection
    for name in ("execute", "executemany", "fetch", "fetchrow", "fetchval", "reset"):
        setattr(conn, name, _count(name, getattr(conn, name)))
    for label, name in (
        ("begin", "start"),
        ("commit", "_Transaction__commit"),
        ("rollback", "_Transaction__rollback"),
    ):
        setattr(Transaction, name, _count(label, getattr(Transaction, name)))


async def measure(url: str, messages: int, concurrency: int) -> dict[str, float]:
    settings = Settings(database_url=url, data_dir=Path("/nonexistent"), token="x")
    store = Store(open_database(url, settings.data_dir))
    await store.open()
    relay = Relay(store, settings)
    await relay.start()
    who = Principal("bench", "bench", "admin")
    try:
        session = await relay.create_session(who, SessionCreate(title="roundtrips"))
        sid = session["id"]
        await asyncio.sleep(0.2)  # let the feed settle
        COUNTS.clear()
        queue: asyncio.Queue[int] = asyncio.Queue()
        for k in range(messages):
            queue.put_nowait(k)
        took: list[float] = []
        run = secrets.token_hex(4)

        async def worker() -> None:
            while not queue.empty():
                k = queue.get_nowait()
                item = MessageIn(
                    id=f"{run}-{k}", role="agent", kind="assistant_text", content={"text": "hi"}
                )
                start = time.perf_counter()
                await relay.post_messages(who, sid, [item])
                took.append(time.perf_counter() - start)

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        span = time.perf_counter() - start
        await asyncio.sleep(0.3)  # let the feed catch up, so its reads are counted
    finally:
        await relay.stop()
        await store.close()
    took.sort()
    total = sum(COUNTS.values())
    return {
        "per_write": total / messages,
        "writes_per_s": messages / span,
        "p50_ms": took[len(took) // 2] * 1000,
        "p99_ms": took[min(len(took) - 1, int(len(took) * 0.99))] * 1000,
        **{f"n_{k}": v / messages for k, v in sorted(COUNTS.items())},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--messages", type=int, default=400)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])
    args = parser.parse_args()
    instrument()
    for concurrency in args.concurrency:
        r = asyncio.run(measure(args.database_url, args.messages, concurrency))
        calls = ", ".join(f"{k[2:]} {v:.2f}" for k, v in r.items() if k.startswith("n_"))
        print(
            f"{concurrency} in flight: {r['per_write']:.2f} round trips per message "
            f"({calls}); {r['writes_per_s']:.0f} writes/s, p50 {r['p50_ms']:.1f} ms, "
            f"p99 {r['p99_ms']:.1f} ms"
        )


if __name__ == "__main__":
    main()
