"""The Python client of the relay: what the runner, the terminal commands and your
scripts use instead of their own HTTP code.

    async with RelayClient(url, token) as relay:
        for session in await relay.list_sessions():
            ...
        async for event in relay.events():
            ...
"""

from tether.client.errors import (
    AlreadyResolved,
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    RelayError,
    RelayUnavailable,
    SessionEnded,
    TooManyConnections,
    Unauthorized,
    ValidationFailed,
    VersionConflict,
)
from tether.client.relay import RelayClient
from tether.client.stream import Event
from tether.client.sync import SyncRelayClient

__all__ = [
    "AlreadyResolved",
    "BadRequest",
    "Conflict",
    "Event",
    "Forbidden",
    "NotFound",
    "PayloadTooLarge",
    "RelayClient",
    "RelayError",
    "RelayUnavailable",
    "SessionEnded",
    "SyncRelayClient",
    "TooManyConnections",
    "Unauthorized",
    "ValidationFailed",
    "VersionConflict",
]
