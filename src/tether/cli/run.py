"""Commands for this area are not built yet."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    pass
