"""The `tether` command. Each sub-module registers its own commands; they stay thin."""

from __future__ import annotations

import typer

from tether import __version__
from tether.cli import db, devices, flows, gateway, permissions, run, serve, sessions, tokens

app = typer.Typer(
    name="tether",
    help="A self-hosted gateway for terminal coding agents.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"tether {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """tether: route an agent's model calls, and watch and steer it from anywhere."""


for module in (serve, tokens, gateway, run, sessions, permissions, devices, flows, db):
    module.register(app)


def main() -> None:
    app()
