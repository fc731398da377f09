"""`tether db vacuum|prune`: look after the relay's database.

Both open the database themselves, so they work whether or not a server is running. With
SQLite and a running server, VACUUM holds the database for as long as it takes (the
server's writes wait), so run it when the relay is quiet.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from tether.cli.common import CONFIG_OPTION, DATA_DIR_OPTION
from tether.cli.tokens import settings_or_fail, with_store

if TYPE_CHECKING:
    from tether.relay.store import Store

db_app = typer.Typer(help="Look after the relay's database.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")


@db_app.command("vacuum")
def vacuum(
    config: Path | None = CONFIG_OPTION,
    data_dir: Path | None = DATA_DIR_OPTION,
) -> None:
    """Give the space of deleted rows back: SQLite VACUUM (the file shrinks), PostgreSQL
    VACUUM (the space is reused)."""
    settings = settings_or_fail(config, data_dir)
    asyncio.run(with_store(settings, lambda store: store.compact(full=True)))
    typer.echo("vacuumed")


@db_app.command("prune")
def prune(
    older_than: float = typer.Option(
        None,
        "--older-than",
        help="Seconds since an ended session's last activity (default: retention.ended_after).",
    ),
    config: Path | None = CONFIG_OPTION,
    data_dir: Path | None = DATA_DIR_OPTION,
) -> None:
    """Delete ended sessions older than the retention age now, with their messages,
    permission requests, flows and events."""
    settings = settings_or_fail(config, data_dir)
    age = older_than if older_than is not None else settings.retention.ended_after
    if age is None:
        typer.echo("nothing to do: give --older-than or set retention.ended_after", err=True)
        raise typer.Exit(2)

    async def work(store: Store) -> int:
        return await store.prune(time.time() - age)

    deleted = asyncio.run(with_store(settings, work))
    typer.echo(f"deleted {deleted} ended session(s)")
