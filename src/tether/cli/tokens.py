"""`tether token create|list|revoke`: manage the relay's bearer tokens.

When this data dir's server is running (it noted its address there, and the admin token
file or TETHER_TOKEN lets us in), the commands go through its API: with SQLite, writing
the database from a second process could stall the running server for its busy timeout.
Only when no server answers do they open the store themselves.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from tether.cli.common import CONFIG_OPTION, DATA_DIR_OPTION, err_console, fail, local_admin_token
from tether.client import NotFound, RelayClient, RelayError
from tether.client.errors import Forbidden, RelayUnavailable, Unauthorized
from tether.config import ConfigError, Settings, load_settings, server_url_path
from tether.protocol import SCOPES

if TYPE_CHECKING:
    from tether.relay.store import Store

T = TypeVar("T")

token_app = typer.Typer(help="Create, list and revoke the relay's tokens.", no_args_is_help=True)
console = Console(highlight=False)

# Tell a server that is down from one that is slow quickly: the store is the fallback.
SERVER_TIMEOUT = 5.0


def register(app: typer.Typer) -> None:
    app.add_typer(token_app, name="token")


class _NoServer(Exception):
    """No running server of this data dir took the call; use the store."""


def settings_or_fail(config: Path | None, data_dir: Path | None) -> Settings:
    try:
        return load_settings(config, data_dir=data_dir)
    except ConfigError as exc:
        fail(str(exc))


async def _via_server(settings: Settings, work: Callable[[RelayClient], Awaitable[T]]) -> T:
    try:
        url = server_url_path(settings.data_dir).read_text().strip()
    except OSError:
        raise _NoServer from None
    token = os.environ.get("TETHER_TOKEN") or local_admin_token(settings.data_dir)
    if not url or not token:
        raise _NoServer
    try:
        async with RelayClient(url, token, timeout=SERVER_TIMEOUT) as relay:
            return await work(relay)
    except (RelayUnavailable, Unauthorized, Forbidden):
        # Down, a stale note (another server on that port), or a token that may not manage
        # tokens: the store is still the truth.
        raise _NoServer from None


async def with_store(settings: Settings, work: Callable[[Store], Awaitable[T]]) -> T:
    # Imported here: only a command that finds no server running opens the store itself,
    # and the relay's store is most of what `tether` would otherwise import for any command.
    from tether.relay.store import Store, open_database

    store = Store(open_database(settings.database_url, settings.data_dir))
    try:
        await store.open()
    except Exception as exc:  # an unreachable database is a one-line error here
        fail(f"cannot open the relay's database: {exc}")
    try:
        return await work(store)
    finally:
        await store.close()


def _run(
    settings: Settings,
    server_work: Callable[[RelayClient], Awaitable[T]],
    store_work: Callable[[Store], Awaitable[T]],
) -> T:
    async def main() -> T:
        try:
            return await _via_server(settings, server_work)
        except _NoServer:
            return await with_store(settings, store_work)

    try:
        return asyncio.run(main())
    except RelayError as exc:
        fail(f"the server refused: {exc}")


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
    settings = settings_or_fail(config, data_dir)

    async def in_store(store: Store) -> dict[str, Any]:
        from tether.relay.auth import create_token

        row, token = await create_token(store, scope, name)
        return {**row, "token": token}

    row = _run(settings, lambda relay: relay.create_token(scope, name), in_store)
    err_console.print(f"[dim]created {row['scope']} token {row['id']} ({row['name']}):[/]")
    if link:
        base = (url or settings.url).rstrip("/")
        print(f"{base}/?token={row['token']}")
    else:
        print(row["token"])


@token_app.command("list")
def list_(config: Path = CONFIG_OPTION, data_dir: Path = DATA_DIR_OPTION) -> None:
    """List tokens (never their secrets)."""
    rows = _run(
        settings_or_fail(config, data_dir),
        lambda relay: relay.list_tokens(),
        lambda store: store.list_tokens(),
    )
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
    """Revoke a token: within about a second every server refuses it and ends its open
    connections (WebSockets close with 4401)."""

    async def on_server(relay: RelayClient) -> bool:
        try:
            await relay.revoke_token(token_id)
        except NotFound:
            return False
        return True

    if not _run(settings_or_fail(config, data_dir), on_server, lambda s: s.revoke_token(token_id)):
        fail(f"no active token with id {token_id!r}")
    console.print(f"revoked {token_id}")
