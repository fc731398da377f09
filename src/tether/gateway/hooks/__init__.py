"""The gateway's request/response hooks: built-ins configured under `gateway.hooks`, and
plugins from installed packages (entry point group `tether.hooks`). `api.py` is the
interface a plugin writes against; `pipeline.py` runs them around the router."""

from tether.gateway.hooks.api import Blocked, HookRequest, HookResponse, StreamEvent, Surface
from tether.gateway.hooks.pipeline import Exchange, Pipeline, build_pipeline

__all__ = [
    "Blocked",
    "Exchange",
    "HookRequest",
    "HookResponse",
    "Pipeline",
    "StreamEvent",
    "Surface",
    "build_pipeline",
]
