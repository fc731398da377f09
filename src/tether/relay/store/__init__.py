"""Durable relay state behind one interface, on SQLite (default) or PostgreSQL."""

from tether.relay.store.db import open_database
from tether.relay.store.store import Store

__all__ = ["Store", "open_database"]
