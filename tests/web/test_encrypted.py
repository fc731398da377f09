"""An encrypted session in Chromium: a browser paired with `tether pair`, a real runner
(with a scripted agent) under `encryption: on`, and a relay that requires it. The paired
browser reads the title, transcript and permission card, sends a sealed prompt and a
sealed edited answer; the database holds none of the marker; a message moved into another
session by editing the database is shown as tampered."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.cli.support import cli_env
from tests.encryption.database import everything, move_message
from tests.encryption.scripted_agent import ScriptedAgent
from tests.encryption.support import sealed_relay
from tests.support.server import TetherServer
from tests.web.agent import ThreadedClient
from tests.web.test_pairing import start_pair
from tether.client import RelayClient
from tether.e2e.keys import HostKeys
from tether.runner import encryption
from tether.runner.runner import RunConfig, Runner

pytestmark = [pytest.mark.browser, pytest.mark.slow]
expect.set_options(timeout=20000)
MARKER = "MARKER-b0e2"


@pytest.fixture
def relay_server(tmp_path: Path) -> Iterator[TetherServer]:
    with sealed_relay(tmp_path / "relay") as server:
        yield server


def off_loop(coro: Any) -> Any:
    """Run a coroutine to its end on a thread of its own (Playwright holds this one's loop)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


class RunnerThread:
    """`tether run`'s Runner on a thread of its own (Playwright holds this one's loop)."""

    def __init__(self, server: TetherServer, config: RunConfig) -> None:
        self.code: int | None = None
        self.runner: Runner | None = None

        async def main() -> None:
            async with RelayClient(server.url, server.token) as relay:
                self.runner = Runner(relay, config)
                self.code = await self.runner.run()

        self.thread = threading.Thread(target=lambda: asyncio.run(main()), daemon=True)
        self.thread.start()

    @property
    def session_id(self) -> str | None:
        return self.runner.session_id if self.runner else None


async def another_session(server: TetherServer, host: Path) -> str:
    """An encrypted session the phone can read, with a request the relay re-labelled: its
    input was sealed for a Bash call and is presented as a Write."""
    async with RelayClient(server.url, server.token) as relay:
        session, cipher = await encryption.create_session(
            relay, HostKeys(host), title="another", cwd="/"
        )
        body = {"tool_name": "Bash", "tool_use_id": "x1", "input": {"command": f"ls {MARKER}"}}
        sealed = cipher.seal_permission(body)
        await relay.open_permission(session["id"], **{**sealed, "tool_name": "Write"})
    return session["id"]


def test_a_paired_browser_reads_and_answers_an_encrypted_session(
    browser, relay_server: TetherServer, tmp_path: Path
) -> None:
    host = tmp_path / "host"
    host.mkdir()
    (host / "config.yaml").write_text("{}\n")
    env = cli_env(relay_server.url, relay_server.token, host)
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    live, link = start_pair(env, "--name", "phone")
    try:
        page.goto(link)
        expect(page.locator("#whoami")).to_contain_text("phone (client)")
        assert live.wait() == 0
    finally:
        live.stop()

    config = RunConfig(
        cwd=tmp_path,
        data_dir=host,
        title=f"{MARKER} title",
        encryption="on",
        agent=ScriptedAgent(MARKER),
    )
    runner = RunnerThread(relay_server, config)
    admin = ThreadedClient(relay_server.url, relay_server.token)
    try:
        row = page.locator(".session-row").first
        expect(row).to_contain_text(f"{MARKER} title")
        row.click()
        page.wait_for_selector("html[data-session-ready]")
        sid = runner.session_id
        assert sid

        page.fill("#prompt", f"find {MARKER} please")
        page.locator("#prompt").press("Enter")
        expect(page.locator("#msgs")).to_contain_text(f"find {MARKER} please")
        expect(page.locator("#msgs")).to_contain_text(f"I read {MARKER} in the file.")
        card = page.locator(".perm")
        expect(card).to_contain_text(f"echo {MARKER}")
        card.locator(".perm-edit summary").click()
        card.locator(".edit-input").fill(f'{{"command": "echo {MARKER} from the phone"}}')
        card.get_by_role("button", name="Allow", exact=True).click()
        expect(page.locator("#msgs")).to_contain_text(f"allow: echo {MARKER} from the phone")

        stored = off_loop(everything(relay_server))
        assert sid in stored and MARKER not in stored

        # Someone with the database moves the agent's reply into another session that
        # this phone can read.
        moved_to = off_loop(another_session(relay_server, host))
        off_loop(move_message(relay_server, "t1-reply", moved_to, 1))
        page.goto(f"{relay_server.url}/#/session/{moved_to}")
        page.wait_for_selector(f"html[data-session-ready='{moved_to}']")
        expect(page.locator("#msgs .tampered")).to_contain_text("Tampered")
        assert MARKER not in page.locator("#msgs").inner_text()
        card = page.locator(".perm")
        expect(card).to_contain_text("integrity check")
        expect(card.get_by_role("button", name="Allow", exact=True)).to_have_count(0)
        card.get_by_role("button", name="Deny").click()
        expect(card).to_have_count(0)
    finally:
        if runner.session_id:
            admin.run(lambda c: c.end_session(runner.session_id))
        runner.thread.join(20)
        admin.close()
        context.close()
    assert runner.code == 0
    assert not errors, errors
