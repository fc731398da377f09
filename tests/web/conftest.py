"""Fixtures for the web UI tests: a real tether server (SQLite), tokens, a test agent that
speaks the relay API, and Chromium driven by Playwright.

Browser tests are skipped when Debian's chromium is missing, except under CI (CI=true),
where they must run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.server import TetherServer
from tests.support.tokens import mint_token
from tests.web.agent import TestAgent

CHROMIUM = Path("/usr/bin/chromium")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if CHROMIUM.exists() or IN_CI:
        return
    skip = pytest.mark.skip(
        reason=f"{CHROMIUM} is missing; install it with `apt-get install -y chromium` "
        "(under CI=true these tests fail instead of skipping)"
    )
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


# Per module, not per session: while Playwright's sync API is open the main thread has a
# running event loop, so asyncio.run() and async tests that a worker runs after the
# browser tests would fail. Closing it with the module gives the thread back.
@pytest.fixture(scope="module")
def browser() -> Iterator:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing and CI requires the browser tests to run")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        yield chromium
        chromium.close()


def make_token(server: TetherServer, scope: str, name: str, *, link: bool = False) -> str:
    """A token as `tether token create [--link]` prints it (the command has its own tests)."""
    token = mint_token(server, scope, name)
    return f"{server.url}/?token={token}" if link else token


@dataclass
class WebRelay:
    server: TetherServer
    agent: TestAgent
    client_link: str  # the sign-in link for a person's client token

    @property
    def url(self) -> str:
        return self.server.url


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[WebRelay]:
    server = TetherServer(data_dir=tmp_path / "relay").start()
    try:
        link = make_token(server, "client", "phone", link=True)
        agent = TestAgent(server.url, make_token(server, "agent", "test-agent"))
        yield WebRelay(server, agent, link)
        agent.close()
    finally:
        server.stop()


@pytest.fixture
def page(browser, relay: WebRelay) -> Iterator:
    """A signed-in page on a desktop-sized viewport. Page errors fail the test."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: print("console:", m.type, m.text))
    page.set_default_timeout(20000)
    page.goto(relay.client_link)
    page.wait_for_selector(".list-view")
    yield page
    context.close()
    assert not errors, f"errors in the page: {errors}"
