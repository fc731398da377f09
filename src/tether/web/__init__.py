"""The browser UI: plain ES modules and CSS under `static/`, served by the relay at `/`.

Nothing is built on the user's machine; the files are shipped as they are. `web_app()`
serves them with headers that suit a page which holds a bearer token: revalidate on
every load (so an upgrade never runs stale modules), a strict Content-Security-Policy
(the page renders untrusted transcripts; nothing but our own scripts may run), and no
Referer (the sign-in link carries a token until the page removes it).
"""

from __future__ import annotations

import mimetypes
from pathlib import Path

from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC_DIR = Path(__file__).parent / "static"

# The web app manifest's own type (not every system's mime.types knows it). The service
# worker is static/sw.js, served at the root so that its scope covers the whole app.
mimetypes.add_type("application/manifest+json", ".webmanifest")

CSP = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "manifest-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)

HEADERS = {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": CSP,
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


class WebFiles(StaticFiles):
    """StaticFiles with the page's security and caching headers on every answer."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        return response


def web_app(directory: Path = STATIC_DIR) -> WebFiles:
    return WebFiles(directory=directory, html=True)
