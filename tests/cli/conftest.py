from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.support import cli_env
from tests.support.server import TetherServer
from tether.client import SyncRelayClient


@pytest.fixture
def env(server: TetherServer, tmp_path: Path) -> dict[str, str]:
    (tmp_path / "cli").mkdir()
    return cli_env(server.url, server.token, tmp_path / "cli")


@pytest.fixture
def api(server: TetherServer) -> Iterator[SyncRelayClient]:
    with SyncRelayClient(server.url, server.token) as client:
        yield client
