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
from typing import Any, Literal, NamedTuple

import typer

from tether.backoff import Backoff
from tether.cli.answers import (
    Answer,
    QuestionForm,
    form_step,
    keys_help,
    parse_answer,
    read_questions,
    refusals,
    rememberable,
    respond_args,
    verdict,
)
from tether.cli.common import TOKEN_OPTION, URL_OPTION, is_interactive
from tether.cli.lines import LineReader
from tether.cli.output import Output, make_output
from tether.cli.remote import explain, find_session, run
from tether.cli.render import one_line, person, plural, resolution
from tether.client import (
    AlreadyResolved,
    Event,
    NotFound,
    RelayClient,
    RelayError,
    RelayUnavailable,
)
from tether.e2e.keyring import Keyring

MORE_KEYS = "s later · q quit"


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
    """Answer permission requests as they come: allow, deny (with a reason) or allow and
    remember one of the rules the agent suggests; answer an agent's questions.

    Type the key and Enter: y, n (or `n because…`), 1, 2 … for a rule shown beside its
    number, N for an ACP agent's "reject always" when it offers one, e to show a folded
    request whole, s to leave it for later, q to quit.
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
        quiet: bool = False,
    ) -> None:
        self.relay = relay
        self.quiet = quiet  # inside `tether run`: no chatter while nothing is asked
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
        self.forms: dict[str, QuestionForm] = {}  # AskUserQuestion requests being answered
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
        if self.quiet:
            self.out.note("permission requests are asked here too (or answer from anywhere)", "dim")
        else:
            self.out.note(
                f"answering permission requests for {where} on {self.relay.url} "
                f"as {person(me['name'])} ({me['scope']})",
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
                if not waiting_said and not self.quiet:
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
            session = await self.session_of(request["session_id"])
            cwd = session.get("cwd")
            if self.shown != pid:
                self.out.request(request, session, len(self.queue))
                self.shown = pid
                questions = read_questions(request)
                if questions and pid not in self.forms:
                    self.forms[pid] = QuestionForm(request, questions)
            form = self.forms.get(pid)
            if form is not None:
                self.out.note(form.ask())
            else:
                self.out.note(keys_help(request, cwd, more=MORE_KEYS))
            self.out.prompt(f"answer ({plural(len(self.queue), 'request')} waiting)")
            line = await self.next_input(lines, listener, lambda p=pid: p in self.queue)
            if line is False:
                continue
            if line is None:
                self.out.note("input ended; leaving the remaining requests to others", "dim")
                return 0
            if form is not None and line.strip().lower() not in ("q", "quit", "s", "skip"):
                step = form_step(form, line)
                if isinstance(step, Answer):
                    await self.answer(pid, request, step, form)
                elif step:
                    self.out.note(step, "yellow")
                continue
            answer = parse_answer(
                line,
                [i for i, _ in rememberable(request, cwd)],
                [i for i, _ in refusals(request)],
            )
            if answer.action == "quit":
                return 0
            if answer.action == "help":
                self.out.note("answer with one of the keys shown", "yellow")
                continue
            if answer.action == "expand":
                self.out.request(request, session, len(self.queue), full=True)
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
                answer = Answer("deny", (reason or "").strip() or None, index=answer.index)
            await self.answer(pid, request, answer)

    async def answer(
        self,
        pid: str,
        request: dict[str, Any],
        answer: Answer,
        form: QuestionForm | None = None,
    ) -> None:
        sent = await deliver(self.relay, request, answer, self.mine, form, self.keyring)
        if sent.outcome == "failed":
            self.shown = None
            self.out.note(f"{sent.note}; it stays in the queue", "red")
            return
        self.queue.pop(pid, None)
        self.forms.pop(pid, None)
        if sent.outcome != "sent":
            self.out.note(sent.note, "cyan")
            return
        cwd = self.sessions.get(request["session_id"], {}).get("cwd")
        said = verdict(answer, request, cwd, form)
        self.out.note(
            f"✓ {said}: {request['tool_name']} in {self.title_of(request['session_id'])}",
            "green",
        )


class Sent(NamedTuple):
    outcome: Literal["sent", "late", "gone", "failed"]
    note: str = ""


async def deliver(
    relay: RelayClient,
    request: dict[str, Any],
    answer: Answer,
    mine: set[str],
    form: QuestionForm | None = None,
    keyring: Keyring | None = None,
) -> Sent:
    """Send one answer (sealed to its request when `keyring` holds the session's key); a
    request someone else answered first (the relay's first answer wins), one that no
    longer exists and a relay that cannot be reached are outcomes the caller words, never
    exceptions.

    `mine` holds the ids answered here, so a viewer takes their resolution for no news: the
    id goes in before the answer is sent (its event may arrive first) and out again unless
    the answer was taken."""
    mine.add(request["id"])
    sent = await _send(relay, request, answer, form, keyring)
    if sent.outcome != "sent":
        mine.discard(request["id"])
    return sent


async def _send(
    relay: RelayClient,
    request: dict[str, Any],
    answer: Answer,
    form: QuestionForm | None,
    keyring: Keyring | None,
) -> Sent:
    args = respond_args(answer)
    if form is not None and args["behavior"] == "allow":
        args["updated_input"] = form.updated_input()
    try:
        if keyring is not None:
            await keyring.respond(relay, request, **args)
        else:
            await relay.respond(request["id"], **args)
    except AlreadyResolved as exc:
        how = resolution(exc.permission) if exc.permission else "answered"
        return Sent("late", f"someone was quicker: that request was already {how}; nothing to do")
    except NotFound:
        return Sent("gone", "that request no longer exists")
    except RelayError as exc:
        return Sent("failed", f"could not send the answer ({explain(exc, relay.url)})")
    return Sent("sent")
