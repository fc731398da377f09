"""The gateway's configuration: the YAML `gateway:` section, checked by pydantic models.

`settings.gateway` arrives as a plain dict; `parse_gateway_config` turns it into a
`GatewayConfig` or raises `ConfigError` with a one-line message naming the field. With no
`gateway` section at all the gateway is a plain pass-through to api.anthropic.com that
forwards the client's own key, so `ANTHROPIC_BASE_URL=http://127.0.0.1:8787 claude` works
out of the box.
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from tether.config import ConfigError, resolve_secret
from tether.redact import redact_url

DEFAULT_ANTHROPIC_URL = "https://api.anthropic.com"
DEFAULT_GEMINI_URL = "https://generativelanguage.googleapis.com"
DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True)
class ProviderKind:
    """What differs between provider types before a request is made."""

    # None: the config must give base_url.
    default_base_url: str | None


# Every provider `type`, one line each; providers/__init__.py maps each to its class.
PROVIDER_KINDS: dict[str, ProviderKind] = {
    "anthropic": ProviderKind(default_base_url=DEFAULT_ANTHROPIC_URL),
    "openai": ProviderKind(default_base_url=None),
    "openai-responses": ProviderKind(default_base_url=None),
    "gemini": ProviderKind(default_base_url=DEFAULT_GEMINI_URL),
}

# The scenarios, in the order they are evaluated whatever order the YAML used (routing.py).
SCENARIOS: tuple[str, ...] = ("long_context", "background", "web_search", "thinking")
# Defaults of the fields a scenario's rule reads.
SCENARIO_DEFAULTS: dict[str, dict[str, Any]] = {
    "long_context": {"threshold": 60_000},
    "background": {"match": "*haiku*"},
}


# --- field types, each with the one-line message it fails with --------------------------


def _number(minimum: float) -> PlainValidator:
    def check(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
            raise PydanticCustomError(
                "number", "must be a number >= {minimum}", {"minimum": f"{minimum:g}"}
            )
        return float(value)

    return PlainValidator(check)


def _whole(minimum: int) -> PlainValidator:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise PydanticCustomError(
                "whole_number", "must be a whole number >= {minimum}", {"minimum": minimum}
            )
        return value

    return PlainValidator(check)


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise PydanticCustomError("text", "must be a non-empty string")
    return value


def _secret(value: Any, info: ValidationInfo) -> str:
    """A value that may say `env:NAME`; the variable must then be set."""
    raw = _text(value)
    resolved = resolve_secret(raw, _environ(info))
    if resolved is None:
        raise PydanticCustomError(
            "secret", "environment variable {name} is not set", {"name": raw[4:]}
        )
    return resolved


def _environ(info: ValidationInfo) -> dict[str, str] | None:
    return (info.context or {}).get("environ")


def _scenario_name(value: Any) -> str:
    if value not in SCENARIOS:
        raise PydanticCustomError(
            "scenario", "unknown scenario (known: {known})", {"known": ", ".join(SCENARIOS)}
        )
    return value


def _hook(value: Any, info: ValidationInfo) -> Any:
    # Imported when used: the hooks package builds on this module.
    from tether.gateway.hooks.config import parse_hook

    return parse_hook(value, info)


Text = Annotated[str, PlainValidator(_text)]
Secret = Annotated[str, PlainValidator(_secret)]
Seconds = Annotated[float, _number(0.001)]
Count = Annotated[int, _whole(1)]


# --- sections ---------------------------------------------------------------------------


class _Section(BaseModel):
    """A mapping in the YAML: unknown keys are refused, naming the key and the known ones."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    # Fields filled in by the parser, never written in the YAML.
    _internal: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="before")
    @classmethod
    def _known_fields(cls, data: Any) -> Any:
        data = cls._expand(data)
        if isinstance(data, dict):
            # An empty YAML value (`routes:`) means the default.
            data = {k: v for k, v in data.items() if v is not None}
            known = sorted(set(cls.model_fields) - cls._internal)
            unknown = sorted(str(k) for k in data if k not in known)
            if unknown:
                raise PydanticCustomError(
                    "unknown_field",
                    "unknown field {field} (known: {known})",
                    {"field": repr(unknown[0]), "known": ", ".join(known)},
                )
        return data

    @classmethod
    def _expand(cls, data: Any) -> Any:
        return data


class Provider(_Section):
    _internal = frozenset({"name"})

    name: str = ""
    type: str
    base_url: str = Field(None, validate_default=True)  # type: ignore[assignment]
    api_key: Secret | None = None
    # Forward the key the client sent (x-api-key / Authorization) instead of our own.
    pass_client_key: bool = Field(False, strict=True)
    # Seconds: connect, and the longest silence while waiting for the upstream.
    connect_timeout: Seconds = 10.0
    timeout: Seconds = 600.0
    max_tokens: Count | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    # How thinking maps onto an OpenAI-compatible server's `reasoning_effort`: "auto" for
    # the model families known to take it, "effort" always, "none" never.
    reasoning: Literal["auto", "effort", "none"] = "auto"
    # OpenAI-compatible quirks, handed to the translator (see docs/gateway.md).
    echo_reasoning: bool = Field(False, strict=True)
    tool_id_style: Literal["default", "mistral"] = "default"
    mid_system: Literal["user", "merge"] = "user"
    max_tokens_field: Literal["max_tokens", "max_completion_tokens"] = "max_tokens"
    retries: Annotated[int, _whole(0)] = 2
    retry_backoff: Annotated[float, _number(0)] = 0.5
    # Model names to list on GET /v1/models.
    models: tuple[Text, ...] = ()
    # openai: the server also has the Responses API (Responses clients pass through).
    responses: bool = Field(False, strict=True)

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        if value not in PROVIDER_KINDS:
            raise PydanticCustomError(
                "provider_type",
                "must be one of {known}, not {value}",
                {"known": ", ".join(PROVIDER_KINDS), "value": repr(value)},
            )
        return value

    @field_validator("base_url", mode="before")
    @classmethod
    def _url(cls, value: Any, info: ValidationInfo) -> Any:
        kind = PROVIDER_KINDS.get(info.data.get("type", ""))
        if value is None:
            if kind is None:
                return ""  # the type's own error says what is wrong
            if kind.default_base_url is None:
                raise PydanticCustomError("missing", "is required")
            value = kind.default_base_url
        _text(value)
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise PydanticCustomError(
                "url",
                "must be an http(s) URL, not {value}",
                {"value": repr(redact_url(value) if isinstance(value, str) else value)},
            )
        return value.rstrip("/")

    @field_validator("headers", mode="after")
    @classmethod
    def _header_secrets(cls, value: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        return {k: resolve_secret(v, _environ(info)) or "" for k, v in value.items()}

    def describe_auth(self) -> str:
        if self.pass_client_key:
            return "client's key"
        return "api key" if self.api_key else "no auth"


class Target(_Section):
    """Where a request goes: a provider and the upstream model (None keeps the client's).

    Written `{provider: NAME, model: MODEL}` or as the short string `NAME[,MODEL]`."""

    provider: Text
    model: Text | None = None

    @classmethod
    def _expand(cls, data: Any) -> Any:
        if isinstance(data, str):
            name, _, model = data.partition(",")
            return {"provider": name.strip(), "model": model.strip() or None}
        return data

    @functools.cached_property
    def target(self) -> Target:
        # Cached: routing asks for it on every request, and a pydantic model is not free.
        return Target(provider=self.provider, model=self.model)


class Route(Target):
    match: Text

    @classmethod
    def _expand(cls, data: Any) -> Any:
        return data


class Scenario(Target):
    """A rule that picks a target from what the request asks for, before the routes."""

    _internal = frozenset({"name"})

    name: str = ""
    # background: which model names count as background (haiku-class) requests.
    match: Text | None = None
    # long_context: the estimated input tokens over which the rule applies.
    threshold: Count | None = None


# --- flows: what the gateway captures of each exchange -------------------------------------


def _capture_mode(value: Any) -> str:
    """full: headers and bodies; metadata: routing, status, timings, tokens, cost, no
    bodies; off: nothing."""
    # YAML reads a bare `on`/`off` as true/false.
    if value is True or value == "on":
        return "full"
    if value is False:
        return "off"
    if value not in ("full", "metadata", "off"):
        raise PydanticCustomError("capture", "must be one of on, full, metadata, off")
    return value


def _pattern(value: Any) -> str:
    text = _text(value)
    try:
        re.compile(text)
    except re.error as exc:
        raise PydanticCustomError(
            "pattern", "is not a regular expression: {error}", {"error": str(exc)}
        ) from None
    return text


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_SIZES = {"b": 1, "kb": 1024, "mb": 1024**2, "gb": 1024**3}


def _amount(units: dict[str, int], what: str) -> PlainValidator:
    """A positive number, or one with a unit (`7d`, `500MB`)."""

    def check(value: Any) -> float:
        if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
            return float(value)
        match = re.fullmatch(r"\s*([\d.]+)\s*([a-zA-Z]+)\s*", str(value))
        if match and match[2].lower() in units:
            try:
                amount = float(match[1]) * units[match[2].lower()]
            except ValueError:
                amount = 0
            if amount > 0:
                return amount
        raise PydanticCustomError(
            "amount",
            "must be a positive {what} such as {example}",
            {"what": what, "example": " or ".join(repr(f"1{u}") for u in list(units)[-2:])},
        )

    return PlainValidator(check)


Mode = Annotated[str, PlainValidator(_capture_mode)]


class Retention(_Section):
    # Flows older than this go (seconds, or `7d`, `12h`).
    max_age: Annotated[float, _amount(_UNITS, "duration")] = 7 * 86400.0
    # The flows table is kept under this many bytes of stored bodies (`1GB`, `200MB`).
    max_bytes: Annotated[float, _amount(_SIZES, "size")] = float(1024**3)
    # How often retention runs.
    every: Annotated[float, _amount(_UNITS, "duration")] = 300.0


class Price(_Section):
    """US dollars per million tokens."""

    input: Annotated[float, _number(0)]
    output: Annotated[float, _number(0)]


class FlowsConfig(_Section):
    capture: Mode = "full"
    # Per provider name, and per client model pattern (glob), a capture mode that wins over
    # `capture` (a model pattern over a provider).
    providers: dict[str, Mode] = Field(default_factory=dict)
    models: dict[str, Mode] = Field(default_factory=dict)
    # Regular expressions whose matches in any stored body are replaced by [REDACTED].
    redact: tuple[Annotated[str, PlainValidator(_pattern)], ...] = ()
    # Flows waiting to be written, and the bytes they hold; past either, new flows are
    # dropped (and counted), so a stalled store never takes the process's memory.
    queue_size: Count = 1000
    queue_bytes: Annotated[float, _amount(_SIZES, "size")] = float(256 * 1024**2)
    retention: Retention = Field(default_factory=Retention)
    # Per upstream model name (glob), the price of its tokens; cost is null for others.
    prices: dict[str, Price] = Field(default_factory=dict)

    def mode_for(self, provider: str, client_model: str) -> str:
        for pattern, mode in self.models.items():
            if fnmatchcase(client_model, pattern):
                return mode
        return self.providers.get(provider, self.capture)

    def price_of(self, model: str) -> Price | None:
        price = self.prices.get(model)
        if price is None:
            price = next((p for k, p in self.prices.items() if fnmatchcase(model, k)), None)
        return price


class GatewayConfig(_Section):
    # Not frozen: the default is filled in once the providers are known.
    model_config = ConfigDict(extra="forbid", frozen=False)

    providers: dict[str, Provider] = Field(default_factory=dict, validate_default=True)
    routes: tuple[Route, ...] = ()
    # By name, in evaluation order.
    scenarios: dict[Annotated[str, PlainValidator(_scenario_name)], Scenario] = Field(
        default_factory=dict
    )
    default: Target | None = None
    keys: tuple[Secret, ...] = ()
    # Web page origins (`https://app.example`) whose calls are served; any other page's
    # call is refused, so a page cannot spend the providers' keys.
    allowed_origins: tuple[Text, ...] = ()
    max_body_bytes: Count = DEFAULT_MAX_BODY_BYTES
    # Seconds of upstream silence after which a streaming client gets a `ping` event.
    ping_interval: Annotated[float, _number(0.01)] = 10.0
    # The request/response hook pipeline (gateway/hooks/), in declared order.
    hooks: tuple[Annotated[Any, PlainValidator(_hook)], ...] = ()
    flows: FlowsConfig = Field(default_factory=FlowsConfig)

    @field_validator("providers", mode="after")
    @classmethod
    def _named(cls, value: dict[str, Provider]) -> dict[str, Provider]:
        if not value:
            value = {"anthropic": Provider(type="anthropic", pass_client_key=True)}
        return {name: p.model_copy(update={"name": name}) for name, p in value.items()}

    @field_validator("scenarios", mode="before")
    @classmethod
    def _drop_empty(cls, value: Any) -> Any:
        # `thinking:` with no value switches that scenario off.
        if isinstance(value, dict):
            return {name: rule for name, rule in value.items() if rule is not None}
        return value

    @field_validator("scenarios", mode="after")
    @classmethod
    def _ordered(cls, value: dict[str, Scenario]) -> dict[str, Scenario]:
        ordered = {}
        for name in SCENARIOS:
            if (rule := value.get(name)) is not None:
                defaults = SCENARIO_DEFAULTS.get(name, {})
                fill = {k: v for k, v in defaults.items() if getattr(rule, k) is None}
                ordered[name] = rule.model_copy(update={"name": name, **fill})
        return ordered

    @field_validator("allowed_origins", mode="after")
    @classmethod
    def _bare_origins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(origin.rstrip("/") for origin in value)

    @field_validator("keys", mode="before")
    @classmethod
    def _one_key(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _targets_exist(self) -> GatewayConfig:
        targets: list[tuple[str, Target]] = [
            (f"routes[{i}]", route) for i, route in enumerate(self.routes)
        ]
        targets += [(f"scenarios.{name}", rule) for name, rule in self.scenarios.items()]
        if self.default is not None:
            targets.append(("default", self.default))
        for where, target in targets:
            if target.provider not in self.providers:
                known = ", ".join(sorted(self.providers)) or "none defined"
                # Not a ValueError: pydantic would file it under the whole section.
                raise ConfigError(
                    f"gateway.{where}.provider: no provider named {target.provider!r} "
                    f"(known: {known})"
                )
        if self.default is None and not self.routes and len(self.providers) == 1:
            # One provider and no routes: everything goes there.
            self.default = Target(provider=next(iter(self.providers)))
        return self

    def scenario(self, name: str) -> Scenario | None:
        return self.scenarios.get(name)


# --- errors -----------------------------------------------------------------------------

_PHRASES = {
    "missing": "is required",
    "string_type": "must be a non-empty string",
    "string_too_short": "must be a non-empty string",
    "bool_type": "must be true or false",
    "list_type": "must be a list",
    "tuple_type": "must be a list",
    "dict_type": "must be a mapping",
}


def _problem(error: Any) -> str:
    kind = error["type"]
    if kind in ("model_type", "dict_type"):
        return f"must be a mapping, not {type(error['input']).__name__}"
    if kind == "literal_error":
        return f"must be one of {error['ctx']['expected']}, not {error['input']!r}"
    return _PHRASES.get(kind, error["msg"])


def _where(loc: tuple[Any, ...]) -> str:
    where = ""
    for part in loc:
        if isinstance(part, int):
            where += f"[{part}]"
        elif part != "[key]":
            where += f".{part}" if where else str(part)
    return where


def parse_gateway_config(
    data: dict[str, Any] | None, environ: dict[str, str] | None = None
) -> GatewayConfig:
    env = dict(os.environ) if environ is None else environ
    try:
        return GatewayConfig.model_validate(data or {}, context={"environ": env})
    except ValidationError as exc:
        error = exc.errors()[0]
        where = _where(error["loc"])
        problem = _problem(error)
        message = f"gateway.{where}: {problem}" if where else f"gateway: {problem}"
        raise ConfigError(message) from None
