"""tether: a self-hosted gateway for terminal coding agents."""

__version__ = "0.1.0"
