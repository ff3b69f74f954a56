"""``thread``: tasks run on a futurist thread pool.

A thread cannot be stopped from outside: a task past its timeout is failed
and the flow starts reverting, but that task's own revert waits until its
``execute`` returns.
"""

from __future__ import annotations

import futurist

from opsflow.executors.base import FuturesTaskExecutor

__all__ = ["ThreadDriver"]


class ThreadDriver(FuturesTaskExecutor):
    """A pool of ``max_workers`` threads (futurist's default when None)."""

    def __init__(self, max_workers: int | None = None) -> None:
        super().__init__(factory=lambda: futurist.ThreadPoolExecutor(max_workers))
