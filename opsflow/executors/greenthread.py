"""``greenthread``: tasks run on a futurist green thread pool (eventlet).

Green threads only switch when a task does green I/O, so tasks must use
eventlet-patched modules (``eventlet.monkey_patch()`` at program start, before
anything else is imported) or they run one after the other. OpenStack is
moving its services off eventlet (it is in maintenance and blocks Python's
newer features); prefer ``thread`` unless your tasks already live in an
eventlet program.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from opsflow import exceptions
from opsflow.engines.executor import FuturesTaskExecutor

__all__ = ["GreenThreadDriver"]


def _green_pool(max_workers: int | None) -> Any:
    import futurist

    return futurist.GreenThreadPoolExecutor(max_workers=max_workers or 1000)


class GreenThreadDriver(FuturesTaskExecutor):
    """A pool of ``max_workers`` green threads (1,000 when None)."""

    def __init__(self, max_workers: int | None = None) -> None:
        # Fail when the engine is prepared, before any task runs.
        if importlib.util.find_spec("eventlet") is None:
            raise exceptions.ConfigurationError(
                "the greenthread executor needs eventlet: "
                "pip install 'opsflow[eventlet]'"
            )
        super().__init__(factory=lambda: _green_pool(max_workers))
