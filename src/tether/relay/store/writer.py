"""One writer per process: changes queue up and commit together (group commit).

Every change to the relay's state is an operation that runs inside a transaction and logs
events on the `Tx` it is given. The writer takes whatever operations have queued, runs
them in one transaction, appends their events to the log in one statement at the end and
commits once, then hands the committed events on (`on_commit`, in commit order) before
its callers resume. While one batch commits the next one queues, so the more writes
arrive together, the fewer round trips and commits each costs.

Some operations are much cheaper done together: a run of message posts next to each other
in a batch is one statement (`Together`), not one round trip each, so a commit's cost
hardly grows with how many posts it carries.

An operation that fails makes the whole batch roll back; its operations then run again
one transaction each, so each caller gets its own answer (the same as if it had been
alone) and no failure leaks into another's write.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from tether.relay.event import WireEvent
from tether.relay.store.db import Connection, Database

log = logging.getLogger("tether.relay.writer")

R = TypeVar("R")
A = TypeVar("A")
# The most operations one transaction takes: a batch stays short enough that the callers
# at its end do not wait long for those at its start.
MAX_BATCH = 64
# Runs of a lone operation that lost a race with another process (PostgreSQL).
RETRIES = 3


class Tx:
    """One transaction as an operation sees it: the connection, and the events it logs
    (their ids are drawn when the batch commits)."""

    def __init__(self, conn: Connection, dialect: str) -> None:
        self.conn = conn
        self.dialect = dialect
        self.events: list[WireEvent] = []
        # Permission requests whose row must learn the id of the event that opened it.
        self.opened: list[tuple[str, WireEvent]] = []

    def log(self, type: str, session_id: str | None, data: dict[str, Any]) -> WireEvent:
        event = WireEvent(None, type, session_id, data)
        self.events.append(event)
        return event

    async def fetch(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        return await self.conn.fetch(sql, *args)

    async def fetchrow(self, sql: str, *args: Any) -> dict[str, Any] | None:
        return await self.conn.fetchrow(sql, *args)

    async def execute(self, sql: str, *args: Any) -> int:
        return await self.conn.execute(sql, *args)

    async def executemany(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        await self.conn.executemany(sql, rows)


@dataclass(frozen=True, slots=True)
class Together(Generic[A, R]):
    """An operation the writer runs with the like operations queued next to it, in one
    call: `run_all(tx, args)` does the work of each argument, in order, and returns one
    result per argument. Operations are alike when their `run_all` is the same."""

    run_all: Callable[[Tx, list[A]], Awaitable[list[R]]]
    arg: A


Operation = Callable[[Tx], Awaitable[R]] | Together[Any, R]


@dataclass(slots=True)
class _Job(Generic[R]):
    op: Operation[R]
    future: asyncio.Future[R]


class Writer:
    def __init__(
        self,
        db: Database,
        append_events: Callable[[Tx], Awaitable[None]],
        max_batch: int = MAX_BATCH,
    ) -> None:
        self.db = db
        self._append_events = append_events
        self.max_batch = max_batch
        # Called with each batch's events, in commit order, before its callers resume.
        self.on_commit: Callable[[list[WireEvent]], None] = lambda events: None
        self._queue: deque[_Job[Any]] = deque()
        self._wake: asyncio.Event | None = None
        self._closing = False
        self._task: asyncio.Task[None] | None = None

    async def run(self, op: Operation[R]) -> R:
        """Run `op` in the next batch; its result, or what it raised."""
        if self._closing:
            raise RuntimeError("the relay is stopping")
        if self._task is None or self._task.done():
            self._wake = asyncio.Event()
            self._task = asyncio.create_task(self._loop(), name="relay-writer")
        assert self._wake is not None
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append(_Job(op, future))
        self._wake.set()
        return await future

    async def close(self) -> None:
        """Finish what is queued, then stop."""
        self._closing = True
        task, self._task = self._task, None
        if task is None:
            return
        assert self._wake is not None
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), 10)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        while self._queue:
            job = self._queue.popleft()
            if not job.future.done():
                job.future.set_exception(RuntimeError("the relay is stopping"))

    async def _loop(self) -> None:
        assert self._wake is not None
        while True:
            while self._queue:
                batch = [
                    self._queue.popleft() for _ in range(min(self.max_batch, len(self._queue)))
                ]
                # A cancelled caller's write still happens: it may already be half-way
                # through its retry, and idempotent ids make the repeat harmless.
                if len(batch) == 1 or await self._commit(batch) is not None:
                    for job in batch:
                        await self._commit_alone(job)
            if self._closing:
                return
            await self._wake.wait()
            self._wake.clear()

    async def _commit_alone(self, job: _Job[Any]) -> None:
        for _ in range(RETRIES):
            error = await self._commit([job])
            if error is None or not self.db.retryable(error):
                break
        if error is not None and not job.future.done():
            job.future.set_exception(error)

    async def _commit(self, batch: list[_Job[Any]]) -> Exception | None:
        """Run `batch` in one transaction and answer its callers; on a failure, roll back
        and return what was raised, answering nobody."""
        results: list[Any] = []
        try:
            async with self.db.transaction() as conn:
                tx = Tx(conn, self.db.dialect)
                for run in _runs(batch):
                    first = run[0].op
                    if isinstance(first, Together):
                        done = await first.run_all(tx, [job.op.arg for job in run])
                        assert len(done) == len(run)
                        results.extend(done)
                    else:
                        results.append(await first(tx))
                if tx.events:
                    await self._append_events(tx)
        except asyncio.CancelledError:
            for job in batch:
                if not job.future.done():
                    job.future.set_exception(RuntimeError("the relay is stopping"))
            raise
        except Exception as exc:
            return exc
        # Callers first, then the events, with no await between: a caller resumes only
        # after both, so it never hears back before its events are published, and its
        # answer goes out ahead of the fan-out the publication schedules.
        for job, result in zip(batch, results, strict=True):
            if not job.future.done():
                job.future.set_result(result)
        if tx.events:
            try:
                self.on_commit(tx.events)
            except Exception:
                log.exception("publishing committed events failed")
        return None


def _runs(batch: list[_Job[Any]]) -> list[list[_Job[Any]]]:
    """The batch cut into what runs in one call: each run of alike `Together` operations
    next to each other, and every other operation alone, in the batch's order."""
    runs: list[list[_Job[Any]]] = []
    for job in batch:
        last = runs[-1][-1].op if runs else None
        if (
            isinstance(job.op, Together)
            and isinstance(last, Together)
            and job.op.run_all == last.run_all
        ):
            runs[-1].append(job)
        else:
            runs.append([job])
    return runs
