"""`tether token create|list|revoke`: manage the relay's bearer tokens."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from tether.cli.common import err_console, fail
from tether.config import ConfigError, load_settings
from tether.protocol import SCOPES
from tether.relay.auth import create_token
from tether.relay.store import Store, open_database

token_app = typer.Typer(help="Create, list and revoke the relay's tokens.", no_args_is_help=True)
console = Console(highlight=False)

CONFIG_OPTION = typer.Option(
    None, "--config", "-c", envvar="TETHER_CONFIG", help="YAML config file."
)
DATA_DIR_OPTION = typer.Option(None, "--data-dir", help="The data dir `tether serve` uses.")


def register(app: typer.Typer) -> None:
    app.add_typer(token_app, name="token")


def _with_store(config: Path | None, data_dir: Path | None, work: Any) -> Any:
    try:
        settings = load_settings(config, data_dir=data_dir)
    except ConfigError as exc:
        fail(str(exc))

    async def run() -> Any:
        store = Store(open_database(settings.database_url, settings.data_dir))
        try:
            await store.open()
        except Exception as exc:  # an unreachable database is a one-line error here
            fail(f"cannot open the relay's database: {exc}")
        try:
            return await work(store)
        finally:
            await store.close()

    return asyncio.run(run())


@token_app.command("create")
def create(
    scope: str = typer.Option(..., "--scope", "-s", help=f"One of: {', '.join(SCOPES)}."),
    name: str = typer.Option(None, "--name", "-n", help="A label to recognise it by."),
    link: bool = typer.Option(
        False, "--link", help="Print a web UI sign-in link that carries the token instead."
    ),
    url: str = typer.Option(
        None,
        "--url",
        envvar="TETHER_PUBLIC_URL",
        help="The address people open, for --link.",
        show_default="this server's address",
    ),
    config: Path = CONFIG_OPTION,
    data_dir: Path = DATA_DIR_OPTION,
) -> None:
    """Print a new token. It is shown once; only its hash is kept.

    For a phone: `tether token create --scope client --name phone --link`.
    """
    if scope not in SCOPES:
        fail(f"unknown scope {scope!r}; choose one of {', '.join(SCOPES)}", code=2)
    row, token = _with_store(config, data_dir, lambda store: create_token(store, scope, name))
    err_console.print(f"[dim]created {row['scope']} token {row['id']} ({row['name']}):[/]")
    if link:
        base = (url or load_settings(config, data_dir=data_dir).url).rstrip("/")
        print(f"{base}/?token={token}")
    else:
        print(token)


@token_app.command("list")
def list_(config: Path = CONFIG_OPTION, data_dir: Path = DATA_DIR_OPTION) -> None:
    """List tokens (never their secrets)."""
    rows = _with_store(config, data_dir, lambda store: store.list_tokens())
    table = Table("id", "name", "scope", "created", "revoked")
    for row in rows:
        table.add_row(
            row["id"], row["name"], row["scope"], row["created_at"] or "", row["revoked_at"] or ""
        )
    console.print(table)


@token_app.command("revoke")
def revoke(
    token_id: str = typer.Argument(..., help="The id shown by `tether token list`."),
    config: Path = CONFIG_OPTION,
    data_dir: Path = DATA_DIR_OPTION,
) -> None:
    """Revoke a token; servers stop accepting it within two seconds."""
    if not _with_store(config, data_dir, lambda store: store.revoke_token(token_id)):
        fail(f"no active token with id {token_id!r}")
    console.print(f"revoked {token_id}")
