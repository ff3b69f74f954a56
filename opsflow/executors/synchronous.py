"""``synchronous``: tasks run in the engine's thread, one at a time, in order."""

from __future__ import annotations

from opsflow.executors.base import (
    Outcome,
    ProgressCallback,
    TaskCall,
    TaskExecutor,
    completed,
    run_task,
)

__all__ = ["SynchronousDriver"]


class SynchronousDriver(TaskExecutor):
    """Runs each task as it is submitted (``max_workers`` is ignored).

    The task runs in line, in the caller's frame, and the engine gets a
    future that has already resolved: no pool, no work item, no wait.
    """

    in_line = True

    def __init__(self, max_workers: int | None = None) -> None:
        pass

    def submit(
        self, call: TaskCall, progress_callback: ProgressCallback | None = None
    ) -> Outcome:
        return completed(*run_task(call, progress_callback))
