"""What every client command shares: finding the relay and its token, and failing in one line."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from tether.config import DEFAULT_URL, ConfigError, admin_token_path, load_settings
from tether.install import settle_new_install

err_console = Console(stderr=True, highlight=False)

URL_OPTION = typer.Option(
    None, "--url", envvar="TETHER_URL", help="Relay address.", show_default=DEFAULT_URL
)
TOKEN_OPTION = typer.Option(
    None,
    "--token",
    envvar="TETHER_TOKEN",
    help="Bearer token (default: the local admin token written by `tether serve`).",
    show_default=False,
)
CONFIG_OPTION = typer.Option(
    None,
    "--config",
    "-c",
    envvar="TETHER_CONFIG",
    help="YAML config file.",
    show_default="~/.config/tether/config.yaml",
)
DATA_DIR_OPTION = typer.Option(
    None,
    "--data-dir",
    help="Where tokens and the SQLite database live.",
    show_default="~/.local/share/tether",
)


def fail(message: str, code: int = 1) -> NoReturn:
    # One line however narrow the terminal, and the message is text, never Rich markup.
    err_console.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    raise typer.Exit(code)


def first_command_here(
    config: Path | None = None, data_dir: Path | None = None, console: Console = err_console
) -> None:
    """On a new install, write its config file (tether.install) and say so in one line:
    encryption is on from now, and where to turn it off."""
    written = settle_new_install(config, data_dir)
    if written is not None:
        console.print(
            f"[dim]new install: end-to-end encryption is on; {escape(str(written))} says so "
            "(`encryption: off` there turns it off)[/]",
            soft_wrap=True,
        )


def local_admin_token(data_dir: Path | None = None) -> str | None:
    """The admin token `tether serve` wrote on this machine, if there is one we can read."""
    if data_dir is None:
        try:
            data_dir = load_settings().data_dir
        except ConfigError:
            return None
    try:
        return admin_token_path(data_dir).read_text().strip() or None
    except OSError:
        return None


def resolve_url(url: str | None) -> str:
    return (url or os.environ.get("TETHER_URL") or DEFAULT_URL).rstrip("/")


def resolve_token(token: str | None) -> str:
    found = token or os.environ.get("TETHER_TOKEN") or local_admin_token()
    if not found:
        fail(
            "no token: pass --token, set TETHER_TOKEN, or run `tether serve` once on this "
            "machine so it writes its admin token"
        )
    return found


def is_interactive() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()
