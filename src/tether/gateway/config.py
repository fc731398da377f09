"""The gateway's configuration: the YAML `gateway:` section parsed into checked dataclasses.

`settings.gateway` arrives as a plain dict; `parse_gateway_config` turns it into a
`GatewayConfig` or raises `ConfigError` with a one-line message naming the field. With no
`gateway` section at all the gateway is a plain pass-through to api.anthropic.com that
forwards the client's own key, so `ANTHROPIC_BASE_URL=http://127.0.0.1:8787 claude` works
out of the box.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from tether.config import ConfigError, resolve_secret

ProviderType = Literal["anthropic", "openai", "gemini"]
PROVIDER_TYPES: tuple[str, ...] = ("anthropic", "openai", "gemini")
# How thinking maps onto an OpenAI-compatible server's `reasoning_effort`: "auto" for the
# model families known to take it, "effort" always, "none" never.
REASONING_STYLES: tuple[str, ...] = ("auto", "effort", "none")
TOOL_ID_STYLES: tuple[str, ...] = ("default", "mistral")
MID_SYSTEM_STYLES: tuple[str, ...] = ("user", "merge")
MAX_TOKENS_FIELDS: tuple[str, ...] = ("max_tokens", "max_completion_tokens")
SCENARIOS: tuple[str, ...] = ("long_context", "background", "web_search", "thinking")

DEFAULT_ANTHROPIC_URL = "https://api.anthropic.com"
DEFAULT_GEMINI_URL = "https://generativelanguage.googleapis.com"
DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024
DEFAULT_LONG_CONTEXT_THRESHOLD = 60_000


@dataclass(frozen=True)
class Provider:
    name: str
    type: ProviderType
    base_url: str
    api_key: str | None = None
    # Forward the key the client sent (x-api-key / Authorization) instead of our own.
    pass_client_key: bool = False
    # Seconds: connect, and the longest silence while waiting for the upstream.
    connect_timeout: float = 10.0
    timeout: float = 600.0
    max_tokens: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    reasoning: str = "auto"
    # OpenAI-compatible quirks, handed to the translator (see docs/gateway.md).
    echo_reasoning: bool = False
    tool_id_style: str = "default"
    mid_system: str = "user"
    max_tokens_field: str = "max_tokens"
    retries: int = 2
    retry_backoff: float = 0.5
    # Model names to list on GET /v1/models.
    models: tuple[str, ...] = ()

    def describe_auth(self) -> str:
        if self.pass_client_key:
            return "client's key"
        return "api key" if self.api_key else "no auth"


@dataclass(frozen=True)
class Target:
    """Where a request goes: a provider and the upstream model (None keeps the client's)."""

    provider: str
    model: str | None = None


@dataclass(frozen=True)
class Route:
    match: str
    target: Target


@dataclass(frozen=True)
class Scenario:
    """A rule that picks a target from what the request asks for, before the routes."""

    name: str
    target: Target
    # background: which model names count as background (haiku-class) requests.
    match: str | None = None
    # long_context: the estimated input tokens over which the rule applies.
    threshold: int | None = None


@dataclass(frozen=True)
class GatewayConfig:
    providers: dict[str, Provider]
    routes: tuple[Route, ...]
    scenarios: tuple[Scenario, ...] = ()
    default: Target | None = None
    keys: tuple[str, ...] = ()
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    # Seconds of upstream silence after which a streaming client gets a `ping` event.
    ping_interval: float = 10.0

    def scenario(self, name: str) -> Scenario | None:
        return next((s for s in self.scenarios if s.name == name), None)


def default_gateway_config() -> GatewayConfig:
    anthropic = Provider(
        name="anthropic", type="anthropic", base_url=DEFAULT_ANTHROPIC_URL, pass_client_key=True
    )
    return GatewayConfig(
        providers={"anthropic": anthropic}, routes=(Route("*", Target("anthropic")),)
    )


# --- parsing -------------------------------------------------------------------------


def _fail(where: str, problem: str) -> ConfigError:
    return ConfigError(f"gateway.{where}: {problem}" if where else f"gateway: {problem}")


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _fail(where, f"must be a mapping, not {type(value).__name__}")
    return value


def _check_keys(data: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise _fail(where, f"unknown field {unknown[0]!r} (known: {', '.join(sorted(allowed))})")


def _string(value: Any, where: str, *, required: bool = False) -> str | None:
    if value is None:
        if required:
            raise _fail(where, "is required")
        return None
    if not isinstance(value, str) or not value:
        raise _fail(where, "must be a non-empty string")
    return value


def _number(value: Any, where: str, default: float, *, minimum: float = 0) -> float:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
        raise _fail(where, f"must be a number >= {minimum:g}")
    return float(value)


def _integer(value: Any, where: str, *, minimum: int = 1) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _fail(where, f"must be a whole number >= {minimum}")
    return value


def _flag(value: Any, where: str) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise _fail(where, "must be true or false")
    return value


def _choice(value: Any, where: str, options: tuple[str, ...]) -> str:
    if value is None:
        return options[0]
    if value not in options:
        raise _fail(where, f"must be one of {', '.join(options)}, not {value!r}")
    return value


def _secret(value: Any, where: str, environ: dict[str, str]) -> str | None:
    raw = _string(value, where)
    if raw is None:
        return None
    resolved = resolve_secret(raw, environ)
    if resolved is None:
        raise _fail(where, f"environment variable {raw[4:]} is not set")
    return resolved


_PROVIDER_FIELDS = {
    "type",
    "base_url",
    "api_key",
    "pass_client_key",
    "timeout",
    "connect_timeout",
    "max_tokens",
    "headers",
    "reasoning",
    "retries",
    "retry_backoff",
    "models",
    "echo_reasoning",
    "tool_id_style",
    "mid_system",
    "max_tokens_field",
}


def _parse_provider(name: str, data: Any, environ: dict[str, str]) -> Provider:
    where = f"providers.{name}"
    data = _mapping(data, where)
    _check_keys(data, _PROVIDER_FIELDS, where)
    kind = data.get("type")
    if kind not in PROVIDER_TYPES:
        raise _fail(f"{where}.type", f"must be one of {', '.join(PROVIDER_TYPES)}, not {kind!r}")
    base_url = _string(data.get("base_url"), f"{where}.base_url", required=kind == "openai") or (
        DEFAULT_GEMINI_URL if kind == "gemini" else DEFAULT_ANTHROPIC_URL
    )
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise _fail(f"{where}.base_url", f"must be an http(s) URL, not {base_url!r}")
    pass_client_key = _flag(data.get("pass_client_key"), f"{where}.pass_client_key")
    headers = _mapping(data.get("headers"), f"{where}.headers")
    for key, value in headers.items():
        if not isinstance(value, str):
            raise _fail(f"{where}.headers.{key}", "must be a string")
    resolved_headers = {str(k): resolve_secret(v, environ) or "" for k, v in headers.items()}
    choices = {
        name: _choice(data.get(name), f"{where}.{name}", options)
        for name, options in (
            ("reasoning", REASONING_STYLES),
            ("tool_id_style", TOOL_ID_STYLES),
            ("mid_system", MID_SYSTEM_STYLES),
            ("max_tokens_field", MAX_TOKENS_FIELDS),
        )
    }
    models = data.get("models") or []
    if not isinstance(models, list) or not all(isinstance(m, str) and m for m in models):
        raise _fail(f"{where}.models", "must be a list of model names")
    return Provider(
        name=name,
        type=kind,
        base_url=base_url.rstrip("/"),
        api_key=_secret(data.get("api_key"), f"{where}.api_key", environ),
        pass_client_key=pass_client_key,
        connect_timeout=_number(
            data.get("connect_timeout"), f"{where}.connect_timeout", 10.0, minimum=0.001
        ),
        timeout=_number(data.get("timeout"), f"{where}.timeout", 600.0, minimum=0.001),
        max_tokens=_integer(data.get("max_tokens"), f"{where}.max_tokens"),
        headers=resolved_headers,
        echo_reasoning=_flag(data.get("echo_reasoning"), f"{where}.echo_reasoning"),
        **choices,
        retries=int(_number(data.get("retries"), f"{where}.retries", 2)),
        retry_backoff=_number(data.get("retry_backoff"), f"{where}.retry_backoff", 0.5),
        models=tuple(models),
    )


def _parse_target(data: Any, where: str, providers: dict[str, Provider]) -> Target:
    """A target is `{provider: NAME, model: MODEL}` or the short string `NAME[,MODEL]`."""
    if isinstance(data, str):
        name, _, model = data.partition(",")
        data = {"provider": name.strip(), "model": model.strip() or None}
    data = _mapping(data, where)
    provider = _string(data.get("provider"), f"{where}.provider", required=True)
    if provider not in providers:
        known = ", ".join(sorted(providers)) or "none defined"
        raise _fail(f"{where}.provider", f"no provider named {provider!r} (known: {known})")
    return Target(provider=provider, model=_string(data.get("model"), f"{where}.model"))


def _parse_routes(data: Any, providers: dict[str, Provider]) -> tuple[Route, ...]:
    if data is None:
        return ()
    if not isinstance(data, list):
        raise _fail("routes", "must be a list of {match, provider, model} entries")
    routes = []
    for i, item in enumerate(data):
        where = f"routes[{i}]"
        item = _mapping(item, where)
        _check_keys(item, {"match", "provider", "model"}, where)
        match = _string(item.get("match"), f"{where}.match", required=True)
        target = _parse_target({k: item.get(k) for k in ("provider", "model")}, where, providers)
        routes.append(Route(match=match, target=target))
    return tuple(routes)


def _parse_scenarios(data: Any, providers: dict[str, Provider]) -> tuple[Scenario, ...]:
    data = _mapping(data, "scenarios")
    scenarios = []
    for name, item in data.items():
        where = f"scenarios.{name}"
        if name not in SCENARIOS:
            raise _fail(where, f"unknown scenario (known: {', '.join(SCENARIOS)})")
        if item is None:
            continue
        if isinstance(item, dict):
            _check_keys(item, {"provider", "model", "match", "threshold"}, where)
            target = _parse_target(
                {k: item.get(k) for k in ("provider", "model")}, where, providers
            )
            match = _string(item.get("match"), f"{where}.match")
            threshold = _integer(item.get("threshold"), f"{where}.threshold")
        else:
            target = _parse_target(item, where, providers)
            match, threshold = None, None
        if name == "background" and match is None:
            match = "*haiku*"
        if name == "long_context" and threshold is None:
            threshold = DEFAULT_LONG_CONTEXT_THRESHOLD
        scenarios.append(Scenario(name=name, target=target, match=match, threshold=threshold))
    # Evaluated in a fixed order whatever order the YAML used (see routing.py).
    scenarios.sort(key=lambda s: SCENARIOS.index(s.name))
    return tuple(scenarios)


def _parse_keys(data: Any, environ: dict[str, str]) -> tuple[str, ...]:
    if data is None:
        return ()
    if isinstance(data, str):
        data = [data]
    if not isinstance(data, list):
        raise _fail("keys", "must be a list of keys (or env:NAME references)")
    keys = []
    for i, item in enumerate(data):
        key = _secret(item, f"keys[{i}]", environ)
        assert key is not None
        keys.append(key)
    return tuple(keys)


_TOP_FIELDS = {
    "providers",
    "routes",
    "scenarios",
    "default",
    "keys",
    "max_body_bytes",
    "ping_interval",
}


def parse_gateway_config(
    data: dict[str, Any] | None, environ: dict[str, str] | None = None
) -> GatewayConfig:
    env = dict(os.environ) if environ is None else environ
    data = _mapping(data, "") if data is not None else {}
    if not data:
        return default_gateway_config()
    _check_keys(data, _TOP_FIELDS, "")
    raw_providers = _mapping(data.get("providers"), "providers")
    if raw_providers:
        providers = {
            str(name): _parse_provider(str(name), item, env) for name, item in raw_providers.items()
        }
    else:
        providers = dict(default_gateway_config().providers)
    routes = _parse_routes(data.get("routes"), providers)
    default = (
        _parse_target(data["default"], "default", providers)
        if data.get("default") is not None
        else None
    )
    if default is None and not routes and len(providers) == 1:
        # One provider and no routes: everything goes there.
        default = Target(next(iter(providers)))
    return GatewayConfig(
        providers=providers,
        routes=routes,
        scenarios=_parse_scenarios(data.get("scenarios"), providers),
        default=default,
        keys=_parse_keys(data.get("keys"), env),
        max_body_bytes=_integer(data.get("max_body_bytes"), "max_body_bytes")
        or DEFAULT_MAX_BODY_BYTES,
        ping_interval=_number(data.get("ping_interval"), "ping_interval", 10.0, minimum=0.01),
    )
