"""`tether flows list|show|diff|har|replay`: the gateway's captured model calls, read
through the relay's API (`/api/v1/flows`). Rendering lives in flow_view.py and har.py."""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import re
import sys
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx
import typer
from rich.console import Console
from rich.table import Table

from tether.cli.common import TOKEN_OPTION, URL_OPTION, fail, resolve_url
from tether.cli.flow_view import answer_text, describe, diff
from tether.cli.har import har
from tether.cli.remote import run
from tether.client import RelayClient

flows_app = typer.Typer(
    name="flows",
    help="The gateway's captured model calls: list, show, diff, export as HAR, replay.",
    no_args_is_help=True,
)
FLOW_ID = typer.Argument(..., help="A flow id (`tether flows list` shows them).")
# The filters `list` and `har` share, declared once: name → (type, option).
_FILTERS: dict[str, tuple[type, Any]] = {
    "session": (str, typer.Option(None, "--session", help="Only this relay session's calls.")),
    "model": (
        str,
        typer.Option(None, "--model", help="Only calls for this model (client's or upstream)."),
    ),
    "provider": (str, typer.Option(None, "--provider", help="Only calls routed to this provider.")),
    "status": (
        int,
        typer.Option(None, "--status", help="Only calls answered with this HTTP status."),
    ),
    "since": (
        str,
        typer.Option(None, "--since", help="Only calls since: 10m, 2h, 1d, or an ISO time."),
    ),
}
# Headers a replay must not copy from the captured request.
_NOT_REPLAYED = frozenset({"host", "content-length", "connection", "transfer-encoding"})
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def register(app: typer.Typer) -> None:
    app.add_typer(flows_app)


def since_seconds(value: str | None, now: float | None = None) -> float | None:
    """`10m` → Unix seconds ten minutes ago; an ISO time or Unix seconds as they are."""
    if not value:
        return None
    now = time.time() if now is None else now
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([smhd])", value.strip())
    if match:
        return now - float(match[1]) * _UNITS[match[2]]
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        fail(f"--since {value!r}: use 10m, 2h, 1d, Unix seconds or an ISO time")


def filtered(command: Callable[..., None]) -> Callable[..., None]:
    """Give a command the filter options; it receives them as `filters`, the query for
    `/api/v1/flows` (the ones given, `--since` as Unix seconds)."""
    keyword = inspect.Parameter.KEYWORD_ONLY
    own = [
        p.replace(kind=keyword)
        for p in inspect.signature(command).parameters.values()
        if p.name != "filters"
    ]
    added = [
        inspect.Parameter(name, keyword, default=option, annotation=kind)
        for name, (kind, option) in _FILTERS.items()
    ]

    @functools.wraps(command)
    def with_filters(**options: Any) -> None:
        given = {name: options.pop(name) for name in _FILTERS}
        given["since"] = since_seconds(given["since"])
        command(filters={k: v for k, v in given.items() if v is not None}, **options)

    # Typer reads the options from the signature and the annotations.
    with_filters.__signature__ = inspect.Signature(added + own)  # type: ignore[attr-defined]
    with_filters.__annotations__ = {
        **{name: kind for name, (kind, _) in _FILTERS.items()},
        **{k: v for k, v in command.__annotations__.items() if k != "filters"},
    }
    return with_filters


@flows_app.command("list")
@filtered
def list_flows(
    filters: dict[str, Any],
    limit: int = typer.Option(50, "--limit", min=1, max=1000, help="At most this many."),
    as_json: bool = typer.Option(False, "--json", help="Print the flows as JSON."),
    url: str = URL_OPTION,
    token: str = TOKEN_OPTION,
) -> None:
    """Model calls, newest first."""
    found = run(url, token, lambda relay: relay.list_flows(**filters, limit=limit))["flows"]
    if as_json:
        print(json.dumps(found, indent=2, ensure_ascii=False))
        return
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 250)
    if not found:
        console.print("no flows")
        return
    table = Table(box=None, pad_edge=False, header_style="bold")
    for name in ("ID", "TIME", "SESSION", "MODEL", "PROVIDER", "STATUS", "TOKENS", "COST", "MS"):
        table.add_column(name, no_wrap=name in ("ID", "TIME"), overflow="fold")
    for flow in found:
        model_text = flow.get("client_model") or "-"
        if flow.get("upstream_model") and flow["upstream_model"] != model_text:
            model_text += f" → {flow['upstream_model']}"
        cost = flow.get("cost")
        table.add_row(
            flow["id"],
            flow["received_at"],
            flow.get("session_id") or "-",
            model_text,
            flow.get("provider") or "-",
            str(flow.get("status")) + (" ⚠" if flow.get("error") else ""),
            f"{flow.get('input_tokens') or 0}/{flow.get('output_tokens') or 0}",
            "-" if cost is None else f"${cost:.4f}",
            f"{flow.get('duration_ms') or 0:.0f}",
        )
    console.print(table)


@flows_app.command("show")
def show(
    flow_id: str = FLOW_ID,
    raw: bool = typer.Option(False, "--raw", help="The bodies as they were on the wire."),
    upstream: bool = typer.Option(
        False, "--upstream", help="The gateway's call to the provider, not the client's."
    ),
    url: str = URL_OPTION,
    token: str = TOKEN_OPTION,
) -> None:
    """One call: system prompt, tools, messages and the answer (or `--raw` bytes)."""
    if not raw:
        flow = run(url, token, lambda relay: relay.get_flow(flow_id))
        print(describe(flow, "upstream" if upstream else "client"))
        return
    parts = ("upstream-request", "upstream-response") if upstream else ("request", "response")

    async def bodies(relay: RelayClient) -> list[bytes]:
        return [await relay.flow_body(flow_id, part) for part in parts]

    request, response = run(url, token, bodies)
    out = sys.stdout.buffer
    for part, data in zip(parts, (request, response), strict=True):
        out.write(f"── {part} ({len(data)} bytes) ──\n".encode())
        out.write(data)
        out.write(b"\n")
    out.flush()


@flows_app.command("diff")
def diff_flows(
    a: str = typer.Argument(..., help="The earlier flow."),
    b: str = typer.Argument(..., help="The later flow."),
    url: str = URL_OPTION,
    token: str = TOKEN_OPTION,
) -> None:
    """What changed between two requests: system prompt, tools, each message."""

    async def both(relay: RelayClient) -> tuple[dict[str, Any], dict[str, Any]]:
        return await relay.get_flow(a), await relay.get_flow(b)

    first, second = run(url, token, both)
    print(diff(first, second))


@flows_app.command("har")
@filtered
def har_export(
    filters: dict[str, Any],
    limit: int = typer.Option(100, "--limit", min=1, max=1000, help="At most this many."),
    upstream: bool = typer.Option(
        False, "--upstream", help="Add each call the gateway made to its provider."
    ),
    url: str = URL_OPTION,
    token: str = TOKEN_OPTION,
) -> None:
    """Write the calls as HAR 1.2 to stdout (`tether flows har > calls.har`)."""

    async def details(relay: RelayClient) -> list[dict[str, Any]]:
        found = (await relay.list_flows(**filters, limit=limit))["flows"]
        return [await relay.get_flow(flow["id"]) for flow in found]

    flows = run(url, token, details)
    print(json.dumps(har(flows, resolve_url(url), upstream=upstream), ensure_ascii=False))


def replay_request(
    flow: dict[str, Any], body: bytes, provider: str | None, model: str | None
) -> tuple[str, bytes]:
    """The captured request's path and body, re-aimed: `provider,model` is a model name
    routing reads as an explicit choice."""
    path = flow["path"]
    if provider is None and model is None:
        return path, body
    target = model or flow.get("upstream_model") or flow.get("client_model") or ""
    name = f"{provider},{target}" if provider else target
    if flow.get("surface") == "gemini":  # the model is in the path
        head, _, tail = path.partition(":")
        return re.sub(r"/models/.*$", f"/models/{name}", head) + ":" + tail, body
    data = json.loads(body)
    data["model"] = name
    return path, json.dumps(data).encode()


@flows_app.command("replay")
def replay(
    flow_id: str = FLOW_ID,
    provider: str = typer.Option(None, "--provider", help="Send it to this provider instead."),
    model: str = typer.Option(None, "--model", help="Ask this model instead."),
    gateway: str = typer.Option(
        None, "--gateway", help="The gateway to send it through (default: the relay's address)."
    ),
    key: str = typer.Option(
        None,
        "--key",
        envvar="TETHER_GATEWAY_KEY",
        help="The key to send (captured keys are never stored).",
        show_default=False,
    ),
    url: str = URL_OPTION,
    token: str = TOKEN_OPTION,
) -> None:
    """Send a captured request again (optionally elsewhere); show both answers side by side."""

    async def fetch(relay: RelayClient) -> tuple[dict[str, Any], bytes]:
        return await relay.get_flow(flow_id), await relay.flow_body(flow_id, "request")

    flow, body = run(url, token, fetch)
    path, content = replay_request(flow, body, provider, model)
    path = re.sub(r"([?&])key=[^&]*&?", r"\1", path).rstrip("?&")
    headers = {
        name: value
        for name, value in flow.get("request_headers") or ()
        if name not in _NOT_REPLAYED
    }
    secret = key or "tether"
    headers.update({"x-api-key": secret, "authorization": f"Bearer {secret}"})
    if flow.get("surface") == "gemini":
        headers["x-goog-api-key"] = secret
    base = (gateway or resolve_url(url)).rstrip("/")

    async def send() -> httpx.Response:
        async with httpx.AsyncClient(timeout=600) as http:
            return await http.post(base + path, content=content, headers=headers)

    try:
        answer = asyncio.run(send())
    except httpx.HTTPError as exc:
        fail(f"cannot reach the gateway at {base}: {type(exc).__name__}: {exc}")
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 200)
    table = Table(header_style="bold", expand=True, show_lines=True)
    table.add_column(f"captured: {flow.get('provider')}/{flow.get('upstream_model')}", ratio=1)
    route = answer.headers.get("tether-route", "?")
    table.add_column(f"replay: {route}", ratio=1)
    table.add_row(f"status {flow.get('status')}", f"status {answer.status_code}")
    table.add_row(answer_text(flow.get("response_body")), answer_text(answer.text) or answer.text)
    console.print(table)
    if answer.status_code >= 400:
        raise typer.Exit(1)
