"""`tether permissions` (alias `tether connect`): answer agents' permission requests from a
terminal, for every session or one.

The relay's event stream keeps a queue of pending requests; the person answers the one at
the head. A request answered elsewhere, cancelled or expired leaves the queue at once with
a note; an answer that loses the race to another device is reported as such, calmly.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import typer

from tether.backoff import Backoff
from tether.cli.common import TOKEN_OPTION, URL_OPTION, is_interactive
from tether.cli.lines import LineReader
from tether.cli.output import Output, make_output
from tether.cli.remote import explain, find_session, run
from tether.cli.render import agent_labels, one_line, resolution
from tether.client import AlreadyResolved, Event, NotFound, RelayClient, RelayUnavailable
from tether.e2e.keyring import Keyring

ANSWER_HELP = "[a]llow · [d]eny (d <reason>) · [A]lways allow · [s]kip · [q]uit"


def answer_help(request: dict[str, Any]) -> str:
    """ANSWER_HELP, in the agent's own words for its answers when it gave them."""
    said = agent_labels(request)
    if not said:
        return ANSWER_HELP
    allow, deny = said.get("allow", "allow"), said.get("deny", "deny")
    return (
        f"[a] {allow} · [d] {deny} (d <reason>) · [A] {said.get('always', 'always allow')}"
        " · [s]kip · [q]uit"
    )


@dataclass(frozen=True)
class Answer:
    action: Literal["allow", "deny", "always", "skip", "quit", "help"]
    reason: str | None = None


def parse_answer(line: str) -> Answer:
    """What a typed line means. `A`/`always` is "always allow" (case matters for `a`/`A`);
    a deny may carry its reason after a space."""
    text = line.strip()
    word, _, rest = text.partition(" ")
    if word in ("A", "always", "aa", "!"):
        return Answer("always")
    low = word.lower()
    if low in ("a", "y", "yes", "allow", "ok"):
        return Answer("allow")
    if low in ("d", "n", "no", "deny"):
        return Answer("deny", rest.strip() or None)
    if low in ("s", "skip", "later"):
        return Answer("skip")
    if low in ("q", "quit", "exit"):
        return Answer("quit")
    return Answer("help")


def register(app: typer.Typer) -> None:
    app.command("permissions")(permissions)
    app.command("connect", help="Alias of `tether permissions`.")(permissions)


def permissions(
    session: str = typer.Option(None, "--session", "-s", help="Only this session's requests."),
    no_reconnect: bool = typer.Option(
        False, "--no-reconnect", help="Exit (non-zero) when the connection drops."
    ),
    verbose: int = typer.Option(
        0, "--verbose", "-v", count=True, help="-v: connection details; -vv: every event."
    ),
    url: str = URL_OPTION,
    token: str = TOKEN_OPTION,
) -> None:
    """Answer permission requests as they come: allow, deny (with a reason) or always allow.

    Type the letter and Enter: a, d (or `d because…`), A, s to leave it for later, q to quit.
    A relay that is not up yet is waited for, and a dropped connection retried, by itself
    (with backoff) unless --no-reconnect; a refused token ends it with exit code 1. Without
    a terminal it prints plain lines and reads answers line by line from stdin, so it can
    be scripted.
    """
    out = make_output(interactive=is_interactive())

    async def work(relay: RelayClient) -> int:
        handler = Handler(relay, out, session, verbose=verbose, reconnect=not no_reconnect)
        return await handler.run()

    code = run(url, token, work)
    raise typer.Exit(code)


class Handler:
    def __init__(
        self,
        relay: RelayClient,
        out: Output,
        session: str | None,
        *,
        verbose: int = 0,
        reconnect: bool = True,
    ) -> None:
        self.relay = relay
        self.out = out
        self.session_arg = session
        self.session_id: str | None = None
        self.verbose = verbose
        self.reconnect = reconnect
        self.queue: dict[str, dict[str, Any]] = {}  # pending requests by id, oldest first
        self.sessions: dict[str, dict[str, Any]] = {}
        self.mine: set[str] = set()  # answered here: their resolution is no news
        self.changed = asyncio.Event()
        self.shown: str | None = None
        self.outage = False
        self.keyring = Keyring.local()  # opens the sessions encrypted on this host

    # ── the event stream ──────────────────────────────────────────────────────────────

    async def listen(self) -> None:
        async for event in self.relay.events(
            session_id=self.session_id, reconnect=self.reconnect, on_state=self.on_state
        ):
            await self.consider(event)

    def on_state(self, state: str) -> None:
        if state == "reconnecting" and not self.outage:
            self.outage = True
            self.out.note(f"lost the relay at {self.relay.url}; reconnecting…", "yellow")
        elif state == "connected" and self.outage:
            self.outage = False
            self.out.note("reconnected", "green")
            asyncio.get_running_loop().create_task(self.recheck())
        elif state == "connected" and self.verbose:
            self.out.note(f"connected to {self.relay.url}", "dim")

    async def recheck(self) -> None:
        """After an outage, drop what was resolved meanwhile: the replay brings most of it,
        but a stream that had no cursor yet cannot replay."""
        with contextlib.suppress(Exception):
            still = {p["id"] for p in await self.relay.list_permissions("pending", self.session_id)}
            for pid in [p for p in self.queue if p not in still]:
                self.drop(pid, "was resolved while we were disconnected")

    async def consider(self, event: Event) -> None:
        data = event.data
        if self.verbose >= 2 and event.type != "ping":
            self.out.note(
                f"event {event.id or '-'} {event.type} "
                f"{one_line(str(data.get('id') or data.get('session_id') or ''))}",
                "dim",
            )
        if event.type == "permission_request" and data.get("status", "pending") == "pending":
            if data["id"] not in self.queue:
                await self.session_of(data["session_id"])
                self.queue[data["id"]] = self.keyring.permission(data)
                self.changed.set()
        elif event.type == "permission_resolved":
            pid = data.get("id")
            if pid in self.mine:
                self.mine.discard(pid)
                self.queue.pop(pid, None)
            elif pid in self.queue:
                elsewhere = data.get("status") in ("allowed", "denied")
                self.drop(pid, ("answered elsewhere, " if elsewhere else "") + resolution(data))
        elif event.type == "reset":  # the relay's log is not the one our cursor came from
            await self.recheck()
        elif event.type == "session" and data.get("id"):
            data = self.keyring.session(data)
            self.sessions[data["id"]] = data
            if self.verbose and data.get("status") == "ended":
                self.out.note(f"session {data.get('title') or data['id']} ended", "dim")

    def drop(self, pid: str, why: str) -> None:
        request = self.queue.pop(pid, None)
        if request is not None:
            self.out.note(
                f"{request['tool_name']} request in {self.title_of(request['session_id'])}: {why}",
                "cyan",
            )
            self.changed.set()

    async def session_of(self, session_id: str) -> dict[str, Any]:
        if session_id not in self.sessions:
            try:
                session = await self.relay.get_session(session_id)
                self.sessions[session_id] = self.keyring.session(session)
            except (NotFound, RelayUnavailable):
                self.sessions[session_id] = {"id": session_id}
        return self.sessions[session_id]

    def title_of(self, session_id: str) -> str:
        session = self.sessions.get(session_id) or {}
        return one_line(session.get("title") or session_id, 60)

    # ── the person ────────────────────────────────────────────────────────────────────

    async def whoami(self) -> dict[str, Any]:
        """The token's name and scope. A refused token fails here, before anything is shown;
        a relay that is not up yet is waited for as a later drop would be (same backoff,
        same notes) unless --no-reconnect."""
        backoff = Backoff(self.relay.backoff_base, self.relay.backoff_cap)
        while True:
            try:
                me = await self.relay.me()
            except RelayUnavailable:
                if not self.reconnect:
                    raise
                self.on_state("reconnecting")
                await asyncio.sleep(backoff.next_delay())
                continue
            if self.outage:
                self.on_state("connected")
            return me

    async def run(self) -> int:
        me = await self.whoami()
        if self.session_arg:
            found = await find_session(self.relay, self.session_arg)
            self.session_id = found["id"]
            self.sessions[found["id"]] = found
        where = f"session {self.title_of(self.session_id)}" if self.session_id else "every session"
        self.out.note(
            f"answering permission requests for {where} on {self.relay.url} "
            f"as {me['name']} ({me['scope']})",
            "bold",
        )
        if me["scope"] == "viewer":
            self.out.note("a viewer token can see requests but not answer them", "yellow")
        lines = LineReader()
        listener = asyncio.create_task(self.listen())
        try:
            return await self.interact(lines, listener)
        finally:
            lines.close()
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await listener

    async def next_input(
        self, lines: LineReader, listener: asyncio.Task[None], still: Callable[[], bool]
    ) -> str | Literal[False] | None:
        """A typed line; None at the end of input; False when `still()` stopped holding
        (the request went away) before the person answered."""
        while True:
            if not still():
                return False
            self.changed.clear()
            reading = asyncio.ensure_future(lines.readline())
            waking = asyncio.ensure_future(self.changed.wait())
            done, _ = await asyncio.wait(
                {reading, waking, listener}, return_when=asyncio.FIRST_COMPLETED
            )
            waking.cancel()
            if reading in done:
                return reading.result()
            reading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reading
            if listener in done:
                listener.result()  # raises what ended the stream (refused token, outage)
                raise RelayUnavailable("the event stream ended")

    async def interact(self, lines: LineReader, listener: asyncio.Task[None]) -> int:
        waiting_said = False
        while True:
            if not self.queue:
                if not waiting_said:
                    self.out.note("waiting for permission requests… (q to quit)", "dim")
                    waiting_said = True
                line = await self.next_input(lines, listener, lambda: not self.queue)
                if line is None:
                    return 0
                if line is not False and parse_answer(line).action == "quit":
                    return 0
                if line not in (False, "") and not self.queue:
                    self.out.note("nothing to answer yet", "dim")
                continue
            waiting_said = False
            pid, request = next(iter(self.queue.items()))
            if self.shown != pid:
                session = await self.session_of(request["session_id"])
                self.out.request(request, session, len(self.queue))
                self.shown = pid
            self.out.prompt(answer_help(request))
            line = await self.next_input(lines, listener, lambda p=pid: p in self.queue)
            if line is False:
                continue
            if line is None:
                self.out.note("input ended; leaving the remaining requests to others", "dim")
                return 0
            answer = parse_answer(line)
            if answer.action == "quit":
                return 0
            if answer.action == "help":
                self.out.note(f"answer with {answer_help(request)}", "yellow")
                continue
            if answer.action == "skip":
                self.queue[pid] = self.queue.pop(pid)  # to the back of the queue
                self.shown = None
                continue
            if answer.action == "deny" and answer.reason is None and self.out.interactive:
                self.out.prompt("reason (optional, Enter for none)")
                reason = await self.next_input(lines, listener, lambda p=pid: p in self.queue)
                if reason is False:
                    continue
                answer = Answer("deny", (reason or "").strip() or None)
            await self.answer(pid, request, answer)

    async def answer(self, pid: str, request: dict[str, Any], answer: Answer) -> None:
        behavior: Literal["allow", "deny"] = "deny" if answer.action == "deny" else "allow"
        self.mine.add(pid)
        try:
            done = await self.keyring.respond(
                self.relay, request, behavior, answer.reason, answer.action == "always"
            )
        except AlreadyResolved as exc:
            self.mine.discard(pid)
            self.queue.pop(pid, None)
            how = resolution(exc.permission) if exc.permission else "answered"
            self.out.note(
                f"someone was quicker: that request was already {how}; nothing to do", "cyan"
            )
            return
        except NotFound:
            self.mine.discard(pid)
            self.queue.pop(pid, None)
            self.out.note("that request no longer exists", "cyan")
            return
        except RelayUnavailable as exc:
            self.mine.discard(pid)
            self.out.note(
                f"could not send the answer ({explain(exc, self.relay.url)}); "
                "it stays in the queue",
                "red",
            )
            self.shown = None
            return
        self.queue.pop(pid, None)
        verdict = "always allowed" if answer.action == "always" else done["status"]
        self.out.note(
            f"✓ {verdict}: {request['tool_name']} in {self.title_of(request['session_id'])}",
            "green",
        )
