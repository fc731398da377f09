"""Hooks from installed packages: entry points in the group `tether.hooks`.

A package declares, in its pyproject.toml,

    [project.entry-points."tether.hooks"]
    my-hook = "my_package:MyHook"

and the config uses it with `- plugin: my-hook` (and `options:`, passed to `MyHook` as
keyword arguments). Plain `importlib.metadata`: a plugin is one object, looked up by name
once at startup, so a plugin framework would add nothing."""

from __future__ import annotations

import inspect
from importlib.metadata import entry_points
from typing import Any

from tether.config import ConfigError

GROUP = "tether.hooks"
METHODS = ("on_request", "on_response", "on_event")


def load_plugin(name: str, options: dict[str, Any], where: str) -> Any:
    """The hook the plugin `name` makes from `options`; ConfigError (naming `where`, the
    config entry) when it is not installed, does not load, or refuses the options."""
    found = list(entry_points(group=GROUP, name=name))
    if not found:
        installed = sorted({ep.name for ep in entry_points(group=GROUP)})
        raise ConfigError(
            f"{where}.plugin: no installed plugin named {name!r} (entry point group "
            f"{GROUP}; installed: {', '.join(installed) or 'none'})"
        )
    try:
        factory = found[0].load()
    except Exception as exc:
        raise ConfigError(
            f"{where}.plugin: plugin {name!r} failed to load: {type(exc).__name__}: {exc}"
        ) from None
    refused = f"{where}.options: plugin {name!r} refused its options"
    try:
        inspect.signature(factory).bind(**options)
    except TypeError as exc:
        # Python's own words about the call (a missing or unknown option): names only.
        raise ConfigError(f"{refused}: {exc}") from None
    except ValueError:
        pass  # no signature to read (a builtin): the call below will tell
    try:
        hook = factory(**options)
    except Exception as exc:
        # The plugin's message is left out: it may quote an option's value, and options
        # are where a plugin's secrets go (keys, tokens). The names say where to look.
        raise ConfigError(
            f"{refused} ({', '.join(options) or 'none given'}): {type(exc).__name__} "
            "(its message is not shown: it may quote an option's value)"
        ) from None
    if not any(callable(getattr(hook, method, None)) for method in METHODS):
        raise ConfigError(
            f"{where}.plugin: plugin {name!r} made a hook with none of {', '.join(METHODS)}"
        )
    return hook
