"""The ACP adapters `scripts/test` installs into `.cache/npm` (pinned there)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

BIN = Path(__file__).parents[2] / ".cache" / "npm" / "node_modules" / ".bin"


def path_with(command: str) -> str:
    """PATH with the adapters first; the test skips when `command` is not installed."""
    if not (BIN / command).exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{command} is missing: ./scripts/test installs it from npm")
        pytest.skip(f"{command} is not installed (./scripts/test installs it)")
    return f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"
