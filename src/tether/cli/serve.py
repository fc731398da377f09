"""`tether serve`: the gateway, the relay and the web UI on one port."""

from __future__ import annotations

import contextlib
import errno
import logging
import socket
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console

from tether.cli.common import CONFIG_OPTION, DATA_DIR_OPTION, fail, first_command_here
from tether.config import ConfigError, Settings, load_settings, server_url_path

if TYPE_CHECKING:
    from tether.server import StartupInfo

console = Console(highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command()(serve)


def serve(
    host: str = typer.Option(None, "--host", help="Address to bind.", show_default="127.0.0.1"),
    port: int = typer.Option(None, "--port", "-p", help="Port to listen on.", show_default="8787"),
    data_dir: Path = DATA_DIR_OPTION,
    config: Path = CONFIG_OPTION,
    only: str = typer.Option(
        None, "--only", help="Serve one half alone: gateway or relay.", show_default="both"
    ),
    log_level: str = typer.Option(
        None, "--log-level", "-v", help="debug, info, warning or error.", show_default="info"
    ),
) -> None:
    """Run the gateway, the relay and the web UI.

    Binds to 127.0.0.1:8787 unless told otherwise. On first start it creates an admin token,
    keeps it in the data dir (mode 0600) and prints it once; with TETHER_TOKEN set it
    mints and prints nothing. The first start on a machine (no config file, an empty data
    dir) writes a config file that turns end-to-end encryption on.
    """
    first_command_here(config, data_dir, console)
    try:
        settings = load_settings(
            config, host=host, port=port, data_dir=data_dir, only=only, log_level=log_level
        )
    except ConfigError as exc:
        fail(str(exc))
    _configure_logging(settings.log_level)
    sock = _bind(settings)
    settings.port = sock.getsockname()[1]
    # Imported here: the server pulls in the whole app, which no other command needs.
    from tether.server import make_server

    try:
        server = make_server(settings, on_startup=_announce)
    except ConfigError as exc:  # the gateway section is checked when the app is built
        sock.close()
        fail(str(exc))
    try:
        with contextlib.suppress(KeyboardInterrupt):
            server.run(sockets=[sock])  # uvloop when installed, as uvicorn.run would
    finally:
        if settings.only != "gateway":
            _forget_address(settings)
    console.print("[dim]tether stopped[/]")


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


def _bind(settings: Settings) -> socket.socket:
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted connections only when
    # the listening socket says TCP, and without it small writes wait ~40 ms for an ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((settings.host, settings.port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            fail(
                f"port {settings.port} on {settings.host} is already in use "
                "(is tether already running?); pick another with --port"
            )
        fail(f"cannot listen on {settings.host}:{settings.port}: {exc.strerror}")
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _note_address(settings: Settings) -> None:
    """Leave this server's loopback address in the data dir: `tether token` then goes
    through the running server instead of writing its database from another process."""
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "", "localhost") else settings.host
    host = "[::1]" if host == "::" else (f"[{host}]" if ":" in host else host)
    with contextlib.suppress(OSError):
        server_url_path(settings.data_dir).write_text(f"http://{host}:{settings.port}\n")


def _forget_address(settings: Settings) -> None:
    with contextlib.suppress(OSError):
        server_url_path(settings.data_dir).unlink(missing_ok=True)


def _announce(info: StartupInfo) -> None:
    s = info.settings
    if s.only != "gateway":
        _note_address(s)
    halves = {"all": "gateway + relay + web UI", "gateway": "gateway", "relay": "relay + web UI"}
    console.print(f"[bold]tether[/] listening on [cyan]{s.url}[/] ({halves[s.only]})")
    if s.only != "gateway":
        store = "PostgreSQL" if s.database_url else f"SQLite in {s.data_dir}"
        console.print(f"  data: {store}")
        if s.token:
            console.print("  auth: the admin token is TETHER_TOKEN")
        elif info.new_admin_token:
            console.print(f"  admin token (shown once; kept in {info.admin_token_file}):")
            console.print(f"    {info.new_admin_token}")
        else:
            console.print(
                f"  auth: admin token in {info.admin_token_file}; "
                "`tether token create --scope client` makes one for a phone"
            )
        # Only a token minted just now is printed: one given from outside (TETHER_TOKEN)
        # may end up in service logs that way.
        if info.new_admin_token:
            console.print(f"  web UI: {s.url}/?token={info.new_admin_token}")
        else:
            console.print(f"  web UI: {s.url}/  (sign in with a token link or a token)")
        if s.encryption != "off":
            console.print(
                f"  encryption: {s.encryption} (a browser reads sessions once paired "
                "with `tether pair`)"
            )
    if s.only != "relay":
        console.print(f"  gateway: ANTHROPIC_BASE_URL={s.url}")
    if not s.is_loopback:
        console.print(
            "[yellow]  listening beyond loopback: every API call needs a token; "
            "put TLS in front of it[/]"
        )
    console.print("[dim]Press Ctrl-C to stop.[/]")
