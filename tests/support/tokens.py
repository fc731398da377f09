"""Tokens for tests, minted into a server's store the way `tether token create` mints them.

The relay's own `create_token` runs against the server's database, as the command does,
but without starting a Python process for each token (about a second of CPU apiece). The
command itself is tested in tests/cli/test_tokens.py.
"""

from __future__ import annotations

from tests.support.server import TetherServer
from tests.support.threaded import run_coroutine


def mint_token(server: TetherServer, scope: str, name: str | None = None) -> str:
    """A new `scope` token in the server's store; usable while the server runs."""
    from tether.relay.auth import create_token
    from tether.relay.store import Store, open_database

    async def mint() -> str:
        store = Store(open_database(server.database_url, server.data_dir))
        await store.open()
        try:
            _, token = await create_token(store, scope, name)
        finally:
            await store.close()
        return token

    return run_coroutine(mint)
