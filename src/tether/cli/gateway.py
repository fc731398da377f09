"""`tether gateway check|route`: validate the gateway config and see where models go."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tether.cli.common import CONFIG_OPTION, fail
from tether.config import ConfigError, load_settings
from tether.redact import redact_url

if TYPE_CHECKING:
    from tether.gateway.config import GatewayConfig
    from tether.gateway.hooks import Pipeline

# The gateway's modules are imported inside the commands: `tether` starts for every
# command, and most never touch the gateway.

console = Console(highlight=False, soft_wrap=True)

gateway_app = typer.Typer(
    name="gateway",
    help="Check the model gateway's config and see where a model name is routed.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(gateway_app)


def _load(config: Path | None) -> GatewayConfig:
    from tether.gateway.config import parse_gateway_config

    try:
        settings = load_settings(config)
        return parse_gateway_config(settings.gateway)
    except ConfigError as exc:
        fail(str(exc))


def _target(provider: str, model: str | None) -> str:
    return f"{provider} → {model or '(client model)'}"


@gateway_app.command()
def check(config: Path = CONFIG_OPTION) -> None:
    """Validate the `gateway:` config and print the providers and the route table.

    Exits non-zero with a one-line error naming the field when the config is invalid.
    """
    gw = _load(config)
    providers = Table(title="providers", title_justify="left")
    for column in ("name", "type", "base_url", "auth", "max_tokens", "timeout"):
        providers.add_column(column)
    for p in gw.providers.values():
        providers.add_row(
            p.name,
            p.type,
            escape(redact_url(p.base_url)),
            p.describe_auth(),
            str(p.max_tokens or "-"),
            f"{p.timeout:g}s",
        )
    console.print(providers)

    routes = Table(title="routes (first match wins)", title_justify="left")
    for column in ("#", "when", "goes to"):
        routes.add_column(column)
    n = 0
    for s in gw.scenarios.values():
        n += 1
        when = {
            "long_context": f"input > {s.threshold} tokens (estimated)",
            "background": f"model matches {s.match!r}",
            "web_search": "a web-search tool is offered",
            "thinking": "thinking is enabled",
        }[s.name]
        routes.add_row(str(n), f"{s.name}: {when}", _target(s.target.provider, s.target.model))
    for r in gw.routes:
        n += 1
        routes.add_row(
            str(n), f"model matches {r.match!r}", _target(r.target.provider, r.target.model)
        )
    if gw.default is not None:
        routes.add_row(str(n + 1), "default", _target(gw.default.provider, gw.default.model))
    console.print(routes)
    _print_hooks(_hooks(gw))
    keys = f"{len(gw.keys)} gateway key(s) required" if gw.keys else "no gateway keys (open)"
    console.print(f"[green]ok[/]: {len(gw.providers)} provider(s); {keys}")
    if gw.default is None and not any(r.match == "*" for r in gw.routes):
        console.print(
            "[yellow]note[/]: no default and no '*' route: unmatched models are refused with 404"
        )


def _hooks(gw: GatewayConfig) -> Pipeline:
    """The hook pipeline as `tether serve` would build it: plugins loaded, order sorted."""
    from tether.gateway.hooks import build_pipeline

    try:
        return build_pipeline(gw.hooks)
    except ConfigError as exc:
        fail(str(exc))


def _print_hooks(hooks: Pipeline) -> None:
    if not hooks:
        return
    table = Table(title="hooks (in the order they run)", title_justify="left")
    for column in ("#", "name", "phases", "on error"):
        table.add_column(column)
    for n, stage in enumerate(hooks.stages, 1):
        phases = [p for p in ("request", "response", "event") if getattr(stage, f"on_{p}")]
        on_error = "refuse the call" if stage.on_error == "block" else "skip the hook"
        table.add_row(str(n), stage.name, ", ".join(phases), on_error)
    console.print(table)


@gateway_app.command()
def route(
    model: str = typer.Argument(..., help="The model name a client asks for."),
    thinking: bool = typer.Option(False, "--thinking", help="The request enables thinking."),
    tokens: int = typer.Option(0, "--tokens", help="Estimated input tokens of the request."),
    web_search: bool = typer.Option(
        False, "--web-search", help="The request offers a web-search tool."
    ),
    config: Path = CONFIG_OPTION,
) -> None:
    """Show where one model name goes: provider, upstream model, and the rule that chose."""
    from tether.gateway.routing import Features, NoRoute, resolve

    gw = _load(config)
    try:
        resolved = resolve(
            gw, Features(model=model, thinking=thinking, web_search=web_search, tokens=tokens)
        )
    except NoRoute as exc:
        fail(str(exc))
    p = resolved.provider
    console.print(
        f"{model} → {p.name} ({p.type}, {escape(redact_url(p.base_url))}) model {resolved.model}  "
        f"[dim]by {resolved.reason}[/]"
    )
