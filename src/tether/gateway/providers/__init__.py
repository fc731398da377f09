"""Upstream providers, one class per wire format."""

from __future__ import annotations

from tether.gateway.config import Provider
from tether.gateway.providers.anthropic import AnthropicProvider
from tether.gateway.providers.base import BaseProvider, Call
from tether.gateway.providers.gemini import GeminiProvider
from tether.gateway.providers.openai import OpenAIProvider

__all__ = [
    "AnthropicProvider",
    "BaseProvider",
    "Call",
    "GeminiProvider",
    "OpenAIProvider",
    "make_provider",
]


def make_provider(provider: Provider) -> BaseProvider:
    if provider.type == "anthropic":
        return AnthropicProvider(provider)
    if provider.type == "gemini":
        return GeminiProvider(provider)
    return OpenAIProvider(provider)
