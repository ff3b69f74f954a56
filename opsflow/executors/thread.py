"""``thread``: tasks run on a futurist thread pool.

A thread cannot be stopped from outside: a task past its timeout is failed
and the flow starts reverting, but that task's own revert waits until its
``execute`` returns.
"""

from __future__ import annotations

import concurrent.futures

from opsflow.executors import pools
from opsflow.executors.base import FuturesTaskExecutor

__all__ = ["ThreadDriver"]

#: Imported with the driver, in the thread that chooses it (see pools).
futurist = pools.futurist()


class _Wake:
    """A work item that does nothing: it only wakes an idle worker."""

    def run(self) -> None:
        pass


class ThreadDriver(FuturesTaskExecutor):
    """A pool of ``max_workers`` threads (futurist's default when None)."""

    def __init__(self, max_workers: int | None = None) -> None:
        super().__init__(factory=lambda: futurist.ThreadPoolExecutor(max_workers))

    def stop(self) -> None:
        pool = self._executor if self._given is None else None
        super().stop()
        if pool is not None:
            _wake_idle_workers(pool)


def _wake_idle_workers(pool: concurrent.futures.Executor) -> None:
    """Have the workers of a pool that was shut down exit now.

    An idle futurist worker looks at its stop flag only between two waits of
    a second on its queue, and the interpreter joins every worker at exit:
    without this, a program that ran a flow exits up to a second after it
    ended. One item per worker wakes each (a worker still running a task
    takes its item after the task and exits too). futurist keeps the queue
    private: a pool without one is left to stop on its own.
    """
    work_queue = getattr(pool, "_work_queue", None)
    if work_queue is None:
        return
    for _ in range(getattr(pool, "num_workers", 0)):
        work_queue.put(_Wake())
