"""Relay benchmark: `python -m bench.relay`."""
