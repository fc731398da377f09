"""One runner: one agent process, bridged to one relay session.

The agent is anything behind the seam (`runner.seam.Agent`): Claude Code through
claude-agent-sdk by default, or an Agent Client Protocol agent. The runner owns it (its
stdin stays open for the whole session, whoever is watching) and is itself just a client
of the relay:

- everything the agent writes is normalized (by the agent) and published through the
  on-disk outbox;
- people's messages (role `user`) become the agent's next prompts, in order, one turn at
  a time; a prompt that arrives mid-turn waits and the session says so;
- each permission the agent asks becomes a relay permission request, and its first
  answer goes back;
- control events (interrupt, permission mode, end) are applied to the running agent.

Tasks: `_pump` reads the agent, `_drive` feeds prompts turn by turn, `_listen`
follows the relay's events for this session; the publisher delivers the outbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tether.client import AlreadyResolved, Forbidden, NotFound, RelayClient
from tether.e2e.crypto import Tampered
from tether.e2e.keys import HostKeys
from tether.e2e.sessions import NoKey, SessionCipher
from tether.runner import encryption
from tether.runner.agents import session_env
from tether.runner.outbox import Outbox, orphans
from tether.runner.publisher import Publisher, relay_retry, transient
from tether.runner.seam import Agent, AgentExited

log = logging.getLogger(__name__)

# Views get (what, data): "session", "message", "permission", "notice".
View = Callable[[str, dict[str, Any]], None]


class RunnerError(Exception):
    """The runner cannot start (a relay refusal, an unusable --resume); one line for people."""


@dataclass
class RunConfig:
    cwd: Path
    data_dir: Path
    prompt: str | None = None
    title: str | None = None
    permission_mode: str | None = None
    resume: str | None = None  # a relay session id
    fork: bool = False
    gateway: str | None = None
    claude_args: list[str] = field(default_factory=list)
    exit_when_done: bool = False
    permission_timeout: float | None = None  # per request; the relay's default otherwise
    env: dict[str, str] = field(default_factory=dict)
    mcp_servers: dict[str, dict[str, Any]] = field(default_factory=dict)  # runner.mcp's
    agent: Agent | None = None  # Claude Code (from the fields above) when not given
    encryption: str = "off"  # off | on | required (docs/encryption.md)

    def make_agent(self) -> Agent:
        if self.agent is not None:
            return self.agent
        from tether.runner.claude import ClaudeAgent

        return ClaudeAgent(
            self.cwd,
            permission_mode=self.permission_mode,
            fork=self.fork,
            gateway=self.gateway,
            claude_args=self.claude_args,
            env=self.env,
            permission_timeout=self.permission_timeout,
            mcp_servers=self.mcp_servers,
        )


class Runner:
    def __init__(self, relay: RelayClient, config: RunConfig, view: View | None = None) -> None:
        self.relay = relay
        self.config = config
        self.view: View = view or (lambda _w, _d: None)
        self.session_id: str = ""
        self.exit_code = 0
        self.agent = config.make_agent()
        self.agent_state: dict[str, Any] = {}
        self._publisher: Publisher | None = None
        self._outbox: Outbox | None = None
        self._prompts: asyncio.Queue[str] = asyncio.Queue()
        self._turn_done = asyncio.Event()
        self._in_turn = False
        self._done = asyncio.Event()
        self._stop_reason: str | None = None
        self._end_on_relay = True
        self._stopping = False
        self._prompt_cursor = 0  # seq of the last user message looked at
        self._own_ids: set[str] = set()
        self._pending: dict[str, asyncio.Future[str]] = {}  # permission id → local cancel
        # This turn's time spent waiting for a person: the union of the spans when at least
        # one permission request was pending, so a turn's result can say how long the agent
        # worked and how long it waited (a turn's duration_ms counts both).
        self._turn_started = 0.0
        self._waiting_since: float | None = None
        self._waited = 0.0
        self._interrupted_by: str | None = None  # who interrupted this turn
        self._background: set[asyncio.Task[Any]] = set()
        self._keys = HostKeys(config.data_dir)
        self.cipher: SessionCipher | None = None  # the session's, when it is encrypted

    # ── lifecycle ──────────────────────────────────────────────────────────────────

    async def run(self) -> int:
        session, agent_resume = await self._open_session()
        self.session_id = session["id"]
        self._prompt_cursor = await self._first_unheard(session)
        self._outbox = Outbox.for_session(self.config.data_dir, self.session_id)
        self._publisher = Publisher(
            self.relay,
            self._outbox,
            self.session_id,
            on_state=lambda s: self.view("notice", {"text": s}),
            seal=self.cipher.seal_message if self.cipher else None,
        )
        self._publisher.start()
        self._spawn(self._deliver_orphans())
        self.view("session", session)
        try:
            await self._start_agent(agent_resume)
        except Exception as exc:  # reported to people
            self._fail(
                f"{self.agent.name} did not start: {exc}",
                stderr=self.agent.stderr_tail(),
            )
            await self.agent.stop()
            await self._finish()
            return self.exit_code
        tasks = [
            asyncio.create_task(coro, name=name)
            for name, coro in (
                ("tether-pump", self._pump()),
                ("tether-drive", self._drive()),
                ("tether-listen", self._listen()),
            )
        ]
        for task in tasks:
            task.add_done_callback(self._task_ended)
        if self.config.prompt:
            self._local_prompt(self.config.prompt)
        await self._done.wait()
        await self._shutdown_agent()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._finish()
        return self.exit_code

    def request_stop(self, reason: str = "stopped at the terminal", code: int = 0) -> None:
        """Stop cleanly (Ctrl-C, --exit-when-done): the agent, then the session."""
        if self._stop_reason is None:
            self._stop_reason = reason
            self.exit_code = self.exit_code or code
        self._stopping = True
        self._done.set()

    async def _open_session(self) -> tuple[dict[str, Any], str | None]:
        config = self.config
        fields: dict[str, Any] = {"status": "starting"}
        if config.permission_mode:
            fields["permission_mode"] = config.permission_mode
        encrypt = config.encryption != "off"
        if not config.resume and encrypt:
            session, self.cipher = await encryption.create_session(
                self.relay,
                self._keys,
                title=config.title,
                agent=self.agent.name,
                cwd=str(config.cwd),
                host=socket.gethostname(),
                **fields,
            )
            return session, None
        if not config.resume:
            session = await self.relay.create_session(
                title=config.title,
                agent=self.agent.name,
                cwd=str(config.cwd),
                host=socket.gethostname(),
                **fields,
            )
            return session, None
        try:
            previous = await self.relay.get_session(config.resume)
        except NotFound:
            raise RunnerError(f"no session {config.resume} on the relay") from None
        except Forbidden as exc:  # another agent token's session
            raise RunnerError(f"cannot resume session {config.resume}: {exc.message}") from None
        try:
            self.cipher = encryption.cipher_for(previous, self._keys)
        except (NoKey, Tampered) as exc:
            raise RunnerError(f"cannot resume session {config.resume}: {exc}") from None
        if self.cipher is not None:
            previous = self.cipher.open_session(previous)
        state = previous.get("agent_state") or {}
        key = self.agent.resume_key
        agent_id = state.get(key)
        if not agent_id:
            raise RunnerError(
                f"session {config.resume} has no {self.agent.name} conversation to resume "
                f"(no {key} in its agent_state)"
            )
        if config.fork and encrypt:
            session, self.cipher = await encryption.create_session(
                self.relay,
                self._keys,
                title=config.title or previous.get("title"),
                agent=self.agent.name,
                cwd=str(config.cwd),
                host=socket.gethostname(),
                metadata={"forked_from": previous["id"]},
                **fields,
            )
        elif config.fork:
            self.cipher = None
            session = await self.relay.create_session(
                title=config.title or previous.get("title"),
                agent=self.agent.name,
                cwd=str(config.cwd),
                host=socket.gethostname(),
                metadata={"forked_from": previous["id"]},
                **fields,
            )
        else:
            changes = dict(fields)
            if config.title and self.cipher is not None:
                # An encrypted session's title lives only in its sealed metadata.
                metadata = dict(previous.get("metadata") or {})
                e2e = dict(metadata["e2e"])
                e2e["meta"] = self.cipher.seal_meta({"title": config.title, "cwd": str(config.cwd)})
                await self.relay.update_session(previous["id"], metadata={**metadata, "e2e": e2e})
            elif config.title:
                changes["title"] = config.title
            session = await self.relay.update_session(previous["id"], **changes)
            if self.cipher is not None:
                session = self.cipher.open_session(session)
        return session, agent_id

    async def _start_agent(self, agent_resume: str | None) -> None:
        env = getattr(self.agent, "env", None)  # Claude and ACP agents start with it
        if self.config.gateway and isinstance(env, dict):
            # Known only now: the session id the agent's model calls are tagged with.
            env.update(session_env(self.session_id, {**os.environ, **env}))
        facts = await self.agent.start(self, agent_resume)
        self.agent_state = {
            "agent": self.agent.name,
            "status": "idle",
            "cwd": str(self.config.cwd),
            "permission_mode": self.config.permission_mode or "default",
            "runner_pid": os.getpid(),
            "host": socket.gethostname(),
            "queued": 0,
            **facts,
            **self.agent_state,  # what the agent said while starting is newer
        }
        self._set_status("idle")

    async def _shutdown_agent(self) -> None:
        self._stopping = True
        self._cancel_pending("The session is stopping.")
        await self.agent.stop()

    async def _finish(self) -> None:
        assert self._publisher is not None and self._outbox is not None
        self.agent_state["status"] = "ended"
        self.agent_state["queued"] = 0
        self._publisher.patch(agent_state=self._public_state())
        if self._end_on_relay:
            self._publisher.end(self._stop_reason)
        delivered = await self._publisher.flush(15)
        if not delivered:
            self.view(
                "notice",
                {
                    "text": f"the relay is unreachable; {len(self._outbox)} "
                    "events stay on disk and the next `tether run` delivers them"
                },
            )
        await self._publisher.stop()
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        self._outbox.close()

    def _task_ended(self, task: asyncio.Task[Any]) -> None:
        """A runner task died on its own: never leave a session that looks alive."""
        if task.cancelled() or self._stopping:
            return
        exc = task.exception()
        if exc is not None:
            log.error("%s failed", task.get_name(), exc_info=exc)
            self._fail(f"the runner failed ({task.get_name()}): {exc}")

    def _fail(self, text: str, **extra: Any) -> None:
        """The agent is gone: an error message with the reason, then the session ends."""
        assert self._publisher is not None
        self._publisher.messages(
            [
                {
                    "id": f"runner-error-{uuid.uuid4().hex}",
                    "role": "agent",
                    "kind": "error",
                    "content": {"message": text, **extra},
                }
            ]
        )
        self.view("message", {"kind": "error", "content": {"message": text, **extra}})
        self.exit_code = 1
        self.request_stop(text, code=1)

    # ── agent → relay ──────────────────────────────────────────────────────────────

    async def _pump(self) -> None:
        try:
            await self.agent.pump()
        except AgentExited as exc:
            if not self._stopping:
                self._fail(exc.reason, **exc.extra)
            return
        if not self._stopping:
            self._fail(f"{self.agent.name} exited unexpectedly")

    def publish(self, messages: list[dict[str, Any]]) -> None:
        assert self._publisher is not None
        messages = [self._annotated(m) for m in messages]
        self._publisher.messages(messages)
        for message in messages:
            self.view("message", message)

    def _public_state(self) -> dict[str, Any]:
        """The agent state as the relay gets it: in an encrypted session without the
        working directory, which travels only sealed (metadata.e2e.meta)."""
        state = dict(self.agent_state)
        if self.cipher is not None:
            state.pop("cwd", None)
        return state

    def update_state(self, state: dict[str, Any], **session: Any) -> None:
        assert self._publisher is not None
        self.agent_state.update(state)
        fields = {k: v for k, v in session.items() if v is not None}
        self._publisher.patch(
            agent_state=self._public_state(),
            permission_mode=self.agent_state.get("permission_mode"),
            **fields,
        )

    def turn_ended(self) -> None:
        self._turn_done.set()

    def _annotated(self, message: dict[str, Any]) -> dict[str, Any]:
        """What only the runner knows, added to the agent's words: who interrupted the
        turn (on the agent's interrupt notice and the turn's result) and the time the
        turn waited for people."""
        kind, content = message.get("kind"), message.get("content")
        if not isinstance(content, dict) or kind not in ("result", "user_text"):
            return message
        if kind == "user_text" and not content.get("interrupt"):
            return message
        content = dict(content)
        if self._interrupted_by is not None:
            content["interrupted_by"] = self._interrupted_by
        if kind == "result":
            self._timed(content)
        return {**message, "content": content}

    def _timed(self, content: dict[str, Any]) -> None:
        """A turn's result gets the time it waited for people (`waiting_ms`), and its
        duration measured here when the agent reports none (ACP agents do not)."""
        now = time.monotonic()
        waited = self._waited + (now - self._waiting_since if self._waiting_since else 0.0)
        self._waited = 0.0
        self._waiting_since = now if self._waiting_since else None
        if content.get("duration_ms") is None and self._turn_started:
            content["duration_ms"] = round((now - self._turn_started) * 1000)
        if waited > 0:
            content["waiting_ms"] = round(waited * 1000)

    # ── turns ──────────────────────────────────────────────────────────────────────

    def _local_prompt(self, text: str) -> None:
        """A prompt typed at this terminal: shown on the relay like anyone's, then run."""
        assert self._publisher is not None
        message_id = f"prompt-{uuid.uuid4().hex}"
        self._own_ids.add(message_id)
        self._publisher.messages(
            [{"id": message_id, "role": "user", "kind": "user_text", "content": {"text": text}}]
        )
        self._enqueue(text)

    def _enqueue(self, text: str) -> None:
        self._prompts.put_nowait(text)
        if self._in_turn:
            self.agent_state["queued"] = self._prompts.qsize()
            self._post_status("queued", "A new message is waiting for the current turn to end.")
            self._sync_state()

    async def _drive(self) -> None:
        while True:
            text = await self._prompts.get()
            self._turn_done.clear()
            self._in_turn = True
            self._turn_started = time.monotonic()
            self._waited = 0.0
            self._interrupted_by = None
            self.agent_state["queued"] = self._prompts.qsize()
            self._set_status("running")
            self.view("prompt", {"text": text})
            await self.agent.prompt(text)
            await self._turn_done.wait()
            self._in_turn = False
            if self._prompts.empty():
                self.agent_state["queued"] = 0
                self._set_status("idle")
            if self.config.exit_when_done and self._prompts.empty():
                self.request_stop("the turn is done (--exit-when-done)")
                return

    # ── relay → agent ─────────────────────────────────────────────────────────────

    async def _listen(self) -> None:
        def on_state(state: str) -> None:
            if state == "connected":
                # Whatever people sent while we were not listening.
                self._spawn(self._catch_up())
            elif state == "reconnecting":
                self.view("notice", {"text": "lost the relay's event stream; reconnecting"})

        async for event in self.relay.events(
            session_id=self.session_id, on_state=on_state, runner=True
        ):
            data = event.data or {}
            if event.type == "message":
                self._consider_prompt(data)
            elif event.type == "control" and data.get("session_id") == self.session_id:
                await self._control(data)

    async def _first_unheard(self, session: dict[str, Any]) -> int:
        """Where prompts start for this run: a new session's end; a resumed one's last word
        from the agent, so prompts queued while it was offline reach it now."""
        last = int(session.get("last_seq") or 0)
        if not self.config.resume or self.config.fork or last == 0:
            return last
        with contextlib.suppress(Exception):
            batch = await self.relay.messages(self.session_id, before=last + 1, limit=200)
            for message in reversed(batch):
                if message.get("role") != "user":
                    return int(message["seq"])
        return last

    async def _catch_up(self) -> None:
        with contextlib.suppress(Exception):
            while True:
                batch = await self.relay.messages(
                    self.session_id, after=self._prompt_cursor, limit=200
                )
                for message in batch:
                    self._consider_prompt(message)
                if len(batch) < 200:
                    return

    def _consider_prompt(self, message: dict[str, Any]) -> None:
        seq = int(message.get("seq") or 0)
        if message.get("session_id") not in (None, self.session_id):
            return
        if seq <= self._prompt_cursor:
            return  # seen (events and catch-up overlap; order is by seq)
        self._prompt_cursor = seq
        if message.get("role") != "user" or message.get("kind") != "user_text":
            return
        if message.get("id") in self._own_ids:
            return
        if self.cipher is not None:
            message = self.cipher.open_message(message)
            if message.get("tampered"):
                self.view("notice", {"text": f"ignored a tampered prompt (seq {seq})"})
                return
        text = (message.get("content") or {}).get("text")
        if isinstance(text, str) and text.strip() and not self._stopping:
            self._enqueue(text)

    async def _control(self, data: dict[str, Any]) -> None:
        action = data.get("action")
        self.view("control", data)
        if action == "interrupt":
            self._cancel_pending("Interrupted by " + str(data.get("by") or "a person") + ".")
            if self._in_turn:
                self._interrupted_by = str(data.get("by") or "")
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self.agent.interrupt(), 10)
        elif action == "permission_mode" and data.get("mode"):
            mode = data["mode"]
            try:
                await asyncio.wait_for(self.agent.set_mode(mode), 10)
            except Exception as exc:  # reported; the session goes on
                self._post_status("error", f"could not switch to {mode}: {exc}")
                return
            self.agent_state["permission_mode"] = mode
            self._sync_state()
        elif action == "end":
            self._end_on_relay = False  # it is ended there already
            self.request_stop(f"ended from the relay by {data.get('by') or 'someone'}")

    # ── permissions ────────────────────────────────────────────────────────────────

    async def ask_permission(self, body: dict[str, Any]) -> dict[str, Any]:
        permission = await self._open_permission(body)
        permission_id = permission["id"]
        local: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        if not self._pending:
            self._waiting_since = time.monotonic()
        self._pending[permission_id] = local
        self._set_status("waiting")
        self.view("permission", permission)
        answer = asyncio.create_task(self._resolution(permission_id))
        try:
            await asyncio.wait({answer, local}, return_when=asyncio.FIRST_COMPLETED)
            if answer.done() and not answer.cancelled() and answer.exception() is None:
                resolved: dict[str, Any] = answer.result()
                self.view("permission", resolved)
                return resolved
            reason = local.result() if local.done() else "The permission request failed."
            self._spawn(self._cancel_on_relay(permission_id, reason))
            return {"id": permission_id, "status": "cancelled", "decision": {"message": reason}}
        except asyncio.CancelledError:
            # The agent withdrew the request (an interrupt, a hook answered first): every
            # device must dismiss it.
            self._spawn(
                self._cancel_on_relay(permission_id, f"{self.agent.name} withdrew the request.")
            )
            raise
        finally:
            answer.cancel()
            self._pending.pop(permission_id, None)
            if not self._pending and self._waiting_since is not None:
                self._waited += time.monotonic() - self._waiting_since
                self._waiting_since = None
            if not self._stopping:
                self._set_status(
                    "waiting" if self._pending else ("running" if self._in_turn else "idle")
                )

    async def _open_permission(self, body: dict[str, Any]) -> dict[str, Any]:
        if self.cipher is not None:
            # Sent sealed; handed back with the plaintext this runner wrote.
            sealed = self.cipher.seal_permission(body)
            permission = await self._open_permission_on_relay(sealed)
            return {**permission, **{k: v for k, v in body.items() if k in sealed}}
        return await self._open_permission_on_relay(body)

    async def _open_permission_on_relay(self, body: dict[str, Any]) -> dict[str, Any]:
        backoff = relay_retry()
        while True:
            try:
                return await self.relay.open_permission(self.session_id, **body)
            except Exception as exc:
                if not transient(exc):
                    raise
            # The POST may have landed before the connection broke: don't open it twice.
            with contextlib.suppress(Exception):
                for existing in await self.relay.list_permissions(
                    status="pending", session_id=self.session_id
                ):
                    if (
                        body.get("tool_use_id")
                        and existing.get("tool_use_id") == body["tool_use_id"]
                    ):
                        return existing
            await asyncio.sleep(backoff.next_delay())

    async def _resolution(self, permission_id: str) -> dict[str, Any]:
        """The request once resolved: a long-poll that survives relay restarts."""
        backoff = relay_retry()
        while True:
            try:
                permission = await self.relay.get_permission(permission_id, wait=25)
            except NotFound:
                return {
                    "id": permission_id,
                    "status": "cancelled",
                    "decision": {"message": "The relay lost the permission request."},
                }
            except Exception as exc:
                if not transient(exc):
                    raise
                await asyncio.sleep(backoff.next_delay())
                continue
            backoff.reset()
            if permission.get("status") != "pending":
                return self.cipher.open_permission(permission) if self.cipher else permission

    async def _cancel_on_relay(self, permission_id: str, reason: str) -> None:
        backoff = relay_retry()
        for _ in range(40):
            try:
                await self.relay.cancel_permission(permission_id, reason=reason)
                return
            except (AlreadyResolved, NotFound):
                return
            except Exception as exc:
                if not transient(exc):
                    return
            await asyncio.sleep(backoff.next_delay())

    def _cancel_pending(self, reason: str) -> None:
        for future in list(self._pending.values()):
            if not future.done():
                future.set_result(reason)

    # ── state ──────────────────────────────────────────────────────────────────────

    def _set_status(self, status: str) -> None:
        if self._stopping and status != "ended":
            return
        self.agent_state["status"] = status
        self.agent_state["updated_at"] = time.time()
        assert self._publisher is not None
        self._publisher.patch(status=status, agent_state=self._public_state())

    def _sync_state(self) -> None:
        assert self._publisher is not None
        self._publisher.patch(
            agent_state=self._public_state(),
            permission_mode=self.agent_state.get("permission_mode"),
        )

    def _post_status(self, status: str, text: str) -> None:
        assert self._publisher is not None
        content = {"status": status, "text": text}
        self._publisher.messages(
            [
                {
                    "id": f"runner-status-{uuid.uuid4().hex}",
                    "role": "agent",
                    "kind": "status",
                    "content": content,
                }
            ]
        )
        self.view("message", {"kind": "status", "content": content})

    # ── housekeeping ───────────────────────────────────────────────────────────────

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _deliver_orphans(self) -> None:
        """Deliver what runners that died on this machine left in their outboxes."""
        for session_id, box in orphans(self.config.data_dir, skip=self.session_id):
            publisher = Publisher(self.relay, box, session_id)
            publisher.start()
            try:
                if await publisher.flush(120):
                    await self._end_if_abandoned(session_id, publisher)
            finally:
                await publisher.stop()
                box.close()

    async def _end_if_abandoned(self, session_id: str, publisher: Publisher) -> None:
        """The runner of this session died on this machine: don't leave it looking alive."""
        try:
            session = await self.relay.get_session(session_id)
        except Exception:
            return
        state = session.get("agent_state") or {}
        pid = state.get("runner_pid")
        if (
            session.get("status") == "ended"
            or state.get("host") != socket.gethostname()
            or not isinstance(pid, int)
            or _alive(pid)
        ):
            return
        text = "The runner of this session stopped unexpectedly (its process is gone)."
        message = {
            "id": f"runner-gone-{pid}",
            "role": "agent",
            "kind": "error",
            "content": {"message": text, "runner_pid": pid},
        }
        with contextlib.suppress(NoKey, Tampered):
            cipher = encryption.cipher_for(session, self._keys)
            if cipher is not None:
                message = cipher.seal_message(message)
        publisher.messages([message])
        publisher.patch(agent_state={**state, "status": "ended"})
        publisher.end(text)
        await publisher.flush(30)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
