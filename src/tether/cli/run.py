"""tether run: a coding agent headless under the relay, as a session people can steer."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from tether.cli.common import (
    TOKEN_OPTION,
    URL_OPTION,
    fail,
    first_command_here,
    resolve_token,
    resolve_url,
)
from tether.cli.render import one_line
from tether.cli.transcript import render_message
from tether.config import ConfigError, load_settings
from tether.protocol import PERMISSION_MODES

console = Console(highlight=False)

HELP = """Run a coding agent headless as a relay session: watch it and steer it from anywhere.

Prints the session id and its web address, then a compact view of each turn. People
send prompts, interrupt and answer permission requests from the web UI, a phone or
`tether` itself. Anything after `--` goes to the agent untouched, e.g.
`tether run "fix the tests" -- --model opus --add-dir ../lib`.

--agent picks the agent: claude (Claude Code, the default), codex (codex-acp), gemini
(Gemini CLI), claude-acp (claude-code-acp), a name from `agents:` in the config file, or
acp for any Agent Client Protocol agent given after `--`:
`tether run --agent acp -- my-agent --acp`.

In a terminal, the agent's permission requests are also asked right here, with the
keys of `tether permissions` (y, n and a reason, a number to remember a rule): whoever
answers first, here or on any other device, decides, and the question here goes away
when it was answered elsewhere. --no-local-answers leaves them to the other devices.

Stops when the session is ended from the relay, on Ctrl-C (the agent is stopped cleanly
and the session marked ended), or after the prompt's turn with --exit-when-done.
Exit status: 0 when ended or done, 1 when the agent died (the session gets an error
message with the end of its stderr), 130 on Ctrl-C.
"""


def paragraphs(text: str) -> str:
    """Help text as whole paragraphs: the terminal wraps them at its own width (Typer keeps
    single newlines, so source line breaks would cut sentences in the middle)."""
    return "\n\n".join(" ".join(p.split()) for p in text.strip().split("\n\n"))


def register(app: typer.Typer) -> None:
    app.command(
        "run",
        help=paragraphs(HELP),
        context_settings={"allow_extra_args": True, "ignore_unknown_options": False},
    )(run)


def run(
    ctx: typer.Context,
    prompt: str | None = typer.Argument(
        None, help="First prompt; without one the session waits for a prompt from the relay."
    ),
    url: str | None = URL_OPTION,
    token: str | None = TOKEN_OPTION,
    agent: str = typer.Option(
        "claude",
        "--agent",
        metavar="NAME",
        help="claude, codex, gemini, claude-acp, acp (command after --) or a configured name.",
    ),
    cwd: Path | None = typer.Option(
        None, "--cwd", help="Directory the agent works in.", show_default="current directory"
    ),
    add_dir: list[Path] = typer.Option(
        [], "--add-dir", metavar="DIR", help="Another directory the agent may read and write."
    ),
    title: str | None = typer.Option(None, "--title", help="Session title shown to people."),
    permission_mode: str | None = typer.Option(
        None, "--permission-mode", help=f"One of: {', '.join(PERMISSION_MODES)}."
    ),
    resume: str | None = typer.Option(
        None,
        "--resume",
        metavar="SESSION",
        help="Continue this relay session's agent conversation.",
    ),
    fork: bool = typer.Option(
        False, "--fork", help="With --resume: continue in a new session, leaving the old one."
    ),
    gateway: str | None = typer.Option(
        None,
        "--gateway",
        metavar="URL",
        help=(
            "Send the agent's model calls through this tether gateway (each agent's own "
            "setting: ANTHROPIC_BASE_URL, Codex's provider, GOOGLE_GEMINI_BASE_URL)."
        ),
    ),
    exit_when_done: bool = typer.Option(
        False, "--exit-when-done", help="Exit after the first prompt's turn."
    ),
    mcp_config: list[str] = typer.Option(
        [],
        "--mcp-config",
        metavar="FILE|JSON",
        help='MCP servers for the agent, as in .mcp.json ({"mcpServers": {...}}); '
        "adds to the config file's mcp_servers. Repeatable.",
    ),
    no_local_answers: bool = typer.Option(
        False,
        "--no-local-answers",
        help="Do not ask permission requests in this terminal (other devices still can).",
    ),
    permission_timeout: float | None = typer.Option(
        None,
        "--permission-timeout",
        metavar="SECONDS",
        help="Deny a permission request nobody answers in this time (relay default: "
        "its permission_timeout).",
    ),
) -> None:
    from tether.runner.agent import ClaudeArgsError, parse_claude_args

    claude_args = list(ctx.args)
    if prompt is not None and "--" in sys.argv:
        after = sys.argv[sys.argv.index("--") + 1 :]
        if [prompt, *claude_args] == after:
            # Click gave the first word after `--` to PROMPT; it belongs to claude.
            claude_args, prompt = after, None
    if permission_mode is not None and permission_mode not in PERMISSION_MODES:
        fail(
            f"--permission-mode must be one of {', '.join(PERMISSION_MODES)}, "
            f"not {permission_mode!r}"
        )
    if fork and not resume:
        fail("--fork needs --resume SESSION")
    if fork and agent != "claude":
        fail("--fork works with --agent claude only: ACP has no way to fork a conversation")
    if permission_timeout is not None and permission_timeout <= 0:
        fail("--permission-timeout must be a positive number of seconds")
    workdir = (cwd or Path.cwd()).expanduser().resolve()
    if not workdir.is_dir():
        fail(f"--cwd {workdir} is not a directory")
    dirs = [d.expanduser().resolve() for d in add_dir]
    for extra_dir in dirs:
        if not extra_dir.is_dir():
            fail(f"--add-dir {extra_dir} is not a directory")
    if agent == "claude":
        claude_args += [arg for d in dirs for arg in ("--add-dir", str(d))]
        try:
            parse_claude_args(claude_args)
        except ClaudeArgsError as exc:
            fail(str(exc))
    first_command_here()
    try:
        settings = load_settings()
    except ConfigError as exc:
        fail(str(exc))
    data_dir = settings.data_dir
    from tether.runner import mcp

    try:
        servers = {**mcp.parse(settings.mcp_servers), **mcp.load(mcp_config)}
    except mcp.McpConfigError as exc:
        fail(str(exc))

    from tether.runner.runner import RunConfig

    config = RunConfig(
        cwd=workdir,
        data_dir=data_dir,
        prompt=prompt,
        title=title,
        permission_mode=permission_mode,
        resume=resume,
        fork=fork,
        gateway=gateway,
        claude_args=claude_args,
        exit_when_done=exit_when_done,
        permission_timeout=permission_timeout,
        mcp_servers=servers,
        encryption=settings.encryption,
    )
    if agent != "claude":
        config.agent = _acp_agent(agent, claude_args, settings.agents, config, dirs)
    local = not no_local_answers and sys.stdin.isatty() and sys.stdout.isatty()
    code = asyncio.run(_main(resolve_url(url), resolve_token(token), config, local))
    raise typer.Exit(code)


def _acp_agent(
    name: str, args: list[str], configured: dict[str, Any], config: Any, dirs: list[Path]
) -> Any:
    from tether.runner.acp import AcpAgent
    from tether.runner.agents import AgentChoiceError, resolve

    try:
        command = resolve(name, args, configured, gateway=config.gateway)
    except AgentChoiceError as exc:
        fail(str(exc))
    return AcpAgent(
        command.name,
        command.argv,
        config.cwd,
        env=command.env,
        permission_mode=config.permission_mode,
        add_dirs=dirs,
        permission_timeout=config.permission_timeout,
        reads_files=command.reads_files,
        mcp_servers=config.mcp_servers,
        warnings=command.warnings,
    )


async def _main(url: str, token: str, config: Any, local: bool = False) -> int:
    from tether.client import RelayClient, RelayError, RelayUnavailable
    from tether.runner.runner import Runner, RunnerError

    # The runner reports the agent's failures itself, in one place, as relay messages.
    logging.getLogger("claude_agent_sdk").setLevel(logging.CRITICAL)
    view = TerminalView(url)
    try:
        async with RelayClient(url=url, token=token) as relay:
            runner = Runner(relay, config, view)
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, _stopper(runner, view))
            if local:
                view.on_session = lambda sid: _answer_here(relay, sid, view)
            try:
                return await runner.run()
            finally:
                view.stop_answering()
    except RunnerError as exc:
        fail(str(exc))
    except RelayUnavailable as exc:
        fail(f"cannot reach the relay at {url}: {exc}")
    except RelayError as exc:
        fail(f"the relay refused: {exc}")


async def _answer_here(relay: Any, session_id: str, view: TerminalView) -> None:
    """This session's permission requests, asked in this terminal as `tether permissions`
    asks them; the relay's first answer wins, so other devices may still answer first."""
    from tether.cli.output import make_output
    from tether.cli.permissions import Handler

    handler = Handler(relay, make_output(interactive=True), session_id, quiet=True)
    try:
        await handler.run()
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # the runner goes on; people answer from elsewhere
        view.notice(f"answering here stopped ({exc}); answer from the web UI or a phone")


def _stopper(runner: Any, view: TerminalView) -> Any:
    def stop() -> None:
        view.notice("stopping: closing the agent and ending the session…")
        runner.request_stop("stopped at the terminal (Ctrl-C)", code=130)

    return stop


class TerminalView:
    """A compact live view: one line per thing that happened, no raw JSON."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self.on_session: Any = None  # starts answering requests here, once the id is known
        self._answering: asyncio.Task[None] | None = None

    def stop_answering(self) -> None:
        if self._answering is not None:
            self._answering.cancel()

    def __call__(self, what: str, data: dict[str, Any]) -> None:
        handler = getattr(self, f"_{what}", None)
        if handler is not None:
            handler(data)

    def notice(self, text: str) -> None:
        console.print(f"[dim]· {escape(text)}[/]")

    def _notice(self, data: dict[str, Any]) -> None:
        self.notice(str(data.get("text", "")))

    def _session(self, session: dict[str, Any]) -> None:
        # The first line is the session id alone, so scripts can read it.
        print(session["id"], flush=True)
        console.print(
            f"[bold]session[/] {session['id']}  [link]{self.url}/#/session/{session['id']}[/link]"
        )
        if self.on_session is not None and self._answering is None:
            self._answering = asyncio.get_running_loop().create_task(self.on_session(session["id"]))

    def _prompt(self, data: dict[str, Any]) -> None:
        console.print(f"[bold cyan]›[/] {escape(one_line(data.get('text', ''), 300))}")

    def _control(self, data: dict[str, Any]) -> None:
        action = data.get("action")
        detail = f" → {data['mode']}" if data.get("mode") else ""
        self.notice(f"{action}{detail} from {data.get('by') or 'someone'}")

    def _permission(self, permission: dict[str, Any]) -> None:
        status = permission.get("status")
        name = permission.get("tool_name", "tool")
        if status == "pending":
            console.print(
                f"[yellow]?[/] {escape(permission.get('title') or name)} — waiting "
                f"for an answer ({escape(self.url)}/#/session/"
                f"{permission.get('session_id', '')})"
            )
        elif status:
            decision = permission.get("decision") or {}
            who = decision.get("decided_by") or ""
            console.print(
                f"[yellow]?[/] {escape(name)}: {status}" + (f" by {escape(who)}" if who else "")
            )

    def _message(self, message: dict[str, Any]) -> None:
        shown = render_message(message, compact=True)
        if shown is not None:
            console.print(shown)
