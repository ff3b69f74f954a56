"""Engines: compile a flow, prepare its storage, validate it, run it.

``engine.run()`` -> ``run_iter()`` -> builder's machine reactions ->
scheduler -> action -> executor -> ``run_task()`` -> ``task.execute()``.
The serial engine runs tasks one at a time in the engine's thread; the
parallel engine hands them to a thread pool (or any executor given).
"""

from __future__ import annotations

import time
from collections.abc import Generator
from typing import Any, cast

from opsflow import exceptions, states
from opsflow.engines import collector
from opsflow.engines.builder import FINAL_STATES, MachineBuilder
from opsflow.engines.compiler import Compilation, Compiler
from opsflow.engines.runtime import Runtime
from opsflow.executors import pools
from opsflow.executors.base import TaskExecutor
from opsflow.persistence import models
from opsflow.storage import Storage
from opsflow.task import Task
from opsflow.types.failure import Failure
from opsflow.types.notifier import Notifier

__all__ = ["ActionEngine", "ParallelActionEngine", "SerialActionEngine"]

#: The machine's final states, for a membership test per state entered.
_FINAL = frozenset(FINAL_STATES)
#: Final states in which ``run()`` does not raise.
NO_RERAISING_STATES = frozenset({states.SUCCESS, states.SUSPENDED})


class ActionEngine:
    """Runs one flow, recording everything in one flow detail.

    Options (None means the default): ``defer_reverts`` (default True: an
    exhausted retry with no parent reverts the whole flow), ``never_resolve``
    (default False: when True, a failure reverts nothing and the flow ends
    FAILURE).
    """

    def __init__(
        self,
        flow: Any,
        flow_detail: models.FlowDetail,
        backend: Any = None,
        options: dict[str, Any] | None = None,
    ) -> None:
        self._flow = flow
        self._flow_detail = flow_detail
        self._backend = backend
        self._options = dict(options or {})
        self.notifier = Notifier()
        self.atom_notifier = Notifier()
        self.storage = Storage(
            flow_detail,
            backend=backend,
            scope_fetcher=lambda atom_name: self.compilation.visible_to(atom_name),
        )
        self.statistics: dict[str, Any] = {}
        self._compilation: Compilation | None = None
        self._runtime: Runtime | None = None
        #: The runtime the last validate() passed for: a run validates only
        #: what was not (values injected since can only add to what it found).
        self._validated: Runtime | None = None
        self._executor: TaskExecutor | None = None

    def save_to(self, backend: Any, book: models.LogBook | None = None) -> None:
        """Record this run in ``backend`` from now on.

        For an engine loaded without one: the run (in ``book``, or a logbook
        of its own) is saved there, then every state change, as if it had
        been loaded with ``backend``. What was compiled and validated stays.
        """
        self._backend = backend
        self.storage.write_through(backend, book)

    @property
    def options(self) -> dict[str, Any]:
        """The options the engine was loaded with (``executor``, ``max_workers``...)."""
        return self._options

    # -- the stages, each callable on its own ------------------------------
    @property
    def compilation(self) -> Compilation:
        """The compiled execution graph (compiles on first use)."""
        self.compile()
        assert self._compilation is not None
        return self._compilation

    def compile(self) -> None:
        """Turn the flow into an execution graph; ``Duplicate`` etc. raise here."""
        if self._compilation is None:
            started = time.perf_counter()
            with collector.paused():
                self._compilation = Compiler(self._flow).compile()
            self.statistics["compilation"] = {"seconds": time.perf_counter() - started}

    def prepare(self) -> None:
        """Create (or find, when resuming) the record of every atom.

        A run that ended REVERTED is reset, so that running it again starts
        over.
        """
        self.compile()
        if self._runtime is not None:
            return
        started = time.perf_counter()
        compilation = self.compilation
        with collector.paused():
            self.storage.ensure_atoms(node.atom for node in compilation)
        self._executor = self._task_executor()
        if not self._executor.in_line:
            pools.waiters()  # here, not first in the thread that runs (see pools)
        self._runtime = Runtime(
            compilation,
            self.storage,
            self.atom_notifier,
            self._executor,
            defer_reverts=_option(self._options, "defer_reverts", True),
            never_resolve=_option(self._options, "never_resolve", False),
            task_timeout=self._options.get("task_timeout"),
        )
        if self.storage.get_flow_state() == states.REVERTED:
            self.reset()
        self.statistics["preparation"] = {"seconds": time.perf_counter() - started}

    def validate(self) -> None:
        """Check every requirement can be met; raises ``MissingDependencies``.

        The executor checks that it can run tasks here (``ServiceUnavailable``
        for a missing optional package or an unreachable broker) and that
        the tasks and inputs can reach its workers (``NotTransferable``).
        """
        self.prepare()
        assert self._runtime is not None
        missing = self._runtime.missing_requirements()
        if missing:
            # Each atom's own error is chained as the cause of the next, the
            # last one becoming the cause of the flow's.
            cause = None
            for atom, names in missing.items():
                cause = exceptions.MissingDependencies(atom, names, cause=cause)
            raise exceptions.MissingDependencies(
                self._flow.name,
                set().union(*missing.values()),
                cause=cause,
                by_atom={atom: sorted(names) for atom, names in missing.items()},
            )
        assert self._executor is not None
        self._executor.check_available()
        self._executor.check_transferable(
            (cast(Task, n.atom) for n in self._runtime.nodes if not n.is_retry),
            self.storage.injected_values(),
        )
        self._validated = self._runtime

    # -- running ---------------------------------------------------------------
    def run(self, timeout: float | None = None) -> None:
        """Run to the end; re-raises the failure(s) when the flow did not succeed.

        When the run's record cannot be written (the persistence backend
        raised ``StorageFailure``: a lost database, a full disk), the engine
        stops at once and ``run()`` raises that ``StorageFailure``: nothing
        more is started, reverted or resolved, since none of it could be
        recorded. The store keeps the run as it was at its last write, from
        where it resumes.
        """
        with collector.frozen_for_run():
            self._run(timeout, reraise=self._reraise)

    def run_iter(self, timeout: float | None = None) -> Generator[str, Any, None]:
        """Run, yielding each state the engine machine enters.

        Closing the iterator part-way, or sending it a true value
        (``it.send(True)``), suspends the run: running atoms finish and
        nothing new starts. An exception thrown into it (``it.throw(exc)``)
        ends the flow FAILURE and comes back out.
        """
        return self._drive(timeout, reraise=self._reraise)

    def revert(self, timeout: float | None = None) -> None:
        """Undo this run: cancel a suspended run, or retry failed reverts.

        Every atom that ran and is not reverted yet is reverted, those whose
        revert failed included (use it after fixing by hand what made them
        fail). An atom caught RUNNING by a crash is reverted too, with
        ``result=None``: reverts must be idempotent. Raises the revert
        failure(s) if a revert fails again; returns when all is undone.
        """
        self.prepare()
        storage = self.storage
        for detail in storage.flow_detail:
            if detail.state == states.REVERT_FAILURE:
                detail.revert_failure = None
                detail.state = states.FAILURE if detail.failure else states.SUCCESS
            elif detail.state in (states.RUNNING, states.REVERTING):
                detail.state = states.FAILURE if detail.failure else states.SUCCESS
            if detail.state in (states.SUCCESS, states.FAILURE):
                detail.intention = states.REVERT
            storage.save_atom_detail(detail)
        self._runtime = None
        with collector.frozen_for_run():
            self._run(timeout, reraise=self._reraise_revert_failures)

    def _run(self, timeout: float | None, reraise: Any) -> None:
        """:meth:`_drive` with nobody to hand the states to: the same run,
        without a generator resumed for every state the machine enters."""
        runtime, builder = self._begin(timeout)
        started = time.perf_counter()
        final = None
        try:
            for final in builder.run_iter(every_state=False):
                self._change_flow_state(final)
        finally:
            self._end(runtime, builder, started)
        if final not in NO_RERAISING_STATES:
            reraise(runtime)

    def _drive(self, timeout: float | None, reraise: Any) -> Generator[str, Any, None]:
        runtime, builder = self._begin(timeout)
        started = time.perf_counter()
        final = None
        closed = False
        try:
            for state in builder.run_iter():
                if state in _FINAL:
                    final = state
                    self._change_flow_state(state)
                if not closed:
                    try:
                        if (yield state):
                            self.suspend()
                    except GeneratorExit:
                        closed = True
                        self.suspend()
                    except BaseException:
                        self._change_flow_state(states.FAILURE)
                        raise
        finally:
            self._end(runtime, builder, started)
        if final not in NO_RERAISING_STATES and not closed:
            reraise(runtime)

    def _begin(self, timeout: float | None) -> tuple[Runtime, MachineBuilder]:
        """Validate, start the executor, record RUNNING: a run's first steps."""
        self.prepare()
        if self._validated is not self._runtime:
            self.validate()
        runtime = self._runtime
        assert runtime is not None and self._executor is not None
        self._executor.redactor = self.storage.redactor
        # Started before RUNNING is recorded: a driver that cannot start (its
        # broker is down) leaves the run as it was.
        self._executor.start()
        try:
            self._change_flow_state(states.RUNNING)
        except BaseException:
            self._executor.stop()
            raise
        return runtime, MachineBuilder(runtime, wait_timeout=timeout)

    def _end(self, runtime: Runtime, builder: MachineBuilder, started: float) -> None:
        """Stop the executor and keep the run's statistics, however it ended."""
        assert self._executor is not None
        self._executor.stop()
        # The next run prepares a fresh runtime from what storage holds.
        self._runtime = None
        self.statistics.update(
            active_for=time.perf_counter() - started,
            completed=builder.completed,
            incomplete=builder.incomplete,
            awaiting=builder.awaiting,
            discarded_failures=runtime.completer.discarded,
            seconds_per_state=dict(builder.seconds_per_state),
        )

    def _reraise(self, runtime: Runtime) -> None:
        self._reraise_revert_failures(runtime)
        failures = [
            *runtime.completer.unresolved,
            *self.storage.get_execute_failures().values(),
        ]
        Failure.reraise_if_any(failures)

    def _reraise_revert_failures(self, runtime: Runtime) -> None:
        revert_failures = self.storage.get_revert_failures()
        Failure.reraise_if_any(
            [*revert_failures.values(), *runtime.completer.unresolved]
        )

    def suspend(self) -> None:
        """Finish what is running, start nothing new, end SUSPENDED."""
        self._change_flow_state(states.SUSPENDING)

    def reset(self) -> None:
        """Forget every outcome: all atoms PENDING, the flow PENDING."""
        self.prepare()
        assert self._runtime is not None
        self._runtime.reset(self._runtime.nodes)
        self._change_flow_state(states.PENDING)

    # -- helpers ------------------------------------------------------------
    def _change_flow_state(self, state: str) -> bool:
        old_state = self.storage.get_flow_state()
        if not states.check_flow_transition(old_state, state):
            return False
        self.storage.set_flow_state(state)
        self.notifier.notify(
            state,
            {
                "engine": self,
                "flow_name": self.storage.flow_name,
                "flow_uuid": self.storage.flow_uuid,
                "old_state": old_state,
            },
        )
        return True

    #: The executor driver used when ``executor=`` is not given.
    default_executor = "synchronous"

    def _task_executor(self) -> TaskExecutor:
        """The executor given (a driver name, a ``TaskExecutor``, a pool) or default.

        ``executor`` may also be an executor instance (``concurrent.futures``
        or futurist), which the caller keeps owning.
        """
        from opsflow import executors

        return executors.load(
            self._options.get("executor") or self.default_executor,
            max_workers=self._options.get("max_workers"),
        )


class SerialActionEngine(ActionEngine):
    """Runs one task at a time, in the engine's thread, in declaration order."""

    default_executor = "synchronous"


class ParallelActionEngine(ActionEngine):
    """Runs independent tasks at the same time (threads unless told otherwise)."""

    default_executor = "thread"


def _option(options: dict[str, Any], name: str, default: bool) -> bool:
    """A boolean engine option; given as None, it is its default."""
    value = options.get(name)
    return default if value is None else bool(value)
