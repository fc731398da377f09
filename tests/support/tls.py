"""One TLS context for every httpx client the tests make.

httpx builds a new `ssl.SSLContext` for each client, loading the CA bundle each time: 25 ms
of CPU, a fifth of the CPU of the relay and gateway tests, which make a client (or the
official SDKs make one) for nearly every request they send. tether itself shares one
context per process (tether/tls.py); this gives the test process's own clients that same
context. Only clients that ask for httpx's defaults get it: a client given its own
`verify` or `cert` is built as httpx builds it.
"""

from __future__ import annotations

import ssl
from typing import Any

from tether.tls import client_context


def share_tls_context() -> None:
    import httpx._transports.default as transports

    build = transports.create_ssl_context
    if getattr(build, "shared", False):
        return

    def create_ssl_context(
        verify: Any = True, cert: Any = None, trust_env: bool = True
    ) -> ssl.SSLContext:
        if verify is True and cert is None and trust_env:
            return client_context()
        return build(verify=verify, cert=cert, trust_env=trust_env)

    create_ssl_context.shared = True  # type: ignore[attr-defined]
    transports.create_ssl_context = create_ssl_context
