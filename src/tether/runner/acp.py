"""An Agent Client Protocol agent (Codex via codex-acp, Gemini CLI, Claude Code via
claude-code-acp, any other) behind the agent seam: we are the ACP client.

We advertise only what we serve: `fs/read_text_file` and `fs/write_text_file`, on local
disk, confined to the session's directories. No terminal. The mapping of updates and
permission options to the relay's words is pure and lives in `acp_normalize`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tether import __version__
from tether.runner import mcp
from tether.runner.acp_normalize import (
    CANCELLED_OUTCOME,
    Transcript,
    agent_mode,
    permission_body,
    permission_outcome,
    state_from_update,
)
from tether.runner.agent import StderrTail
from tether.runner.jsonrpc import INVALID_PARAMS, RESOURCE_NOT_FOUND, Closed, Peer, RpcError
from tether.runner.seam import AgentExited, Host

PROTOCOL_VERSION = 1
START_TIMEOUT = 120.0  # initialize + session/new: an npx-started agent may install first
MAX_LINE = 64 * 1024 * 1024  # a read of a whole file comes back on one line


class AcpAgent:
    resume_key = "acp_session_id"

    def __init__(
        self,
        name: str,
        command: Sequence[str],
        cwd: Path,
        *,
        env: dict[str, str] | None = None,
        permission_mode: str | None = None,
        add_dirs: Sequence[Path] = (),
        permission_timeout: float | None = None,
        reads_files: bool = True,
        mcp_servers: Mapping[str, dict[str, Any]] | None = None,
        warnings: Sequence[str] = (),
    ) -> None:
        self.name = name
        self.command = list(command)
        self.cwd = cwd.resolve()
        self.env = dict(env or {})
        self.permission_mode = permission_mode
        self.roots = [self.cwd, *(Path(d).resolve() for d in add_dirs)]
        self.permission_timeout = permission_timeout
        self.reads_files = reads_files
        self.mcp_servers = dict(mcp_servers or {})  # checked by mcp.parse / mcp.load
        self.stderr = StderrTail()
        self.modes: list[dict[str, Any]] = []
        self._host: Host | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self._peer: Peer | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._session_id = ""
        self._transcript = Transcript(
            uuid.uuid4().hex[:12], warnings=tuple(re.compile(w) for w in warnings)
        )
        self._loading = False  # session/load replays history we already hold
        self._cancelled = False  # this turn was cancelled: refuse its late permission asks
        self._asks: set[asyncio.Task[dict[str, Any]]] = set()
        self._turn: asyncio.Task[None] | None = None

    # ── lifecycle ──────────────────────────────────────────────────────────────────

    async def start(self, host: Host, resume: str | None) -> dict[str, Any]:
        self._host = host
        try:
            self._proc = await asyncio.create_subprocess_exec(
                *self.command,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                cwd=self.cwd,
                env={**os.environ, **self.env},
                limit=MAX_LINE,
                # Its own process group, so that stopping it stops what it started too: an
                # npm launcher (codex-acp's) runs the real agent as a child that outlives a
                # signal to the launcher alone.
                start_new_session=True,
            )
        except OSError as exc:
            raise RuntimeError(f"cannot start {self.command[0]}: {exc.strerror or exc}") from None
        assert self._proc.stdout and self._proc.stdin and self._proc.stderr
        self._peer = Peer(
            self._proc.stdout,
            self._proc.stdin,  # type: ignore[arg-type]
            {
                "session/request_permission": self._on_permission,
                "fs/read_text_file": self._read_file,
                "fs/write_text_file": self._write_file,
            },
            self._on_notification,
            self._on_garbage,
        )
        self._tasks = [
            asyncio.create_task(self._peer.run(), name="acp-stdout"),
            asyncio.create_task(self._read_stderr(self._proc.stderr), name="acp-stderr"),
        ]
        try:
            return await asyncio.wait_for(self._open(resume), START_TIMEOUT)
        except TimeoutError:
            raise RuntimeError(
                f"{self.name} did not answer initialize/session in {START_TIMEOUT:g} s"
            ) from None
        except Closed:
            raise RuntimeError(f"{self.name} exited while starting") from None

    async def _open(self, resume: str | None) -> dict[str, Any]:
        init = await self._call(
            "initialize",
            {
                "protocolVersion": PROTOCOL_VERSION,
                "clientCapabilities": {
                    "fs": {"readTextFile": self.reads_files, "writeTextFile": True},
                    "terminal": False,
                },
                "clientInfo": {"name": "tether", "version": __version__},
            },
        )
        caps = init.get("agentCapabilities") or {}
        info = init.get("agentInfo") or {}
        servers, skipped = mcp.for_acp(self.mcp_servers, caps.get("mcpCapabilities") or {})
        if skipped and self._host is not None:
            self._host.publish([self._status("warning", why) for why in skipped])
        if resume:
            if not caps.get("loadSession"):
                raise RuntimeError(
                    f"{self.name} cannot resume a conversation (it does not offer session/load)"
                )
            self._loading = True
            try:
                result = await self._call(
                    "session/load",
                    {"sessionId": resume, "cwd": str(self.cwd), "mcpServers": servers},
                )
            finally:
                self._loading = False
            self._session_id = resume
        else:
            result = await self._call("session/new", {"cwd": str(self.cwd), "mcpServers": servers})
            self._session_id = str(result.get("sessionId") or "")
            if not self._session_id:
                raise RuntimeError(f"{self.name} answered session/new without a sessionId")
        modes = (result or {}).get("modes") or {}
        self.modes = [m for m in modes.get("availableModes") or [] if isinstance(m, dict)]
        current = modes.get("currentModeId")
        if self.permission_mode and self.permission_mode != "default":
            current = await self._switch_mode(self.permission_mode)
        return {
            "agent": self.name,
            "agent_info": {"name": info.get("name"), "version": info.get("version")},
            "agent_version": info.get("version"),
            "acp_session_id": self._session_id,
            "protocol_version": init.get("protocolVersion"),
            "can_resume": bool(caps.get("loadSession")),
            "modes": [{"id": m.get("id"), "name": m.get("name")} for m in self.modes],
            "agent_mode": current,
            "mcp_servers": [server["name"] for server in servers],
            # ACP answers a permission with one of the agent's options, never changed input.
            "edits_input": False,
            "pid": self._proc.pid if self._proc else None,
            "runner_pid": os.getpid(),
            "host": socket.gethostname(),
        }

    async def pump(self) -> None:
        await asyncio.gather(*self._tasks, return_exceptions=True)
        code = await self._proc.wait() if self._proc else None
        reason = f"{self.name} exited unexpectedly"
        if code is not None:
            reason += f" (killed by signal {-code})" if code < 0 else f" (exit code {code})"
        raise AgentExited(reason, stderr=self.stderr.text(), exit_code=code)

    async def stop(self) -> None:
        proc = self._proc
        if proc is None:
            return
        self._cancel_asks()
        if proc.returncode is None:
            with contextlib.suppress(Exception):
                assert proc.stdin is not None
                proc.stdin.close()
            for sig in (None, signal.SIGTERM, signal.SIGKILL):
                if sig is not None:
                    _signal_group(proc.pid, sig)
                try:
                    await asyncio.wait_for(proc.wait(), 5)
                    break
                except TimeoutError:
                    continue
        # The agent is gone; whatever it started and left behind goes with it.
        _signal_group(proc.pid, signal.SIGTERM)

    def stderr_tail(self) -> str:
        return self.stderr.text()

    # ── turns ──────────────────────────────────────────────────────────────────────

    async def prompt(self, text: str) -> None:
        self._cancelled = False
        self._turn = asyncio.create_task(self._run_turn(text), name="acp-turn")

    async def _run_turn(self, text: str) -> None:
        assert self._host is not None
        try:
            response = await self._call(
                "session/prompt",
                {"sessionId": self._session_id, "prompt": [{"type": "text", "text": text}]},
            )
        except Closed:
            return  # the pump reports the crash
        except RpcError as exc:
            self._host.publish(self._transcript.flush())
            self._host.publish(
                [
                    {
                        "id": f"acp-error-{uuid.uuid4().hex}",
                        "role": "agent",
                        "kind": "error",
                        "content": {"message": f"{self.name}: {exc.message}", "code": exc.code},
                    }
                ]
            )
            self._host.turn_ended()
            return
        self._host.publish(self._transcript.end_turn(response or {}))
        self._host.turn_ended()

    async def interrupt(self) -> None:
        self._cancelled = True
        self._cancel_asks()
        if self._peer is not None and self._session_id:
            await self._peer.notify("session/cancel", {"sessionId": self._session_id})

    async def set_mode(self, mode: str) -> None:
        await self._switch_mode(mode)

    async def _switch_mode(self, mode: str) -> str:
        mode_id = agent_mode(mode, self.modes)
        await self._call("session/set_mode", {"sessionId": self._session_id, "modeId": mode_id})
        if self._host is not None:
            self._host.update_state({"agent_mode": mode_id})
        return mode_id

    # ── agent → us ─────────────────────────────────────────────────────────────────

    def _on_notification(self, method: str, params: dict[str, Any]) -> None:
        if method != "session/update" or self._loading or self._host is None:
            return
        update = params.get("update")
        if not isinstance(update, dict):
            return
        state = state_from_update(update)
        if state:
            self._host.update_state(state)
        self._host.publish(self._transcript.feed(update))

    def _on_garbage(self, line: bytes) -> None:
        # Agents print to stdout by mistake; keep it where a crash report shows it.
        self.stderr.add("[stdout, not JSON-RPC] " + line.decode(errors="replace"))

    async def _on_permission(self, params: dict[str, Any]) -> dict[str, Any]:
        assert self._host is not None
        if self._cancelled:
            return CANCELLED_OUTCOME  # asked after the turn was cancelled: nobody is asked
        self._host.publish(self._transcript.flush())
        self._host.publish(self._transcript.asked(params.get("toolCall")))
        body = permission_body(params, self.name, self.permission_timeout)
        ask = asyncio.create_task(self._host.ask_permission(body))
        self._asks.add(ask)
        try:
            await asyncio.wait({ask})
        finally:
            self._asks.discard(ask)
        if ask.cancelled() or ask.exception() is not None:
            return CANCELLED_OUTCOME
        answered = ask.result()
        if answered.get("status") in ("denied", "expired"):
            reason = (answered.get("decision") or {}).get("message")
            call_id = (params.get("toolCall") or {}).get("toolCallId")
            self._transcript.refused(call_id, reason)
        return permission_outcome(answered, params.get("options") or [])

    def _cancel_asks(self) -> None:
        for ask in list(self._asks):
            ask.cancel()

    async def _read_file(self, params: dict[str, Any]) -> dict[str, Any]:
        path = self._confined(params.get("path"))
        try:
            text = await asyncio.to_thread(path.read_text, encoding="utf-8", errors="replace")
        except FileNotFoundError:
            raise RpcError(RESOURCE_NOT_FOUND, "Resource not found", {"uri": str(path)}) from None
        except OSError as exc:
            raise RpcError(INVALID_PARAMS, f"cannot read {path}: {exc.strerror or exc}") from None
        line, limit = params.get("line"), params.get("limit")
        if isinstance(line, int) or isinstance(limit, int):
            lines = text.splitlines(keepends=True)
            start = max(int(line or 1) - 1, 0)
            end = start + int(limit) if isinstance(limit, int) else None
            text = "".join(lines[start:end])
        return {"content": text}

    async def _write_file(self, params: dict[str, Any]) -> None:
        path = self._confined(params.get("path"))
        content = params.get("content")
        if not isinstance(content, str):
            raise RpcError(INVALID_PARAMS, "content must be a string")

        def write() -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content, encoding="utf-8")

        try:
            await asyncio.to_thread(write)
        except OSError as exc:
            raise RpcError(INVALID_PARAMS, f"cannot write {path}: {exc.strerror or exc}") from None
        return None

    def _confined(self, raw: Any) -> Path:
        """The path, when it is inside the session's directories (symlinks resolved)."""
        if not isinstance(raw, str) or not raw:
            raise RpcError(INVALID_PARAMS, "path must be a non-empty string")
        path = Path(raw)
        if not path.is_absolute():
            raise RpcError(INVALID_PARAMS, f"path must be absolute: {raw}")
        resolved = path.resolve()
        if not any(resolved.is_relative_to(root) for root in self.roots):
            allowed = ", ".join(str(r) for r in self.roots)
            raise RpcError(
                INVALID_PARAMS, f"{raw} is outside this session's directories ({allowed})"
            )
        return resolved

    def _status(self, status: str, text: str) -> dict[str, Any]:
        return {
            "id": f"acp-status-{uuid.uuid4().hex}",
            "role": "agent",
            "kind": "status",
            "content": {"status": status, "text": text},
        }

    # ── plumbing ───────────────────────────────────────────────────────────────────

    async def _call(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        assert self._peer is not None
        result = await self._peer.request(method, params)
        return result if isinstance(result, dict) else {}

    async def _read_stderr(self, stream: asyncio.StreamReader) -> None:
        pending = b""
        while chunk := await stream.read(65536):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                self.stderr.add(line.decode(errors="replace"))
            if len(pending) > 65536:  # a line without end: keep its start
                self.stderr.add(pending[:4000].decode(errors="replace"))
                pending = b""
        if pending:
            self.stderr.add(pending.decode(errors="replace"))


def _signal_group(pid: int, sig: int) -> None:
    """Signal the agent's process group (its pid: it leads its own session)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
