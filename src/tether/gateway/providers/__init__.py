"""Upstream providers, one class per wire format."""

from __future__ import annotations

from tether.gateway.config import Provider
from tether.gateway.providers.anthropic import AnthropicProvider
from tether.gateway.providers.base import BaseProvider, Call
from tether.gateway.providers.openai import OpenAIProvider
from tether.gateway.providers.openai_responses import OpenAIResponsesProvider

__all__ = ["AnthropicProvider", "BaseProvider", "Call", "OpenAIProvider", "make_provider"]


def make_provider(provider: Provider) -> BaseProvider:
    if provider.type == "anthropic":
        return AnthropicProvider(provider)
    if provider.type == "openai-responses":
        return OpenAIResponsesProvider(provider)
    return OpenAIProvider(provider)
