"""What every executor driver shares: the call it ships and how a task runs.

A driver receives a :class:`TaskCall` (the task, what to do with it and its
arguments: exactly what has to reach the place the task runs), runs it there
with :func:`run_task` and hands the engine a future that resolves to
``(outcome, result or Failure)``. A task's exception never escapes
:func:`run_task`: it comes back as a ``Failure`` value.

Nothing here imports the engine, so the engine and the drivers depend on
this module and not on each other.
"""

from __future__ import annotations

import abc
import concurrent.futures
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple, Protocol

from opsflow.redaction import NO_SECRETS, Redactor
from opsflow.task import PROGRESS_SINK, Task
from opsflow.types.failure import Failure

__all__ = [
    "EXECUTED",
    "REVERTED",
    "FuturesTaskExecutor",
    "Outcome",
    "ProgressCallback",
    "TaskCall",
    "TaskExecutor",
    "completed",
    "run_task",
]

#: Outcomes a task future resolves with.
EXECUTED = "executed"
REVERTED = "reverted"

#: A future of ``(outcome, result or Failure)``.
Outcome = concurrent.futures.Future[tuple[str, Any]]


class ProgressCallback(Protocol):
    """Called with each progress value (and its details) a task reports."""

    def __call__(
        self, progress: float, details: Mapping[str, Any] | None = None
    ) -> None: ...


class TaskCall(NamedTuple):
    """One execute or revert of one task: what a driver ships, as it is.

    Immutable, and it pickles when the task and values do (the process
    driver sends it to a worker whole).
    """

    task: Task
    #: :data:`EXECUTED` or :data:`REVERTED`: which of the task's methods runs.
    action: str
    arguments: Mapping[str, Any]
    #: The atom detail's uuid: how a driver names the call to its workers.
    task_uuid: str = ""
    #: For a revert: what the execute returned (or its Failure).
    result: Any = None
    #: For a revert: the flow's execute failures, by atom name.
    failures: Mapping[str, Failure] | None = None


# Any exception that escapes a task is that task's failure, reverted like any
# other: SystemExit and KeyboardInterrupt included (a task that calls
# sys.exit(), or a library raising them, must not leave the run half-done).
# The operator's Ctrl-C never arrives here: opsflow-run handles SIGINT in
# its main thread and suspends the run. The body is one frame on purpose:
# it sits on every task's stack, under the engine's.
def run_task(
    call: TaskCall, progress_callback: ProgressCallback | None = None
) -> tuple[str, Any]:
    """Run ``call``'s ``execute`` or ``revert``; returns ``(outcome, value)``.

    ``value`` is what the method returned, or a ``Failure`` for any
    exception it raised (``SystemExit`` and ``KeyboardInterrupt`` too).
    Progress the task reports goes to ``progress_callback``.
    """
    task = call.task
    token = PROGRESS_SINK.set(progress_callback) if progress_callback else None
    try:
        if call.action == EXECUTED:
            task.pre_execute()
            try:
                value = task.execute(**call.arguments)
            except BaseException as exc:
                value = Failure.from_exception(exc)
            finally:
                task.post_execute()
            return EXECUTED, value
        task.pre_revert()
        try:
            value = task.revert(
                result=call.result,
                flow_failures=dict(call.failures or {}),
                **call.arguments,
            )
        except BaseException as exc:
            value = Failure.from_exception(exc)
        finally:
            task.post_revert()
        return REVERTED, value
    finally:
        if token is not None:
            PROGRESS_SINK.reset(token)


class _Resolved(concurrent.futures.Future[tuple[str, Any]]):
    """A future born resolved: what an in-line driver hands the engine.

    A plain ``Future`` builds a ``Condition`` (and its lock) per instance so
    that threads can wait for it; one that is finished before anybody sees
    it never changes again, so ``done()``/``result()`` answer without a lock
    and the ``Condition`` is only built for the rare caller that takes it
    (``add_done_callback``, ``concurrent.futures.wait`` and futurist's
    waiters). Each future keeps a lock of its own: those waits take the
    locks of all their futures in one global order, which a lock shared
    between futures would break (two overlapping waits could deadlock).
    """

    def __init__(self, result: tuple[str, Any]) -> None:
        # What Future.__init__ sets, in its finished form (but the Condition).
        self._state = concurrent.futures._base.FINISHED
        self._value = result
        self._result = result
        self._exception = None
        self._waiters: list[Any] = []
        self._done_callbacks: list[Any] = []

    @property
    def _condition(self) -> threading.Condition:  # type: ignore[override]
        condition: threading.Condition | None = self.__dict__.get("_lock")
        if condition is None:
            # setdefault: two threads asking at once still share one.
            condition = self.__dict__.setdefault("_lock", threading.Condition())
        return condition

    def done(self) -> bool:
        return True

    def running(self) -> bool:
        return False

    def cancelled(self) -> bool:
        return False

    def result(self, timeout: float | None = None) -> tuple[str, Any]:
        return self._value

    def exception(self, timeout: float | None = None) -> None:
        return None


def completed(outcome: str, value: Any) -> Outcome:
    """A future that has already resolved to ``(outcome, value)``."""
    return _Resolved((outcome, value))


class TaskExecutor(abc.ABC):
    """Runs tasks and hands back futures of ``(outcome, result or Failure)``.

    A driver implements :meth:`submit`; the engine calls
    :meth:`execute_task` and :meth:`revert_task`, which build the call.
    """

    #: The run's secrets, set by the engine before ``start()``. The engine's
    #: storage scrubs every outcome it records; a driver whose results pass
    #: through a store of their own on the way back (a remote result
    #: backend) has its workers scrub them with it before they reply.
    redactor: Redactor = NO_SECRETS

    #: True when every future :meth:`submit` returns has already resolved
    #: (the task ran in the caller's frame): the engine then never waits.
    in_line: bool = False

    @abc.abstractmethod
    def submit(
        self, call: TaskCall, progress_callback: ProgressCallback | None = None
    ) -> Outcome:
        """Start ``call`` where this driver runs tasks; its future comes back."""

    def execute_task(
        self,
        task: Task,
        task_uuid: str,
        arguments: Mapping[str, Any],
        progress_callback: ProgressCallback | None = None,
    ) -> Outcome:
        """Start ``task.execute(**arguments)``."""
        return self.submit(
            TaskCall(task, EXECUTED, arguments, task_uuid), progress_callback
        )

    def revert_task(
        self,
        task: Task,
        task_uuid: str,
        arguments: Mapping[str, Any],
        result: Any,
        failures: Mapping[str, Failure],
        progress_callback: ProgressCallback | None = None,
    ) -> Outcome:
        """Start ``task.revert(result=..., flow_failures=..., **arguments)``."""
        return self.submit(
            TaskCall(task, REVERTED, arguments, task_uuid, result, dict(failures)),
            progress_callback,
        )

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
        factory: Callable[[], concurrent.futures.Executor] | None = None,
    ) -> None:
        if executor is None and factory is None:
            raise TypeError("FuturesTaskExecutor needs an executor or a factory")
        self._given = executor
        self._factory = factory
        self._executor: concurrent.futures.Executor | None = executor

    def submit(
        self, call: TaskCall, progress_callback: ProgressCallback | None = None
    ) -> Outcome:
        executor = self._executor
        if executor is None:
            self.start()
            executor = self._executor
            assert executor is not None
        return executor.submit(run_task, call, progress_callback)

    def start(self) -> None:
        if self._executor is None:
            assert self._factory is not None
            self._executor = self._factory()

    def stop(self) -> None:
        if self._given is None and self._executor is not None:
            # Every future has completed when the engine stops; waiting would
            # only wait for idle futurist workers to notice (up to a second).
            self._executor.shutdown(wait=False)
            self._executor = None
