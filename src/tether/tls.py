"""The TLS context tether's HTTPS clients share.

Building one loads the CA bundle, about 25 ms of CPU, and httpx builds a new one for every
client it makes; an `ssl.SSLContext` is safe to share, so each process builds it once.
Verification stays on: this is httpx's own default context (certifi's CAs, or those that
SSL_CERT_FILE / SSL_CERT_DIR name).
"""

from __future__ import annotations

import functools
import ssl


@functools.cache
def client_context() -> ssl.SSLContext:
    import httpx

    return httpx.create_ssl_context()
