"""Route resolution: a model name and what the request asks for → provider, model, reason.

Pure: no I/O. Order, first hit wins:
1. an explicit `provider,model` model name (e.g. `local,qwen3-coder`);
2. scenario rules in a fixed order — long_context (estimated input tokens over the
   threshold), background (haiku-class model names), web_search (a web-search tool is
   offered; it outranks thinking because a thinking model without search cannot answer),
   thinking (the request enables extended thinking);
3. the routes, in the order written, glob patterns on the client's model name;
4. the default.
The token estimate is only computed when a long_context rule exists (it costs a walk over
the body), hence the callable.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from tether.gateway.config import GatewayConfig, Provider, Target
from tether.gateway.token_estimate import estimate_tokens


class NoRoute(Exception):
    """No route matches the model; the message says so in one line."""


@dataclass(frozen=True)
class Features:
    """What routing looks at in a request."""

    model: str
    thinking: bool = False
    web_search: bool = False
    # Estimated input tokens, computed only when a rule needs it.
    tokens: Callable[[], int] | int | None = None

    def token_count(self) -> int:
        if callable(self.tokens):
            return self.tokens()
        return self.tokens or 0


@dataclass(frozen=True)
class Resolved:
    provider: Provider
    model: str
    reason: str


def _resolved(config: GatewayConfig, target: Target, client_model: str, reason: str) -> Resolved:
    return Resolved(config.providers[target.provider], target.model or client_model, reason)


def resolve(config: GatewayConfig, features: Features) -> Resolved:
    model = features.model
    name, sep, explicit = model.partition(",")
    if sep and name in config.providers and explicit:
        return Resolved(config.providers[name], explicit, "explicit provider,model")
    for scenario in config.scenarios.values():
        if scenario.name == "long_context":
            count = features.token_count()
            assert scenario.threshold is not None
            if count > scenario.threshold:
                return _resolved(
                    config,
                    scenario.target,
                    model,
                    f"long_context (~{count} > {scenario.threshold} tokens)",
                )
        elif scenario.name == "background":
            if fnmatchcase(model, scenario.match or ""):
                return _resolved(config, scenario.target, model, f"background ({scenario.match})")
        elif scenario.name == "web_search":
            if features.web_search:
                return _resolved(config, scenario.target, model, "web_search tool")
        elif scenario.name == "thinking" and features.thinking:
            return _resolved(config, scenario.target, model, "thinking")
    for i, route in enumerate(config.routes):
        if fnmatchcase(model, route.match):
            return _resolved(config, route.target, model, f"routes[{i}] {route.match!r}")
    if config.default is not None:
        return _resolved(config, config.default, model, "default")
    raise NoRoute(f"no gateway route matches model {model!r}")


# --- request features ----------------------------------------------------------------


def anthropic_features(body: dict[str, Any], estimate: Callable[[], int]) -> Features:
    thinking = body.get("thinking")
    enabled = isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive")
    tools = body.get("tools")
    web_search = isinstance(tools, list) and any(
        isinstance(t, dict)
        and (str(t.get("type", "")).startswith("web_search") or t.get("name") == "web_search")
        for t in tools
    )
    return Features(
        model=str(body.get("model") or ""), thinking=enabled, web_search=web_search, tokens=estimate
    )


def openai_features(body: dict[str, Any], estimate: Callable[[], int]) -> Features:
    enabled = bool(body.get("reasoning_effort")) or isinstance(body.get("reasoning"), dict)
    tools = body.get("tools")
    web_search = bool(body.get("web_search_options")) or (
        isinstance(tools, list)
        and any(
            isinstance(t, dict) and str(t.get("type", "")).startswith("web_search") for t in tools
        )
    )
    return Features(
        model=str(body.get("model") or ""), thinking=enabled, web_search=web_search, tokens=estimate
    )


def responses_features(body: dict[str, Any], estimate: Callable[[], int]) -> Features:
    """An OpenAI Responses request: thinking when a reasoning effort other than none is
    asked for. Codex offers its hosted `web_search` tool on every turn, so only a
    tool_choice that forces web search counts as a web-search request. The estimate reads
    instructions, input and tools (`estimate`, made for Messages bodies, would miss input)."""
    reasoning = body.get("reasoning")
    effort = reasoning.get("effort") if isinstance(reasoning, dict) else None
    choice = body.get("tool_choice")
    web_search = isinstance(choice, dict) and str(choice.get("type", "")).startswith("web_search")
    items = body.get("input")
    shaped = {
        "system": body.get("instructions"),
        "messages": items if isinstance(items, list) else [items],
        "tools": body.get("tools"),
    }
    return Features(
        model=str(body.get("model") or ""),
        thinking=bool(effort) and effort != "none",
        web_search=web_search,
        tokens=lambda: estimate_tokens(shaped),
    )
