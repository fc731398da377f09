"""Delivers the outbox to the relay, in order, until the relay has stored every entry.

Callers add to the outbox (on disk) and wake the publisher; it sends leading runs of
messages as one batch, session patches and the final "end" one by one, and deletes what
the relay acknowledged. While the relay is unreachable it backs off and keeps
everything; an entry the relay refuses outright (4xx) is reported and dropped so it
cannot block the ones behind it forever.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from tether.backoff import Backoff
from tether.client import RelayClient, RelayError, RelayUnavailable
from tether.runner.outbox import Entry, Outbox

log = logging.getLogger(__name__)

BATCH = 100


def relay_retry() -> Backoff:
    """The wait between the runner's tries at a relay call: short, as the agent is waiting."""
    return Backoff(base=0.25, cap=5.0)


def transient(exc: BaseException) -> bool:
    """Worth retrying: the relay is down, restarting, or failed on its side."""
    if isinstance(exc, RelayUnavailable):
        return True
    if isinstance(exc, RelayError):
        return (getattr(exc, "status", None) or 0) >= 500
    return isinstance(exc, (OSError, TimeoutError))


class Publisher:
    def __init__(
        self,
        relay: RelayClient,
        outbox: Outbox,
        session_id: str,
        on_state: Callable[[str], None] | None = None,
        seal: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> None:
        self.relay = relay
        self.outbox = outbox
        self.session_id = session_id
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._on_state = on_state or (lambda _s: None)
        # End-to-end encryption seals each message before it is written to the outbox,
        # so the disk holds no more plaintext than the relay does.
        self._seal = seal
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0

    # ── what callers add ───────────────────────────────────────────────────────────

    def messages(self, messages: list[dict[str, Any]]) -> None:
        if self._seal is not None:
            messages = [self._seal(m) for m in messages]
        self.outbox.add_messages(messages)
        self._kick()

    def patch(self, **fields: Any) -> None:
        self.outbox.add_patch(fields)
        self._kick()

    def end(self, reason: str | None) -> None:
        self.outbox.add_patch({"__end__": True, "reason": reason})
        self._kick()

    def _kick(self) -> None:
        self._idle.clear()
        self._wake.set()

    # ── the sending loop ───────────────────────────────────────────────────────────

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="tether-publisher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def flush(self, timeout: float) -> bool:
        """Wait until everything added so far is stored; False if the time ran out."""
        self._kick()
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def _run(self) -> None:
        backoff = relay_retry()
        unreachable = False
        while True:
            entries = self.outbox.peek(BATCH)
            if not entries:
                self._idle.set()
                self._wake.clear()
                await self._wake.wait()
                continue
            try:
                await self._send(entries)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # classified below
                if not transient(exc):
                    raise
                if not unreachable:
                    unreachable = True
                    self._on_state(f"relay unreachable ({exc}); keeping events on disk")
                await asyncio.sleep(backoff.next_delay())
                continue
            if unreachable:
                unreachable = False
                self._on_state("relay reachable again; delivered what was kept")
            backoff.reset()

    async def _send(self, entries: list[Entry]) -> None:
        head = entries[0]
        if head.op == "messages":
            run = [head]
            for entry in entries[1:]:
                if entry.op != "messages":
                    break
                run.append(entry)
            try:
                await self.relay.post_messages(self.session_id, [e.body for e in run])
            except RelayError as exc:
                if transient(exc):
                    raise
                if len(run) > 1:
                    # Find the one the relay refuses by sending them one at a time.
                    for entry in run:
                        await self._send_one(entry)
                    return
                self._drop(head, exc)
            self.outbox.remove(run[-1].seq)
            return
        await self._send_one(head)

    async def _send_one(self, entry: Entry) -> None:
        try:
            if entry.op == "messages":
                await self.relay.post_messages(self.session_id, [entry.body])
            elif entry.body.get("__end__"):
                await self.relay.end_session(self.session_id, reason=entry.body.get("reason"))
            else:
                await self.relay.update_session(self.session_id, **entry.body)
        except RelayError as exc:
            if transient(exc):
                raise
            self._drop(entry, exc)
        self.outbox.remove(entry.seq)

    def _drop(self, entry: Entry, exc: Exception) -> None:
        self.dropped += 1
        log.warning("the relay refused an outbox entry (%s); dropping it: %s", entry.op, exc)
        self._on_state(f"the relay refused a {entry.op} update: {exc}")
