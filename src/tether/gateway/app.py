"""Placeholder until the gateway lands: serves no routes."""

from __future__ import annotations

from dataclasses import dataclass, field

from starlette.routing import BaseRoute

from tether.config import Settings


@dataclass
class Gateway:
    routes: list[BaseRoute] = field(default_factory=list)

    async def startup(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass


def build_gateway(settings: Settings) -> Gateway:
    return Gateway()
