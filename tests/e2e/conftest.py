"""Fixtures for the whole-system tests. These start claude for real, so they run on
SQLite only (the relay's own tests cover PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import RunnerProcess
from tests.support.model_server import ModelServer
from tests.support.server import TetherServer
from tether.client import RelayClient


@pytest.fixture
def relay_server(tmp_path: Path) -> Iterator[TetherServer]:
    server = TetherServer(data_dir=tmp_path / "relay").start()
    yield server
    server.stop()


@pytest.fixture
def model() -> Iterator[ModelServer]:
    with ModelServer() as server:
        yield server


@pytest.fixture
async def relay(relay_server: TetherServer) -> AsyncIterator[RelayClient]:
    async with RelayClient(url=relay_server.url, token=relay_server.token) as client:
        yield client


@pytest.fixture
def runners(
    tmp_path: Path, relay_server: TetherServer, model: ModelServer
) -> Iterator[list[RunnerProcess]]:
    made: list[RunnerProcess] = []
    yield made
    for runner in made:
        runner.stop()


@pytest.fixture
def start_runner(
    tmp_path: Path, relay_server: TetherServer, model: ModelServer, runners: list[RunnerProcess]
):
    """Start `tether run ARGS…` sharing one HOME (so claude can resume its transcripts)."""

    def start(*args: str, env: dict[str, str] | None = None) -> RunnerProcess:
        runner = RunnerProcess(relay_server, model, tmp_path / "agent", name=f"run{len(runners)}")
        runners.append(runner)
        return runner.start(*args, env=env)

    return start
