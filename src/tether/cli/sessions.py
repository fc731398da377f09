"""`tether sessions`, `send`, `interrupt`, `mode`, `end` and `attach`: sessions from the
terminal, over `tether.client`."""

from __future__ import annotations

import json
import sys
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from tether.cli.common import TOKEN_OPTION, URL_OPTION
from tether.cli.remote import find_session, run
from tether.cli.render import SESSION_COLUMNS, one_line, session_row
from tether.client import RelayClient
from tether.e2e.keyring import Keyring
from tether.protocol import PERMISSION_MODES, SESSION_STATUSES

SESSION_ID = typer.Argument(..., help="Session id, or a unique start of it.")


def register(app: typer.Typer) -> None:
    app.command("sessions")(sessions)
    app.command("send")(send)
    app.command("interrupt")(interrupt)
    app.command("mode")(mode)
    app.command("end")(end)
    from tether.cli.attach import attach

    app.command("attach")(attach)


def _title(session: dict[str, Any]) -> str:
    return f"{session['id']} ({one_line(session.get('title') or 'untitled', 50)})"


def sessions(
    status: str = typer.Option(
        None, "--status", help=f"Only these: active (not ended), {', '.join(SESSION_STATUSES)}."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the sessions as JSON."),
    url: str = URL_OPTION,
    token: str = TOKEN_OPTION,
) -> None:
    """List sessions, most recent activity first."""
    keyring = Keyring.local()
    found = [keyring.session(s) for s in run(url, token, lambda relay: relay.list_sessions(status))]
    if as_json:
        print(json.dumps(found, indent=2, ensure_ascii=False))
        return
    # Piped, the table keeps whole ids and paths on one line for grep and cut.
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 250)
    if not found:
        console.print("no sessions" + (f" with status {status}" if status else ""))
        return
    table = Table(box=None, pad_edge=False, header_style="bold")
    for name in SESSION_COLUMNS:
        table.add_column(name, no_wrap=name in ("ID", "STATUS", "ACTIVE"), overflow="fold")
    styles = {"running": "green", "waiting": "yellow", "ended": "dim", "idle": "cyan"}
    for session in found:
        row = list(session_row(session))
        pending = int(row[6])
        table.add_row(
            *row[:6],
            f"[bold yellow]{pending}[/]" if pending else "0",
            style=styles.get(session.get("status") or "", ""),
        )
    console.print(table)


def send(
    session_id: str = SESSION_ID,
    text: str = typer.Argument(..., help="The prompt; '-' reads it from stdin."),
    url: str = URL_OPTION,
    token: str = TOKEN_OPTION,
) -> None:
    """Send a prompt to a session's agent."""
    if text == "-":
        text = sys.stdin.read()
    if not text.strip():
        raise typer.BadParameter("the prompt is empty", param_hint="TEXT")

    async def work(relay: RelayClient) -> tuple[dict[str, Any], dict[str, Any]]:
        session = await find_session(relay, session_id)
        return session, await relay.send_text(session["id"], text)

    session, message = run(url, token, work)
    print(f"sent to {_title(session)} as message #{message['seq']}")


def interrupt(
    session_id: str = SESSION_ID, url: str = URL_OPTION, token: str = TOKEN_OPTION
) -> None:
    """Interrupt the agent's current turn."""

    async def work(relay: RelayClient) -> dict[str, Any]:
        session = await find_session(relay, session_id)
        await relay.interrupt(session["id"])
        return session

    print(f"asked {_title(run(url, token, work))} to stop its turn")


def mode(
    session_id: str = SESSION_ID,
    new_mode: str = typer.Argument(
        ..., metavar="MODE", help=f"One of: {', '.join(PERMISSION_MODES)}."
    ),
    url: str = URL_OPTION,
    token: str = TOKEN_OPTION,
) -> None:
    """Change a session's permission mode."""
    if new_mode not in PERMISSION_MODES:
        raise typer.BadParameter(
            f"{new_mode!r} is not one of {', '.join(PERMISSION_MODES)}", param_hint="MODE"
        )

    async def work(relay: RelayClient) -> dict[str, Any]:
        session = await find_session(relay, session_id)
        return await relay.set_permission_mode(session["id"], new_mode)

    session = run(url, token, work)
    print(f"{_title(session)} is now in {session['permission_mode']} mode")


def end(
    session_id: str = SESSION_ID,
    reason: str = typer.Option(None, "--reason", help="Why, shown to everyone watching."),
    url: str = URL_OPTION,
    token: str = TOKEN_OPTION,
) -> None:
    """End a session: its agent stops and its pending requests are cancelled."""

    async def work(relay: RelayClient) -> dict[str, Any]:
        session = await find_session(relay, session_id)
        return await relay.end_session(session["id"], reason)

    print(f"ended {_title(run(url, token, work))}")
