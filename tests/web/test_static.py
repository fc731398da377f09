"""How the relay serves the UI's files: the page at `/`, modules with the right type, and
the headers a page holding a bearer token needs. No browser needed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.server import TetherServer


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TetherServer]:
    server = TetherServer(data_dir=tmp_path_factory.mktemp("static")).start()
    yield server
    server.stop()


def test_the_page_is_served_at_the_root_with_strict_headers(served: TetherServer) -> None:
    response = httpx.get(served.url + "/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="js/main.js">' in response.text
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp
    assert "unsafe-inline" not in csp
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-content-type-options"] == "nosniff"


def test_the_page_with_a_token_link_is_the_same_page(served: TetherServer) -> None:
    response = httpx.get(served.url + "/?token=tth_x_y")
    assert response.status_code == 200 and "js/main.js" in response.text


def test_modules_and_styles_have_their_types(served: TetherServer) -> None:
    static = Path(__file__).resolve().parents[2] / "src/tether/web/static"
    modules = sorted(p.relative_to(static).as_posix() for p in static.rglob("*.js"))
    assert "js/main.js" in modules and "js/api.js" in modules
    for path in modules:
        response = httpx.get(f"{served.url}/{path}")
        assert response.status_code == 200, path
        assert "javascript" in response.headers["content-type"], path
    css = httpx.get(served.url + "/app.css")
    assert css.headers["content-type"].startswith("text/css")


def test_a_missing_file_is_a_plain_404(served: TetherServer) -> None:
    response = httpx.get(served.url + "/js/nope.js")
    assert response.status_code == 404


def test_the_ui_uses_only_the_public_api(served: TetherServer) -> None:
    """The UI speaks /api/v1 (docs/protocol.md) and never puts the token in a URL."""
    static = Path(__file__).resolve().parents[2] / "src/tether/web/static"
    source = "\n".join(p.read_text() for p in static.rglob("*.js"))
    assert "new EventSource(" not in source  # it cannot send the Authorization header
    assert "?token=" not in source and "&token=" not in source
    assert 'base = "/api/v1"' in source
