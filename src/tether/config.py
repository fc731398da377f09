"""Settings: defaults < YAML config file < environment (TETHER_*) < command-line flags.

One `Settings` object is built at start-up by `load_settings` and handed to everything
that needs it; nothing reads the environment behind its back.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from tether.protocol import ENCRYPTION_MODES

DEFAULT_PORT = 8787
DEFAULT_URL = f"http://127.0.0.1:{DEFAULT_PORT}"


class ConfigError(Exception):
    """A config file or setting that cannot be used; the message says which and why."""


def _xdg(env: Mapping[str, str], name: str, fallback: Path) -> Path:
    # The XDG spec: a relative value is invalid and ignored (it would put tether's files
    # under whatever directory a command happened to run in).
    value = env.get(name)
    return Path(value) if value and os.path.isabs(value) else fallback


def default_config_path(environ: dict[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    return _xdg(env, "XDG_CONFIG_HOME", Path.home() / ".config") / "tether" / "config.yaml"


def default_data_dir(environ: dict[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    return _xdg(env, "XDG_DATA_HOME", Path.home() / ".local" / "share") / "tether"


# The push services browsers subscribe through (Chrome/Android, Firefox, Safari/iOS, Edge).
# The relay posts notifications only to endpoints under these, so a token holder cannot make
# it send requests anywhere else.
DEFAULT_PUSH_SERVICES = (
    "https://fcm.googleapis.com",
    "https://*.push.services.mozilla.com",
    "https://web.push.apple.com",
    "https://*.notify.windows.com",
)


class PushSettings(BaseModel):
    """The `push:` section: Web Push to subscribed devices (tether.relay.notify)."""

    model_config = ConfigDict(extra="forbid")

    # Origins (scheme://host[:port], `*.` for any subdomain) a subscription's endpoint may
    # point at.
    services: list[str] = Field(default_factory=lambda: list(DEFAULT_PUSH_SERVICES))
    # The VAPID `sub` claim: how a push service reaches whoever runs this relay.
    subject: str = "mailto:tether@localhost"


class Retention(BaseModel):
    """How long the relay keeps ended sessions (relay/retention.py). Off by default."""

    model_config = ConfigDict(extra="forbid")

    # Seconds after its last activity that an ended session is deleted, with its messages,
    # permission requests, flows and events; None keeps everything.
    ended_after: float | None = Field(None, gt=0)
    # Seconds between retention passes.
    interval: float = Field(3600.0, gt=0)
    # Give the space a pass freed back (SQLite: incremental vacuum; PostgreSQL: VACUUM).
    compact: bool = True


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(DEFAULT_PORT, ge=0, le=65535)
    data_dir: Path = Field(default_factory=default_data_dir)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    # Which halves this process serves.
    only: Literal["all", "gateway", "relay"] = "all"
    # An admin token given from outside (TETHER_TOKEN); when unset one is minted on first start.
    token: str | None = None
    # PostgreSQL URL; SQLite in data_dir when unset.
    database_url: str | None = None
    permission_timeout: float = Field(600.0, gt=0, description="seconds before a request expires")
    ping_interval: float = Field(15.0, gt=0)
    max_body_bytes: int = Field(8 * 1024 * 1024, gt=0)
    # HTTP connection bounds: a request head's size, the seconds a kept-alive connection may
    # sit idle, and the seconds a request head may take to arrive whole.
    max_header_bytes: int = Field(64 * 1024, gt=0)
    keep_alive_timeout: float = Field(5.0, gt=0)
    request_head_timeout: float = Field(10.0, gt=0)
    # Seconds a request body may take to arrive whole once its head has.
    request_body_timeout: float = Field(120.0, gt=0)
    # Live SSE + WebSocket connections one token may hold, and this process in all.
    max_connections_per_token: int = Field(100, gt=0)
    max_connections: int = Field(10_000, gt=0)
    # Bytes of events one stream may have waiting to be sent before it is cut off (it
    # resumes from its cursor, losing nothing).
    max_stream_buffer_bytes: int = Field(32 * 1024 * 1024, gt=0)
    # The address people use to reach this server (printed links); derived when unset.
    public_url: str | None = None
    retention: Retention = Field(default_factory=Retention)
    # End-to-end encryption (docs/encryption.md): `on` makes `tether run` encrypt its
    # sessions; `required` also makes the relay refuse plaintext sessions and content.
    encryption: Literal[ENCRYPTION_MODES] = "off"

    @field_validator("encryption", mode="before")
    @classmethod
    def _yaml_booleans(cls, value: Any) -> Any:
        # YAML 1.1 reads a bare `on` / `off` as a boolean.
        if isinstance(value, bool):
            return "on" if value else "off"
        return value

    # The gateway section is parsed and validated by tether.gateway.config.
    gateway: dict[str, Any] = Field(default_factory=dict)
    push: PushSettings = Field(default_factory=PushSettings)
    # `tether run --agent NAME` commands, parsed by tether.runner.agents.
    agents: dict[str, Any] = Field(default_factory=dict)
    # MCP servers every `tether run` agent gets, as in .mcp.json's `mcpServers` (runner.mcp).
    mcp_servers: dict[str, Any] = Field(default_factory=dict)

    @property
    def url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = self.host
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def is_loopback(self) -> bool:
        from tether.host_guard import is_loopback_name

        return is_loopback_name(self.host.lower().strip("[]"))


# Environment variables that map onto settings; values are parsed by pydantic.
_ENV_KEYS = {
    "TETHER_HOST": "host",
    "TETHER_PORT": "port",
    "TETHER_DATA_DIR": "data_dir",
    "TETHER_LOG_LEVEL": "log_level",
    "TETHER_ONLY": "only",
    "TETHER_TOKEN": "token",
    "TETHER_DATABASE_URL": "database_url",
    "TETHER_PERMISSION_TIMEOUT": "permission_timeout",
    "TETHER_PING_INTERVAL": "ping_interval",
    "TETHER_MAX_BODY_BYTES": "max_body_bytes",
    "TETHER_MAX_CONNECTIONS_PER_TOKEN": "max_connections_per_token",
    "TETHER_MAX_CONNECTIONS": "max_connections",
    "TETHER_MAX_STREAM_BUFFER_BYTES": "max_stream_buffer_bytes",
    "TETHER_PUBLIC_URL": "public_url",
    "TETHER_ENCRYPTION": "encryption",
}


def admin_token_path(data_dir: Path) -> Path:
    """Where `tether serve` keeps the admin token it minted, for local commands to find."""
    return data_dir / "admin-token"


def server_url_path(data_dir: Path) -> Path:
    """Where a running `tether serve` notes its address, for local commands to find it."""
    return data_dir / "server-url"


def read_config_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping of settings, not {type(data).__name__}")
    return data


def load_settings(
    config_file: Path | str | None = None,
    *,
    environ: dict[str, str] | None = None,
    **flags: Any,
) -> Settings:
    """Build the settings from every layer. Flags whose value is None are ignored."""
    env = os.environ if environ is None else environ
    layers: dict[str, Any] = {}

    explicit = config_file or env.get("TETHER_CONFIG")
    path = Path(explicit).expanduser() if explicit else default_config_path(env)
    if explicit or path.exists():
        layers.update(read_config_file(path))

    for var, key in _ENV_KEYS.items():
        if env.get(var):
            layers[key] = env[var]
    layers.update({k: v for k, v in flags.items() if v is not None})
    layers.setdefault("data_dir", default_data_dir(env))

    try:
        settings = Settings.model_validate(layers)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'config'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"invalid settings: {problems}") from None
    settings.data_dir = settings.data_dir.expanduser()
    return settings


def resolve_secret(value: str | None, environ: dict[str, str] | None = None) -> str | None:
    """Config values may say `env:NAME` to read a secret from the environment."""
    if value is None or not value.startswith("env:"):
        return value
    env = os.environ if environ is None else environ
    return env.get(value[4:]) or None
