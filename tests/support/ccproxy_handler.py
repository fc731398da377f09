"""Run ccproxy-api's terminal permission handler (`ccproxy.plugins.permissions.handlers.cli`)
unmodified, outside a ccproxy server.

In ccproxy-api 0.2.x that module hands each request to `create_managed_task`, which needs
the ServiceContainer (with a started task manager) that only ccproxy's own server process
sets up; run alone, every request fails with "ServiceContainer is not available". This
launcher sets up exactly that and nothing else, then runs the module as `python -m` would,
with the same arguments. Run it with the Python that has ccproxy-api installed.
"""

from __future__ import annotations

import asyncio
import runpy
from typing import Any

from ccproxy.config.settings import Settings
from ccproxy.services.container import ServiceContainer

container = ServiceContainer(Settings.from_config())
_run = asyncio.run


def _run_with_task_manager(main: Any, **kwargs: Any) -> Any:
    async def with_manager() -> Any:
        manager = container.get_async_task_manager()
        await manager.start()
        try:
            return await main
        finally:
            await manager.stop()

    return _run(with_manager(), **kwargs)


asyncio.run = _run_with_task_manager
runpy.run_module("ccproxy.plugins.permissions.handlers.cli", run_name="__main__", alter_sys=True)
