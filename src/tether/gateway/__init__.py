"""The model-side half: Anthropic/OpenAI-compatible endpoints routed to providers."""

from __future__ import annotations

from tether.gateway.app import Gateway, build_gateway

__all__ = ["Gateway", "build_gateway"]
