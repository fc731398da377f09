"""`tether attach ID`: one session's transcript, history first then live, and a prompt.

Typed lines go to the agent as prompts; Ctrl-C interrupts its turn and a second Ctrl-C
detaches; the session's permission requests are answered inline. `--viewer-only` sends
nothing and stays attached through any outage.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from typing import Any

import typer
from rich.text import Text

from tether.backoff import Backoff
from tether.cli import answers
from tether.cli.common import TOKEN_OPTION, URL_OPTION, is_interactive
from tether.cli.lines import LineReader
from tether.cli.output import Output, make_output
from tether.cli.permissions import deliver
from tether.cli.remote import explain, find_session, run
from tether.cli.render import person, plural, resolution, short_path, status_line, tally
from tether.cli.transcript import agent_label, render_message
from tether.client import (
    Event,
    RelayClient,
    RelayError,
    RelayUnavailable,
    SessionEnded,
)
from tether.e2e.keyring import Keyring

HELP = (
    "type a prompt and Enter to send it · Ctrl-C interrupts the turn, twice detaches · "
    "a permission request is answered with the keys it shows (y, n [reason], 1, 2 …) · "
    "Enter on an empty line (or /status) shows the status · /mode MODE · /interrupt · /quit"
)
MORE_KEYS = "anything else is sent as a prompt"


def attach(
    session_id: str = typer.Argument(..., help="Session id, or a unique start of it."),
    viewer_only: bool = typer.Option(
        False,
        "--viewer-only",
        help="Only watch: send nothing, never interrupt, stay attached through outages.",
    ),
    history: int = typer.Option(
        50, "--history", "-n", min=0, help="How many earlier messages to show first."
    ),
    url: str = URL_OPTION,
    token: str = TOKEN_OPTION,
) -> None:
    """Watch a session live and steer it: prompts, interrupts, permission answers."""
    out = make_output(interactive=is_interactive())
    code = run(
        url, token, lambda relay: Attached(relay, out, session_id, viewer_only, history).run()
    )
    raise typer.Exit(code)


class Attached:
    def __init__(
        self, relay: RelayClient, out: Output, session_arg: str, viewer_only: bool, history: int
    ) -> None:
        self.relay = relay
        self.out = out
        self.console = out.console
        self.session_arg = session_arg
        self.viewer_only = viewer_only
        self.history = history
        self.session: dict[str, Any] = {}
        self.usage: dict[str, Any] = {}
        self.turn_since: str | None = None  # when the last prompt was sent: a turn's start
        self.printed_seq = 0
        self.pending: dict[str, dict[str, Any]] = {}
        self.mine: set[str] = set()
        self.forms: dict[str, answers.QuestionForm] = {}  # AskUserQuestion requests being answered
        self.inbox: asyncio.Queue[Event | str] = asyncio.Queue()
        self.detach = asyncio.Event()
        self.interrupting = False
        self.outage = False
        self.code = 0
        self.keyring = Keyring.local()  # opens the sessions encrypted on this host

    @property
    def sid(self) -> str:
        return str(self.session["id"])

    # ── start ─────────────────────────────────────────────────────────────────────────

    async def resolve(self) -> dict[str, Any]:
        """The session; a viewer waits out an unreachable relay instead of giving up."""
        backoff = Backoff(1.0, 30.0)
        while True:
            try:
                return await find_session(self.relay, self.session_arg)
            except RelayUnavailable as exc:
                if not self.viewer_only:
                    raise
                self.out.note(f"{explain(exc, self.relay.url)}; waiting…", "yellow")
                await asyncio.sleep(backoff.next_delay())

    async def run(self) -> int:
        self.session = self.keyring.session(await self.resolve())
        self.header()
        listener = asyncio.create_task(self.listen())
        await self.show_history()
        if self.turn_since and self.session.get("status") == "running":
            self.show_status()  # attached mid-turn: for how long it has run
        lines = None if self.viewer_only else LineReader()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGINT, self.on_ctrl_c)
        try:
            await self.loop(lines, listener)
        finally:
            loop.remove_signal_handler(signal.SIGINT)
            if lines is not None:
                lines.close()
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await listener
        return self.code

    def header(self) -> None:
        s = self.session
        self.console.print(
            Text(f"attached to {s.get('title') or s['id']} ({s['id']})", style="bold")
        )
        self.console.print(
            Text(
                f"{agent_label(s)} in {short_path(s.get('cwd'))}"
                f" on {s.get('host') or '?'} · {self.status()}",
                style="dim",
            )
        )
        if self.viewer_only:
            self.console.print(
                Text("viewer only: nothing you type is sent; Ctrl-C detaches", style="dim")
            )
        else:
            self.console.print(Text(HELP, style="dim"))

    async def show_history(self) -> None:
        last = int(self.session.get("last_seq") or 0)
        if last == 0 or self.history == 0:
            self.printed_seq = last if self.history == 0 else 0
            return
        batch = await self.relay.messages(self.sid, before=last + 1, limit=self.history)
        if batch and batch[0]["seq"] > 1:
            self.console.print(Text(f"… {batch[0]['seq'] - 1} earlier messages", style="dim"))
        for message in batch:
            self.show(message)

    # ── the stream ────────────────────────────────────────────────────────────────────

    async def listen(self) -> None:
        async for event in self.relay.events(session_id=self.sid, on_state=self.on_state):
            self.inbox.put_nowait(event)

    def on_state(self, state: str) -> None:
        if state == "reconnecting" and not self.outage:
            self.outage = True
            self.out.note(f"lost the relay at {self.relay.url}; reconnecting…", "yellow")
        elif state == "connected":
            self.inbox.put_nowait("connected")

    async def catch_up(self) -> None:
        """Messages the stream could not replay (it had no cursor yet) and the session as
        it is now."""
        try:
            while True:
                batch = await self.relay.messages(self.sid, after=self.printed_seq, limit=200)
                for message in batch:
                    self.show(message)
                if len(batch) < 200:
                    break
            self.on_session(await self.relay.get_session(self.sid))
            still = {p["id"] for p in await self.relay.list_permissions("pending", self.sid)}
            for pid in [p for p in self.pending if p not in still]:
                self.pending.pop(pid)
                self.out.note("a permission request was resolved while disconnected", "cyan")
        except RelayUnavailable:
            pass  # the stream is reconnecting again; this runs again when it is back

    async def on_event(self, event: Event | str) -> None:
        if event == "connected":
            if self.outage:
                self.outage = False
                self.out.note("reconnected", "green")
            await self.catch_up()
            return
        assert isinstance(event, Event)
        data = event.data
        if event.type == "message":
            if data.get("seq", 0) > self.printed_seq + 1:
                await self.catch_up()
            self.show(data)
        elif event.type == "session":
            self.on_session(data)
        elif event.type == "permission_request" and data.get("session_id") == self.sid:
            data = self.keyring.permission(data)
            if data["id"] not in self.pending and data.get("status", "pending") == "pending":
                self.pending[data["id"]] = data
                questions = answers.read_questions(data)
                if questions:
                    self.forms[data["id"]] = answers.QuestionForm(data, questions)
                if len(self.pending) == 1:
                    self.show_head()
        elif event.type == "permission_resolved":
            pid = data.get("id")
            was_head = bool(self.pending) and next(iter(self.pending)) == pid
            self.forms.pop(pid, None)
            if self.pending.pop(pid, None) is not None and pid not in self.mine:
                self.out.note(f"{data.get('tool_name')} request {resolution(data)}", "cyan")
            self.mine.discard(pid)
            if was_head and self.pending:
                self.show_head()
        elif event.type == "control" and data.get("action") == "interrupt":
            self.out.note(f"interrupt requested by {person(data.get('by') or 'someone')}", "yellow")

    def show_head(self, full: bool = False) -> None:
        """The request at the head of the queue, and how to answer it."""
        pid, request = next(iter(self.pending.items()))
        self.out.request(request, self.session, len(self.pending), full)
        if self.viewer_only:
            return
        form = self.forms.get(pid)
        if form is not None:
            self.out.note(form.ask())
            self.out.prompt("your answer (typing answers the question, not a new prompt)")
        else:
            self.out.note(answers.keys_help(request, self.session.get("cwd"), more=MORE_KEYS))
            self.out.prompt(f"answer ({plural(len(self.pending), 'request')} waiting)")

    def on_session(self, data: dict[str, Any]) -> None:
        data = self.keyring.session(data)
        before = self.session
        self.session = data
        if data.get("status") == "ended":
            self.out.note("the session ended", "bold")
            self.detach.set()
        elif data.get("agent_online") is False and before.get("agent_online") is not False:
            self.out.note("agent offline: its runner is gone; prompts wait for it", "red")
        elif data.get("agent_online") and before.get("agent_online") is False:
            self.out.note("the agent is back online", "green")
        elif (before.get("permission_mode"), before.get("model")) != (
            data.get("permission_mode"),
            data.get("model"),
        ) or (data.get("status") == "running" and before.get("status") == "idle"):
            self.show_status()  # a new mode or model, or a turn that starts

    def status(self) -> str:
        return status_line(self.session, self.usage, self.turn_since)

    def show_status(self) -> None:
        self.console.print(Text(f"[{self.status()}]", style="dim"))

    def show(self, message: dict[str, Any]) -> None:
        seq = int(message.get("seq") or 0)
        if seq and seq <= self.printed_seq:
            return
        self.printed_seq = max(self.printed_seq, seq)
        message = self.keyring.message(message)
        if message.get("role") != "user":  # only the agent's own reports change the state
            self.track(message)
        elif message.get("kind") == "user_text" and message.get("created_at"):
            self.turn_since = str(message["created_at"])
        shown = render_message(message)
        if shown is not None:
            self.console.print(shown)
        if message.get("role") != "user" and message.get("kind") == "result":
            self.interrupting = False
            self.show_status()

    def track(self, message: dict[str, Any]) -> None:
        """Usage, cost and model, as the agent reports them, for the status line."""
        kind, content = message.get("kind"), message.get("content")
        if not isinstance(content, dict):
            return
        tally(self.usage, message)
        if kind == "system" and content.get("model"):
            self.session = {**self.session, "model": content["model"]}

    # ── the person ────────────────────────────────────────────────────────────────────

    def on_ctrl_c(self) -> None:
        if self.viewer_only or self.interrupting:
            self.detach.set()
            return
        self.interrupting = True
        self.out.note("interrupting the turn… (Ctrl-C again to detach)", "yellow")
        asyncio.get_running_loop().create_task(self.act(self.relay.interrupt(self.sid)))

    async def act(self, call: Any) -> Any:
        """One call on the person's behalf; a failure is a note, never the end."""
        try:
            return await call
        except SessionEnded:
            self.out.note("the session has ended", "yellow")
        except RelayError as exc:
            self.out.note(f"not done: {explain(exc, self.relay.url)}", "red")
        return None

    async def loop(self, lines: LineReader | None, listener: asyncio.Task[None]) -> None:
        reading: asyncio.Future[str | None] | None = None
        getting: asyncio.Future[Event | str] | None = None
        detaching = asyncio.ensure_future(self.detach.wait())
        try:
            while not self.detach.is_set():
                if getting is None:
                    getting = asyncio.ensure_future(self.inbox.get())
                if reading is None and lines is not None and not lines.closed:
                    reading = asyncio.ensure_future(lines.readline())
                waits: set[asyncio.Future[Any]] = {getting, detaching, listener}
                if reading is not None:
                    waits.add(reading)
                done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                if getting in done:
                    event, getting = getting.result(), None
                    await self.on_event(event)
                if reading is not None and reading in done:
                    line, reading = reading.result(), None
                    if line is None:
                        self.detach.set()  # Ctrl-D / end of input
                    else:
                        await self.on_line(line)
                if listener in done:
                    listener.result()  # a refused token raises here
                    return
        finally:
            for task in (reading, getting, detaching):
                if task is not None:
                    task.cancel()

    async def on_line(self, line: str) -> None:
        text = line.strip()
        if not text or text == "/status":
            self.show_status()  # how long the turn has run, what it used
            return
        steering = text.startswith(("/quit", "/detach", "/exit", "/interrupt", "/mode"))
        if self.pending and not steering and await self.answer(text):
            return
        if text.startswith("/"):
            command, _, arg = text[1:].partition(" ")
            if command in ("quit", "detach", "exit"):
                self.detach.set()
            elif command == "interrupt":
                await self.act(self.relay.interrupt(self.sid))
            elif command == "mode" and arg:
                await self.act(self.relay.set_permission_mode(self.sid, arg.strip()))
            elif command in ("allow", "deny", "always", "y", "n"):
                self.out.note("no permission request is waiting", "dim")
            else:
                self.out.note(HELP, "dim")
            return
        self.interrupting = False
        if self.keyring.cipher(self.sid) is not None:
            sealed = self.keyring.text(self.sid, {"role": "user", "content": {"text": line}})
            sent = await self.act(self.relay.post_messages(self.sid, [sealed]))
        else:
            sent = await self.act(self.relay.send_text(self.sid, line))
        if sent is not None and self.session.get("agent_online") is False:
            self.out.note("queued: the agent is offline and gets it when it returns", "yellow")

    async def answer(self, text: str) -> bool:
        """Take a typed line as the answer to the request at the head of the queue; False
        when it is no answer (it is then a prompt). Every line answers a question form."""
        pid, request = next(iter(self.pending.items()))
        form = self.forms.get(pid)
        cwd = self.session.get("cwd")
        if form is not None:
            step = answers.form_step(form, text)
            if isinstance(step, answers.Answer):
                await self.send(pid, request, step, form)
            else:
                self.out.note(step or form.ask(), "yellow" if step else "")
            return True
        answer = answers.parse_answer(
            text,
            [i for i, _ in answers.rememberable(request, cwd)],
            [i for i, _ in answers.refusals(request)],
        )
        if answer.action == "expand":
            self.show_head(full=True)
            return True
        if answer.action not in ("allow", "deny", "remember"):
            return False
        await self.send(pid, request, answer)
        return True

    async def send(
        self,
        pid: str,
        request: dict[str, Any],
        answer: answers.Answer,
        form: answers.QuestionForm | None = None,
    ) -> None:
        sent = await deliver(self.relay, request, answer, self.mine, form, self.keyring)
        if sent.outcome == "failed":
            self.out.note(f"not sent: {sent.note}", "red")
            return
        self.pending.pop(pid, None)
        self.forms.pop(pid, None)
        if sent.outcome != "sent":
            self.out.note(sent.note, "cyan")
        else:
            said = answers.verdict(answer, request, self.session.get("cwd"), form)
            self.out.note(f"✓ {said}: {request['tool_name']}", "green")
        if self.pending:
            self.show_head()
