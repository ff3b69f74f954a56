"""Executor: where ``task.execute()`` and ``task.revert()`` actually run.

Every way of running tasks wraps a PEP 3148 executor (futurist's or the
standard library's) around one module-level function, :func:`run_task`,
which calls the task and turns any exception into a ``Failure`` value.
A future from here always resolves to ``(outcome, result or Failure)``.
"""

from __future__ import annotations

import abc
import concurrent.futures
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

import futurist

from opsflow.redaction import NO_SECRETS, Redactor
from opsflow.task import PROGRESS_SINK, Task
from opsflow.types.failure import Failure

__all__ = [
    "EXECUTED",
    "REVERTED",
    "FuturesTaskExecutor",
    "TaskExecutor",
    "run_task",
]


class ProgressCallback(Protocol):
    """Called with each progress value (and its details) a task reports."""

    def __call__(
        self, progress: float, details: Mapping[str, Any] | None = None
    ) -> None: ...


#: Outcomes a task future resolves with.
EXECUTED = "executed"
REVERTED = "reverted"


def run_task(
    task: Task,
    action: str,
    arguments: Mapping[str, Any],
    result: Any = None,
    failures: Mapping[str, Failure] | None = None,
    progress_callback: ProgressCallback | None = None,
) -> tuple[str, Any]:
    """Run ``task.execute`` or ``task.revert``; any exception comes back as a
    Failure (``SystemExit`` and ``KeyboardInterrupt`` too)."""
    if progress_callback is None:
        return _run(task, action, arguments, result, failures)
    token = PROGRESS_SINK.set(progress_callback)
    try:
        return _run(task, action, arguments, result, failures)
    finally:
        PROGRESS_SINK.reset(token)


# Any exception that escapes a task is that task's failure, reverted like any
# other: SystemExit and KeyboardInterrupt included (a task that calls
# sys.exit(), or a library raising them, must not leave the run half-done).
# The operator's Ctrl-C never arrives here: opsflow-run handles SIGINT in
# its main thread and suspends the run.
def _run(
    task: Task,
    action: str,
    arguments: Mapping[str, Any],
    result: Any,
    failures: Mapping[str, Failure] | None,
) -> tuple[str, Any]:
    if action == EXECUTED:
        task.pre_execute()
        try:
            value = task.execute(**arguments)
        except BaseException as exc:
            value = Failure.from_exception(exc)
        finally:
            task.post_execute()
        return EXECUTED, value
    task.pre_revert()
    try:
        value = task.revert(
            result=result, flow_failures=dict(failures or {}), **arguments
        )
    except BaseException as exc:
        value = Failure.from_exception(exc)
    finally:
        task.post_revert()
    return REVERTED, value


class TaskExecutor(abc.ABC):
    """Runs tasks and hands back futures of ``(outcome, result or Failure)``."""

    #: The run's secrets, set by the engine before ``start()``. The engine's
    #: storage scrubs every outcome it records; a driver whose results pass
    #: through a store of their own on the way back (a remote result
    #: backend) has its workers scrub them with it before they reply.
    redactor: Redactor = NO_SECRETS

    @abc.abstractmethod
    def execute_task(
        self,
        task: Task,
        task_uuid: str,
        arguments: Mapping[str, Any],
        progress_callback: ProgressCallback | None = None,
    ) -> concurrent.futures.Future[tuple[str, Any]]:
        """Start ``task.execute(**arguments)``."""

    @abc.abstractmethod
    def revert_task(
        self,
        task: Task,
        task_uuid: str,
        arguments: Mapping[str, Any],
        result: Any,
        failures: Mapping[str, Failure],
        progress_callback: ProgressCallback | None = None,
    ) -> concurrent.futures.Future[tuple[str, Any]]:
        """Start ``task.revert(result=..., flow_failures=..., **arguments)``."""

    def start(self) -> None:
        """Get ready to run tasks (called before a run)."""

    def stop(self) -> None:
        """Release workers (called after a run)."""

    def kill(self, future: concurrent.futures.Future[Any]) -> bool:
        """Stop the task behind ``future`` now; False when it cannot be stopped."""
        return False

    def check_available(self) -> None:
        """Raise ``ServiceUnavailable`` (``MissingPackage`` for an optional
        package that is not installed) when this driver cannot run tasks
        here: called by ``validate()``, before anything is recorded or run.
        A check of a remote service must give up within a few seconds."""

    def check_transferable(
        self, tasks: Iterable[Task], values: Mapping[str, Any]
    ) -> None:
        """Raise ``NotTransferable`` if tasks or inputs cannot reach the workers."""


class FuturesTaskExecutor(TaskExecutor):
    """Runs tasks on a ``concurrent.futures``/``futurist`` executor.

    The pool is created by ``start()`` from ``factory`` and shut down by
    ``stop()``, unless an executor instance the caller owns was given.
    """

    def __init__(
        self,
        executor: concurrent.futures.Executor | None = None,
        factory: Any = futurist.SynchronousExecutor,
    ) -> None:
        self._given = executor
        self._factory = factory
        self._executor: concurrent.futures.Executor | None = executor

    def _pool(self) -> concurrent.futures.Executor:
        if self._executor is None:
            self.start()
        assert self._executor is not None
        return self._executor

    def execute_task(
        self,
        task: Task,
        task_uuid: str,
        arguments: Mapping[str, Any],
        progress_callback: ProgressCallback | None = None,
    ) -> concurrent.futures.Future[tuple[str, Any]]:
        return self._pool().submit(
            run_task, task, EXECUTED, arguments, None, None, progress_callback
        )

    def revert_task(
        self,
        task: Task,
        task_uuid: str,
        arguments: Mapping[str, Any],
        result: Any,
        failures: Mapping[str, Failure],
        progress_callback: ProgressCallback | None = None,
    ) -> concurrent.futures.Future[tuple[str, Any]]:
        return self._pool().submit(
            run_task, task, REVERTED, arguments, result, failures, progress_callback
        )

    def start(self) -> None:
        if self._executor is None:
            self._executor = self._factory()

    def stop(self) -> None:
        if self._given is None and self._executor is not None:
            # Every future has completed when the engine stops; waiting would
            # only wait for idle futurist workers to notice (up to a second).
            self._executor.shutdown(wait=False)
            self._executor = None
