"""`tether pair` (a QR code a phone opens to pair itself) and `tether devices` (list,
revoke). The pairing secret is made here and travels only in the link's URL fragment;
the relay gets a verifier derived from it (relay/devices.py, docs/encryption.md)."""

from __future__ import annotations

import asyncio
import io
import os
import re
import secrets
import time
from typing import Any
from urllib.parse import urlsplit

import typer
from rich.console import Console
from rich.table import Table

from tether.cli.common import (
    TOKEN_OPTION,
    URL_OPTION,
    err_console,
    fail,
    first_command_here,
    resolve_url,
)
from tether.cli.remote import run
from tether.client import RelayClient
from tether.config import ConfigError, Settings, load_settings
from tether.e2e import crypto
from tether.e2e.grant import Granted, UnknownDevice, grant
from tether.e2e.keys import HostKeys

devices_app = typer.Typer(
    help="Paired devices: list them, revoke one.", invoke_without_command=True
)
console = Console(highlight=False)

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
WAIT_POLL = 1.0


def register(app: typer.Typer) -> None:
    app.command("pair")(pair)
    app.add_typer(devices_app, name="devices")


def parse_duration(text: str) -> float:
    """`90`, `90s`, `10m`, `1h` → seconds."""
    m = _DURATION.match(text)
    if not m or float(m.group(1)) <= 0:
        raise typer.BadParameter(f"{text!r} is not a duration like 300, 10m or 1h")
    return float(m.group(1)) * _UNIT[m.group(2)]


def host_settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        fail(str(exc))


def link_base(link_url: str | None, settings: Settings, relay_url: str) -> str:
    """Where the phone opens the link: --link-url, else the configured public_url, else
    the relay's own address (with a warning when a phone could not reach it)."""
    base = link_url or settings.public_url or relay_url
    host = urlsplit(base).hostname or ""
    if host in ("localhost", "127.0.0.1", "::1") or host.startswith("127."):
        err_console.print(
            f"[yellow]warning:[/] the link points at {host}, which a phone cannot open; "
            "serve on an address it can reach and set public_url (or --link-url)"
        )
    return base


def pairing_link(base: str, pairing_id: str, secret: bytes) -> str:
    # The fragment is never sent to any server: the secret reaches only the browser.
    return f"{base.rstrip('/')}/#pair={pairing_id}.{crypto.b64e(secret)}"


def qr_text(link: str) -> str:
    import segno  # only this command needs it

    out = io.StringIO()
    segno.make(link, error="m").terminal(out=out, compact=True, border=2)
    return out.getvalue()


def pair(
    scope: str = typer.Option("client", "--scope", "-s", help="client or viewer."),
    viewer: bool = typer.Option(False, "--viewer", help="Same as --scope viewer."),
    name: str = typer.Option(None, "--name", "-n", help="The device's name (default: phone-N)."),
    expires: str = typer.Option("5m", "--expires", help="How long the link works: 90s, 10m, 1h."),
    link_url: str = typer.Option(
        None,
        "--link-url",
        envvar="TETHER_PUBLIC_URL",
        help="The address the phone opens (default: --url).",
        show_default=False,
    ),
    wait: bool = typer.Option(True, "--wait/--no-wait", help="Wait for the device to pair."),
    url: str = URL_OPTION,
    token: str = TOKEN_OPTION,
) -> None:
    """Print a QR code (and its link) that pairs one phone or browser: it gets its own
    token and keys, and no token is typed or copied. The link works once."""
    if viewer:
        scope = "viewer"
    if scope not in ("client", "viewer"):
        fail(f"a paired device is a client or a viewer, not {scope!r}", code=2)
    seconds = parse_duration(expires)
    first_command_here()
    settings = host_settings()
    pairing_id = secrets.token_hex(8)
    secret = os.urandom(32)
    auth_key, host_key = crypto.pairing_keys(secret, pairing_id)
    keys = HostKeys(settings.data_dir)
    keys.remember_pairing(pairing_id, host_key)
    device_name = name or f"phone-{pairing_id[:4]}"
    body = {
        "id": pairing_id,
        "verifier": crypto.b64e(auth_key),
        "scope": scope,
        "name": device_name,
        "expires_in": seconds,
    }

    async def work(relay: RelayClient) -> dict[str, Any] | None:
        created = await relay.create_pairing(body)
        link = pairing_link(link_base(link_url, settings, resolve_url(url)), pairing_id, secret)
        print(qr_text(link), end="")
        print(link, flush=True)
        err_console.print(
            f"[dim]pairs one device as {device_name!r} ({scope}); "
            f"the link works once, until {created['expires_at']}[/]"
        )
        if not wait:
            return None
        deadline = time.monotonic() + seconds + 2
        while time.monotonic() < deadline:
            state = await relay.get_pairing(pairing_id)
            if state.get("device"):
                return state["device"]
            await asyncio.sleep(WAIT_POLL)
        return None

    device = run(url, token, work)
    if device is not None:
        trusted = keys.trusted_devices([device])
        print(f"paired {device['name']} ({device['scope']})" + ("" if trusted else " (no key)"))
    elif wait:
        fail("the link expired before a device paired; run `tether pair` again")


@devices_app.callback()
def devices(
    ctx: typer.Context,
    url: str = URL_OPTION,
    token: str = TOKEN_OPTION,
) -> None:
    """List paired devices: name, scope, last seen."""
    if ctx.invoked_subcommand is not None:
        return
    found = run(url, token, lambda relay: relay.list_devices())
    if not found:
        console.print("no paired devices; `tether pair` pairs one")
        return
    table = Table(
        "NAME", "ID", "SCOPE", "LAST SEEN", "PAIRED", "KEY", box=None, header_style="bold"
    )
    for d in found:
        key = crypto.key_fingerprint(d["public_key"]) if d.get("public_key") else "-"
        seen = d["last_seen_at"] or "-"
        table.add_row(d["name"], d["id"], d["scope"], seen, d["created_at"], key)
    console.print(table)


@devices_app.command("grant")
def grant_(
    name: str = typer.Argument(
        ..., help="The device's name or id, as `tether devices` shows them."
    ),
    session: list[str] = typer.Option(
        None, "--session", "-s", help="Only this session (repeat for more); default: all."
    ),
    url: str = URL_OPTION,
    token: str = TOKEN_OPTION,
) -> None:
    """Let a device read encrypted sessions started before it was paired: this host wraps
    each session's key to the device (the relay cannot)."""
    keys = HostKeys(host_settings().data_dir)

    async def work(relay: RelayClient) -> Granted:
        try:
            return await grant(relay, keys, name, session or None)
        except UnknownDevice as exc:
            fail(str(exc))

    done = run(url, token, work)
    console.print(
        f"{name} can now read {len(done.granted)} more session(s)"
        + (f"; {len(done.had)} it could already" if done.had else "")
        + (f"; {len(done.skipped)} not this host's to share" if done.skipped else "")
    )


@devices_app.command("revoke")
def revoke(
    name: str = typer.Argument(
        ..., help="The device's name or id, as `tether devices` shows them."
    ),
    url: str = URL_OPTION,
    token: str = TOKEN_OPTION,
) -> None:
    """Cut a device off at once: its token is revoked (open connections end) and its key
    removed, so no new session key is wrapped to it."""
    device = run(url, token, lambda relay: relay.revoke_device(name))
    console.print(f"revoked {device['name']}")
