"""A relay that requires end-to-end encryption, for the tests that run one."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.server import TetherServer


@contextmanager
def sealed_relay(data_dir: Path) -> Iterator[TetherServer]:
    server = TetherServer(data_dir=data_dir, extra_env={"TETHER_ENCRYPTION": "required"}).start()
    try:
        yield server
    finally:
        server.stop()
