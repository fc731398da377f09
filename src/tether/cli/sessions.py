"""`tether sessions`, `send`, `interrupt`, `mode`, `end` and `attach`: sessions from the
terminal, over `tether.client`."""

from __future__ import annotations

import json
import sys
from typing import Any

import typer
from rich.console import Console
from rich.text import Text

from tether.cli.common import TOKEN_OPTION, URL_OPTION
from tether.cli.remote import find_session, run
from tether.cli.render import (
    SESSION_COLUMNS,
    one_line,
    session_row,
    state_of,
    table_lines,
    waiting_first,
)
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
    """List sessions: those waiting for you first, with what each asks, then the most
    recently active."""

    async def work(relay: RelayClient) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        return await relay.list_sessions(status), await relay.list_permissions("pending")

    found, pending = run(url, token, work)
    keyring = Keyring.local()  # opens the titles of sessions encrypted on this host
    found = [keyring.session(s) for s in found]
    pending = [keyring.permission(p) for p in pending]
    if as_json:
        print(json.dumps(found, indent=2, ensure_ascii=False))
        return
    # Piped, the table keeps whole ids and paths on one line for grep and cut; in a
    # terminal every row is one line, cut with an ellipsis, never wrapped mid-word.
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 250)
    if not found:
        console.print("no sessions" + (f" with status {status}" if status else ""))
        return
    first_ask: dict[str, dict[str, Any]] = {}
    for p in sorted(pending, key=lambda p: str(p.get("created_at"))):
        first_ask.setdefault(p["session_id"], p)
    ordered = waiting_first(found, pending)
    rows = [session_row(s, request=first_ask.get(s["id"])) for s in ordered]
    header, *lines = table_lines(SESSION_COLUMNS, rows, console.width, {3: 40, 4: 30, 5: 200})
    console.print(Text(header, style="bold"))
    styles = {"running": "green", "waiting": "yellow", "ended": "dim", "idle": "cyan"}
    for row, line in zip(rows, lines, strict=True):
        style = "red" if row[1] == "agent offline" else styles.get(row[1].split(" ")[0], "")
        console.print(Text(line, style=style), soft_wrap=True)


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
    """Interrupt the agent's current turn (an idle or offline agent has none to stop)."""

    async def work(relay: RelayClient) -> tuple[dict[str, Any], bool]:
        session = await find_session(relay, session_id)
        state = state_of(session)
        if state in ("idle", "agent offline"):
            return session, False
        await relay.interrupt(session["id"])
        return session, True

    session, sent = run(url, token, work)
    if sent:
        print(f"asked {_title(session)} to stop its turn")
    else:
        print(f"nothing to interrupt: {_title(session)} is {state_of(session)}")


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
