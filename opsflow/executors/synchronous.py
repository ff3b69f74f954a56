"""``synchronous``: tasks run in the engine's thread, one at a time, in order."""

from __future__ import annotations

import futurist

from opsflow.engines.executor import FuturesTaskExecutor

__all__ = ["SynchronousDriver"]


class SynchronousDriver(FuturesTaskExecutor):
    """Runs each task as it is submitted (``max_workers`` is ignored)."""

    def __init__(self, max_workers: int | None = None) -> None:
        super().__init__(factory=futurist.SynchronousExecutor)
