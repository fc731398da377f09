"""Upstream providers, one class per wire format."""

from __future__ import annotations

from tether.gateway.config import Provider
from tether.gateway.providers.anthropic import AnthropicProvider
from tether.gateway.providers.base import BaseProvider, Call
from tether.gateway.providers.openai import OpenAIProvider
from tether.gateway.providers.openai_responses import OpenAIResponsesProvider

__all__ = ["AnthropicProvider", "BaseProvider", "Call", "OpenAIProvider", "make_provider"]


# The class serving each provider `type` of gateway/config.py's PROVIDER_KINDS.
PROVIDER_CLASSES: dict[str, type[BaseProvider]] = {
    "anthropic": AnthropicProvider,
    "openai": OpenAIProvider,
    "openai-responses": OpenAIResponsesProvider,
}


def make_provider(provider: Provider) -> BaseProvider:
    return PROVIDER_CLASSES[provider.type](provider)
