"""A session's "Model calls" in Chromium: the calls an agent made through the gateway
(tagged with its session), listed and opened readable and raw, on either side."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from playwright.sync_api import Page, expect

from tests.flows.conftest import wait_flows
from tests.gateway.upstreams import ScriptedUpstream, Sse, an_text_stream
from tests.support.sdks import anthropic
from tests.support.server import TetherServer
from tests.web.conftest import make_token

pytestmark = [pytest.mark.browser, pytest.mark.slow]
expect.set_options(timeout=20000)


@pytest.fixture
def upstream() -> Iterator[ScriptedUpstream]:
    scripted = ScriptedUpstream().start()
    yield scripted
    scripted.stop()


@pytest.fixture
def server(tmp_path: Path, upstream: ScriptedUpstream) -> Iterator[TetherServer]:
    data_dir = tmp_path / "relay"
    data_dir.mkdir()
    config = {"gateway": {"providers": {"an": {"type": "anthropic", "base_url": upstream.url}}}}
    (data_dir / "config.yaml").write_text(yaml.safe_dump(config))
    started = TetherServer(data_dir=data_dir).start()
    yield started
    started.stop()


def test_model_calls_of_a_session(browser, server: TetherServer, upstream: ScriptedUpstream):
    with server.client() as http:
        session = http.post("/api/v1/sessions", json={"title": "calls"}).json()
    upstream.push(Sse(an_text_stream("Hello ", "from the model")))
    client = anthropic.Anthropic(
        base_url=server.url,
        api_key="k",
        max_retries=0,
        default_headers={"X-Tether-Session": session["id"]},
    )
    with client.messages.stream(
        model="claude-test",
        max_tokens=50,
        system="be kind",
        messages=[{"role": "user", "content": "say hello"}],
    ) as stream:
        stream.get_final_text()
    [flow] = wait_flows(server, 1, session=session["id"])

    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page: Page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(make_token(server, "client", "phone", link=True))
    page.wait_for_selector(".list-view")
    page.goto(f"{server.url}/#/session/{session['id']}")
    page.click("#s-calls")
    row = page.locator(f"[data-flow='{flow['id']}']")
    expect(row).to_contain_text("claude-test")
    expect(row).to_contain_text("an")
    expect(row).to_contain_text("200")
    row.click()
    expect(page.locator("#flow-answer")).to_have_text("Hello from the model")
    expect(page.locator(".flow-system")).to_have_text("be kind")
    expect(page.locator(".flow-messages")).to_contain_text("say hello")
    page.click("#flow-raw")
    expect(page.locator("#flow-response")).to_contain_text("event: message_stop")
    expect(page.locator("#flow-request")).to_contain_text('"system":"be kind"')
    page.click("[data-side='upstream']")
    expect(page.locator("#flow-request")).to_contain_text("claude-test")
    page.keyboard.press("Escape")
    expect(page.locator(f"[data-flow='{flow['id']}']")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.locator("#s-title")).to_contain_text("calls")
    context.close()

    # A viewer token is offered no model calls, and the API refuses it.
    viewer = browser.new_context()
    page = viewer.new_page()
    page.goto(make_token(server, "viewer", "wall", link=True))
    page.wait_for_selector(".list-view")
    page.goto(f"{server.url}/#/session/{session['id']}")
    expect(page.locator("#s-title")).to_contain_text("calls")
    expect(page.locator("#s-calls")).to_have_count(0)
    page.goto(f"{server.url}/#/session/{session['id']}/calls")
    expect(page.locator(".flows [role=alert]")).to_contain_text("may not read model calls")
    viewer.close()
    assert not errors, errors
