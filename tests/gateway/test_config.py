"""Parsing the `gateway:` config and resolving routes (pure functions, no server)."""

from __future__ import annotations

import pytest

from tether.config import ConfigError
from tether.gateway.config import DEFAULT_ANTHROPIC_URL, parse_gateway_config
from tether.gateway.routing import Features, NoRoute, anthropic_features, resolve
from tether.gateway.token_estimate import estimate_tokens

ISSUE_EXAMPLE = {
    "providers": {
        "local": {
            "type": "openai",
            "base_url": "http://127.0.0.1:11434/v1",
            "api_key": "env:LOCAL_KEY",
        },
        "anthropic": {
            "type": "anthropic",
            "base_url": "https://api.anthropic.com",
            "api_key": "env:ANTHROPIC_API_KEY",
        },
    },
    "routes": [
        {"match": "claude-haiku-*", "provider": "local", "model": "qwen3-coder"},
        {"match": "*", "provider": "anthropic"},
    ],
}
ENV = {"LOCAL_KEY": "lk", "ANTHROPIC_API_KEY": "ak"}


def test_issue_example_parses_and_routes():
    config = parse_gateway_config(ISSUE_EXAMPLE, ENV)
    assert config.providers["local"].api_key == "lk"
    assert config.providers["anthropic"].api_key == "ak"
    assert not config.providers["anthropic"].pass_client_key
    haiku = resolve(config, Features("claude-haiku-4-5"))
    assert (haiku.provider.name, haiku.model) == ("local", "qwen3-coder")
    assert "claude-haiku-*" in haiku.reason
    opus = resolve(config, Features("claude-opus-4-1"))
    assert (opus.provider.name, opus.model) == ("anthropic", "claude-opus-4-1")


def test_no_section_is_anthropic_with_the_clients_key():
    config = parse_gateway_config({}, {})
    route = resolve(config, Features("claude-sonnet-4"))
    assert route.provider.base_url == DEFAULT_ANTHROPIC_URL
    assert route.provider.pass_client_key
    assert route.model == "claude-sonnet-4"


def test_one_provider_without_routes_takes_everything():
    config = parse_gateway_config(
        {"providers": {"only": {"type": "openai", "base_url": "http://h/v1"}}}, {}
    )
    assert resolve(config, Features("anything")).provider.name == "only"


def test_scenarios_come_before_routes_in_a_fixed_order():
    config = parse_gateway_config(
        {
            **ISSUE_EXAMPLE,
            "scenarios": {
                "thinking": "local,deep-thinker",
                "web_search": {"provider": "anthropic", "model": "claude-sonnet-4"},
                "background": {"provider": "local", "model": "small", "match": "*haiku*"},
                "long_context": {"provider": "local", "model": "long", "threshold": 1000},
            },
        },
        ENV,
    )
    assert list(config.scenarios) == [
        "long_context",
        "background",
        "web_search",
        "thinking",
    ]

    def where(**kw) -> tuple[str, str]:
        r = resolve(config, Features(**{"model": "claude-opus-4", **kw}))
        return r.provider.name, r.model

    assert where() == ("anthropic", "claude-opus-4")
    assert where(thinking=True) == ("local", "deep-thinker")
    assert where(thinking=True, web_search=True) == ("anthropic", "claude-sonnet-4")
    assert where(model="claude-3-5-haiku", thinking=True) == ("local", "small")
    assert where(tokens=5000, model="claude-3-5-haiku") == ("local", "long")
    assert where(tokens=999) == ("anthropic", "claude-opus-4")


def test_token_estimate_only_computed_when_a_rule_needs_it():
    config = parse_gateway_config(ISSUE_EXAMPLE, ENV)

    def boom() -> int:
        raise AssertionError("counted tokens without a long_context rule")

    assert resolve(config, Features("claude-x", tokens=boom)).provider.name == "anthropic"


def test_explicit_provider_comma_model():
    config = parse_gateway_config(ISSUE_EXAMPLE, ENV)
    r = resolve(config, Features("local,llama3"))
    assert (r.provider.name, r.model) == ("local", "llama3")


def test_no_route_and_no_default_is_an_error():
    config = parse_gateway_config(
        {**ISSUE_EXAMPLE, "routes": [{"match": "gpt-*", "provider": "local"}]}, ENV
    )
    with pytest.raises(NoRoute, match="claude-x"):
        resolve(config, Features("claude-x"))


def test_request_features():
    body = {
        "model": "m",
        "thinking": {"type": "adaptive"},
        "tools": [{"type": "web_search_20250305", "name": "web_search"}],
        "messages": [{"role": "user", "content": "x" * 350}],
    }
    features = anthropic_features(body, lambda: estimate_tokens(body))
    assert features.thinking and features.web_search
    assert 100 <= features.token_count() <= 120
    plain = anthropic_features({"model": "m", "thinking": {"type": "disabled"}}, lambda: 0)
    assert not plain.thinking and not plain.web_search


def test_token_estimate_counts_everything_a_model_reads():
    small = estimate_tokens({"messages": [{"role": "user", "content": "hello"}]})
    image = estimate_tokens(
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "image", "source": {"type": "base64", "data": "A" * 100_000}}
                    ],
                }
            ]
        }
    )
    cjk = estimate_tokens({"messages": [{"role": "user", "content": "漢字" * 100}]})
    assert small < 10
    assert 1600 <= image < 1700  # a fixed cost, not the base64 length
    assert cjk >= 200


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"providers": {"x": {"type": "grpc"}}}, "gateway.providers.x.type: must be one of"),
        ({"providers": {"x": {"type": "openai"}}}, "gateway.providers.x.base_url: is required"),
        (
            {"providers": {"x": {"type": "openai", "base_url": "ftp://h"}}},
            "gateway.providers.x.base_url: must be an http(s) URL",
        ),
        (
            {"providers": {"x": {"type": "anthropic", "api_key": "env:NOPE_UNSET"}}},
            "gateway.providers.x.api_key: environment variable NOPE_UNSET is not set",
        ),
        (
            {"providers": {"x": {"type": "anthropic", "timeout": -1}}},
            "gateway.providers.x.timeout: must be a number",
        ),
        (
            {"providers": {"x": {"type": "anthropic", "max_tokens": "lots"}}},
            "gateway.providers.x.max_tokens: must be a whole number",
        ),
        (
            {"providers": {"x": {"type": "anthropic", "colour": "red"}}},
            "gateway.providers.x: unknown field 'colour'",
        ),
        (
            {"providers": {"x": {"type": "openai", "base_url": "http://h", "reasoning": "max"}}},
            "gateway.providers.x.reasoning: must be one of",
        ),
        (
            {"routes": [{"match": "*", "provider": "nobody"}]},
            "gateway.routes[0].provider: no provider named 'nobody'",
        ),
        ({"routes": [{"provider": "anthropic"}]}, "gateway.routes[0].match: is required"),
        ({"routes": {"match": "*"}}, "gateway.routes: must be a list"),
        ({"scenarios": {"sleepy": "anthropic"}}, "gateway.scenarios.sleepy: unknown scenario"),
        (
            {"scenarios": {"long_context": {"provider": "anthropic", "threshold": 0}}},
            "gateway.scenarios.long_context.threshold: must be a whole number >= 1",
        ),
        ({"keys": ["env:NOPE_UNSET"]}, "gateway.keys[0]: environment variable NOPE_UNSET"),
        ({"rouets": []}, "gateway: unknown field 'rouets'"),
        ({"default": "nobody,m"}, "gateway.default.provider: no provider named 'nobody'"),
    ],
)
def test_config_errors_name_the_field(data, message):
    with pytest.raises(ConfigError) as info:
        parse_gateway_config(data, {})
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_provider_keys_beyond_loopback_need_gateway_keys():
    from tether.config import Settings
    from tether.gateway.app import build_gateway

    section = {
        "providers": {"p": {"type": "openai", "base_url": "http://h/v1", "api_key": "secret"}}
    }
    with pytest.raises(ConfigError, match=r"set gateway\.keys"):
        build_gateway(Settings(host="0.0.0.0", gateway=section))
    # Loopback, gateway keys, or only the client's own key passed through: fine.
    assert build_gateway(Settings(host="127.0.0.1", gateway=section))
    assert build_gateway(Settings(host="0.0.0.0", gateway={**section, "keys": ["k"]}))
    assert build_gateway(Settings(host="0.0.0.0"))


def test_every_provider_type_has_a_provider_class():
    from tether.gateway.config import PROVIDER_KINDS
    from tether.gateway.providers import PROVIDER_CLASSES

    assert set(PROVIDER_CLASSES) == set(PROVIDER_KINDS)


def test_gemini_provider_defaults_to_googles_api():
    config = parse_gateway_config(
        {"providers": {"g": {"type": "gemini", "api_key": "env:GK"}}}, {"GK": "secret"}
    )
    provider = config.providers["g"]
    assert provider.base_url == "https://generativelanguage.googleapis.com"
    assert provider.api_key == "secret"
    with pytest.raises(ConfigError, match=r"providers\.g\.type: must be one of .*gemini"):
        parse_gateway_config({"providers": {"g": {"type": "vertex"}}}, {})
