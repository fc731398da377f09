"""Config and routing for the Responses API: the `openai-responses` provider type, the
`responses` flag, and what routing reads from a Responses request."""

from __future__ import annotations

import pytest

from tether.config import ConfigError
from tether.gateway.config import parse_gateway_config
from tether.gateway.routing import resolve, responses_features


def test_openai_responses_provider_needs_a_base_url() -> None:
    with pytest.raises(ConfigError, match=r"providers\.rs\.base_url: is required"):
        parse_gateway_config({"providers": {"rs": {"type": "openai-responses"}}}, {})
    config = parse_gateway_config(
        {"providers": {"rs": {"type": "openai-responses", "base_url": "https://x/v1"}}}, {}
    )
    assert config.providers["rs"].type == "openai-responses"


def test_responses_flag_is_a_boolean() -> None:
    with pytest.raises(ConfigError, match=r"providers\.oa\.responses: must be true or false"):
        parse_gateway_config(
            {"providers": {"oa": {"type": "openai", "base_url": "http://x", "responses": "yes"}}},
            {},
        )
    config = parse_gateway_config(
        {"providers": {"oa": {"type": "openai", "base_url": "http://x", "responses": True}}}, {}
    )
    assert config.providers["oa"].responses is True


def test_routing_reads_a_responses_request() -> None:
    config = parse_gateway_config(
        {
            "providers": {
                "a": {"type": "anthropic"},
                "think": {"type": "anthropic"},
                "search": {"type": "anthropic"},
                "long": {"type": "anthropic"},
            },
            "routes": [{"match": "*", "provider": "a"}],
            "scenarios": {
                "thinking": "think",
                "web_search": "search",
                "long_context": {"provider": "long", "threshold": 1000},
            },
        },
        {},
    )

    def route(body: dict) -> str:
        features = responses_features({"model": "m", **body}, lambda: 0)
        return resolve(config, features).provider.name

    # Codex offers web_search on every turn: only forcing it counts.
    assert route({"input": "hi", "tools": [{"type": "web_search"}]}) == "a"
    assert route({"input": "hi", "tool_choice": {"type": "web_search"}}) == "search"
    assert route({"input": "hi", "reasoning": {"effort": "none"}}) == "a"
    assert route({"input": "hi", "reasoning": {"effort": "high"}}) == "think"
    # The estimate reads `input` (an estimate made for Messages bodies would not).
    assert route({"input": [{"role": "user", "content": "word " * 2000}]}) == "long"
