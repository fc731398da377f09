"""The `gateway.hooks:` list: one entry per hook, a built-in (`type:`) or a plugin
(`plugin:`), each checked by its own pydantic model so an unknown key is refused with the
keys that hook knows."""

from __future__ import annotations

import re
from fnmatch import fnmatchcase
from typing import Annotated, Any, Literal

from pydantic import Field, PlainValidator, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from tether.config import resolve_secret
from tether.gateway.config import Text, _environ, _Section, _text
from tether.gateway.hooks.api import checked_header

OnError = Literal["block", "skip"]


class Only(_Section):
    """Which calls a hook is for: their surface, their model (globs). Empty: all."""

    surfaces: tuple[Literal["anthropic", "openai", "responses", "gemini"], ...] = ()
    models: tuple[Text, ...] = ()

    def matches(self, surface: str, model: str) -> bool:
        return (not self.surfaces or surface in self.surfaces) and (
            not self.models or any(fnmatchcase(model, pattern) for pattern in self.models)
        )


class HookSpec(_Section):
    """What every hook entry may say, whatever it does."""

    # The name others order against; by default the type (or the plugin's name).
    name: Text | None = None
    # Names of hooks this one runs after / before (see hooks/order.py).
    after: tuple[Text, ...] = ()
    before: tuple[Text, ...] = ()
    # A hook that raises: refuse the call (block, fail closed) or log and go on (skip).
    on_error: OnError = "block"
    # Only these calls (the others pass the hook by, unrecorded).
    only: Only | None = None

    @field_validator("after", "before", mode="before")
    @classmethod
    def _one_name(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class HeadersSpec(HookSpec):
    """Set or remove headers on what is sent upstream."""

    type: Literal["headers"]
    set: dict[str, str] = Field(default_factory=dict)  # values may be env:VAR
    remove: tuple[Text, ...] = ()

    @field_validator("set", mode="after")
    @classmethod
    def _secrets(cls, value: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        resolved = {k: resolve_secret(v, _environ(info)) or "" for k, v in value.items()}
        return {_header(k, v): v for k, v in resolved.items()}

    @field_validator("remove", mode="after")
    @classmethod
    def _lower(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_header(name) for name in value)


def _header(name: str, value: str | None = None) -> str:
    try:
        return checked_header(name, value)
    except ValueError as exc:
        raise PydanticCustomError("header", "{problem}", {"problem": str(exc)}) from None


class RewriteModelSpec(HookSpec):
    """Model name patterns (globs, first match wins) → the model the call asks for."""

    type: Literal["rewrite_model"]
    models: dict[Text, Text]


class SystemPromptSpec(HookSpec):
    """Text appended to the system prompt, in each surface's own place for it."""

    type: Literal["system_prompt"]
    append: Text


def _pattern(value: Any) -> re.Pattern[str]:
    _text(value)
    try:
        return re.compile(value)
    except re.error as exc:
        raise PydanticCustomError(
            "pattern",
            "is not a regular expression ({error}): {value}",
            {"error": str(exc), "value": repr(value)},
        ) from None


class RedactSpec(HookSpec):
    """Regular expressions replaced in every text of the request before it goes on."""

    type: Literal["redact"]
    patterns: tuple[Annotated[re.Pattern[str], PlainValidator(_pattern)], ...] = Field(min_length=1)
    replacement: str = "[redacted]"


class BlockSpec(HookSpec):
    """Refuse calls for these models (globs) or that offer these tools (globs)."""

    type: Literal["block"]
    models: tuple[Text, ...] = ()
    tools: tuple[Text, ...] = ()
    # 403: the request is well-formed but this gateway does not allow it.
    status: Literal[400, 403] = 403
    message: Text | None = None

    @model_validator(mode="after")
    def _something(self) -> BlockSpec:
        if not self.models and not self.tools:
            raise PydanticCustomError("block", "needs models or tools (or both) to block")
        return self


class PluginSpec(HookSpec):
    """A hook from an installed package (entry point group `tether.hooks`)."""

    plugin: Text
    # Keyword arguments for the plugin's factory.
    options: dict[str, Any] = Field(default_factory=dict)


BUILTIN_SPECS: dict[str, type[HookSpec]] = {
    "headers": HeadersSpec,
    "rewrite_model": RewriteModelSpec,
    "system_prompt": SystemPromptSpec,
    "redact": RedactSpec,
    "block": BlockSpec,
}


def parse_hook(value: Any, info: ValidationInfo) -> HookSpec:
    """One entry of `gateway.hooks`, as the model its `type` (or `plugin`) names."""
    if isinstance(value, HookSpec):
        return value
    if not isinstance(value, dict):
        raise PydanticCustomError("mapping", "must be a mapping (a hook: type or plugin)")
    if "plugin" in value:
        if "type" in value:
            raise PydanticCustomError("hook", "say either type or plugin, not both")
        spec: type[HookSpec] = PluginSpec
    else:
        kind = value.get("type")
        if kind not in BUILTIN_SPECS:
            known = ", ".join(BUILTIN_SPECS)
            if kind is None:
                raise PydanticCustomError(
                    "hook", "needs type ({known}) or plugin: NAME", {"known": known}
                )
            raise PydanticCustomError(
                "hook",
                "type must be one of {known}, not {value}",
                {"known": known, "value": repr(kind)},
            )
        spec = BUILTIN_SPECS[kind]
    return spec.model_validate(value, context=info.context)


def hook_name(spec: HookSpec) -> str:
    """The name others order against: the one given, else the plugin's, else the type."""
    if spec.name:
        return spec.name
    return spec.plugin if isinstance(spec, PluginSpec) else spec.type  # type: ignore[attr-defined]
