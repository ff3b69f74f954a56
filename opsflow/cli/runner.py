"""One run of a flow: engine, listeners, signals, and its report.

The engine runs in a worker thread so the main thread stays free for
signals: the first SIGINT/SIGTERM asks the engine to suspend (running steps
finish, nothing new starts, the run ends SUSPENDED); a second one stops the
process at once with exit 3.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from typing import Any, TextIO

from opsflow.cli.exits import ExitCode, StoreLost, Unavailable
from opsflow.cli.logs import run_context
from opsflow.cli.masking import Masker
from opsflow.cli.progress import LogLines, ProgressBar, StepRecorder
from opsflow.cli.streams import write_fd
from opsflow.exceptions import ServiceUnavailable, StorageFailure
from opsflow.runs.report import FailureReport, RunReport, StepRecord, failure_report
from opsflow.task import made_changes

__all__ = ["ENGINE_STARTED", "failure_report", "run_flow"]

#: Set once this process has started running a flow.
ENGINE_STARTED = threading.Event()


def run_flow(
    engine: Any,
    flow_name: str,
    masker: Masker,
    listeners: Sequence[Any] = (),
    tty: TextIO | None = None,
    traceback_dir: str | None = None,
    estimates: Any = None,
    record_timings: bool = False,
    revert: bool = False,
) -> RunReport:
    """Run ``engine`` to its end (or suspension) and report what happened.

    ``tty`` is the terminal for the live progress bar (with an ETA from
    ``estimates``); without one, progress goes to the ``opsflow.run``
    logger. ``record_timings`` keeps each step's timing in the run's
    storage; ``revert`` undoes the run (``engine.revert()``) instead.

    :raises StoreLost: the persistence store failed mid-run (exit 69); the
        run stopped at its last recorded state, from where it resumes.
    :raises Unavailable: the executor's package or service was missing when
        the engine started (exit 69); no step ran.
    """
    order = list(engine.compilation.order)
    reporter = ProgressBar(tty, estimates=estimates) if tty is not None else LogLines()
    recorder = StepRecorder(flow_name, order, reporter)
    recorder.attach(engine, record=record_timings)  # a resumed run starts part-way
    run_id = _run_id(engine)
    started = time.monotonic()
    worker = _EngineThread(engine, listeners, revert=revert)
    # Tasks print through masking streams; the progress shown here and the
    # signal messages go to the real ones (taken before the masking).
    with (
        run_context(run_id, flow_name),
        _Signals(engine, tty or sys.stderr) as signals,
        masker.masking_std_streams(),
    ):
        ENGINE_STARTED.set()
        worker.start()
        while worker.is_alive():
            worker.join(0.1)
            signals.poll()
            recorder.tick()
    recorder.finish()
    if isinstance(worker.error, StorageFailure):
        # Nothing after the failed write was recorded, nor run: what the
        # engine holds in memory is no outcome to report.
        raise StoreLost(run_id, worker.error) from worker.error
    if isinstance(worker.error, ServiceUnavailable):
        # Found missing when the engine started, before any step ran.
        raise Unavailable(
            f"{worker.error}; nothing of run {run_id} ran: "
            f"opsflow-run --resume {run_id} once that is fixed"
        ) from worker.error
    state = str(engine.storage.get_flow_state())
    results = _results(engine, order)
    steps = list(recorder.steps.values())
    report = RunReport(
        run_id=run_id,
        flow=flow_name,
        state=state,
        duration=time.monotonic() - started,
        steps=steps,
        results=results,
        failures=_failures(engine, worker.error),
        unchanged=_unchanged(engine, steps, results),
    )
    if report.failures and traceback_dir:
        report.traceback_path = _write_tracebacks(traceback_dir, report, masker)
    return report


class _EngineThread(threading.Thread):
    def __init__(
        self, engine: Any, listeners: Sequence[Any], revert: bool = False
    ) -> None:
        super().__init__(name="opsflow-engine", daemon=True)
        self._engine = engine
        self._listeners = listeners
        self._revert = revert
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with contextlib.ExitStack() as stack:
                for listener in self._listeners:
                    stack.enter_context(listener)
                if self._revert:
                    self._engine.revert()
                else:
                    self._engine.run()
        except BaseException as exc:  # reported from the engine's storage
            self.error = exc


class _Signals:
    """SIGINT/SIGTERM: the first suspends the run, a second one exits at once.

    The handler only counts: the main loop asks the engine to suspend, so no
    engine or logging code runs inside a signal handler (a second signal
    arriving in the middle of a write would otherwise re-enter it). The
    second signal exits straight from the handler with an unbuffered write.
    """

    def __init__(self, engine: Any, stream: TextIO) -> None:
        self._engine = engine
        self._stream = stream
        self._count = 0
        self._name = "SIGINT"
        self._suspending = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _Signals:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc_info: Any) -> None:
        for sig, old in self._previous.items():
            signal.signal(sig, old)

    def _handle(self, signum: int, _frame: Any) -> None:
        self._count += 1
        self._name = signal.Signals(signum).name
        if self._count > 1:
            write_fd(2, b"\nopsflow-run: stopped at once; the run is left as it was\n")
            os._exit(ExitCode.SUSPENDED)

    def poll(self) -> None:
        """Suspend the engine if a first signal came since the last poll."""
        if self._count and not self._suspending:
            self._suspending = True
            self._stream.write(
                f"\nopsflow-run: {self._name}: suspending (running steps finish, "
                "nothing new starts); send it again to stop at once\n"
            )
            self._stream.flush()
            self._engine.suspend()


def _run_id(engine: Any) -> str:
    storage = engine.storage
    for attribute in ("flow_uuid", "uuid"):
        value = getattr(storage, attribute, None)
        if isinstance(value, str) and value:
            return value
    return str(uuid.uuid4())


def _results(engine: Any, order: Sequence[str]) -> dict[str, Any]:
    storage = engine.storage
    get = getattr(storage, "get", None)
    results: dict[str, Any] = {}
    for name in order:
        if str(storage.get_atom_state(name)) != "SUCCESS" or get is None:
            continue
        try:
            results[name] = get(name)
        except Exception:  # a result that is gone (reverted) shows as none
            continue
    return results


def _unchanged(
    engine: Any, steps: Sequence[StepRecord], results: dict[str, Any]
) -> set[str]:
    """Steps that succeeded without changing anything. A step that succeeded
    in an earlier process with nothing recorded of it goes by its result."""
    storage = engine.storage
    unchanged = set()
    for step in steps:
        if step.state != "SUCCESS":
            continue
        if step.changed is None:
            with contextlib.suppress(Exception):  # an atom the storage lacks
                if storage.atom_detail(step.name).kind == "retry":
                    unchanged.add(step.name)
            if not made_changes(results.get(step.name)):
                unchanged.add(step.name)
        elif not step.changed:
            unchanged.add(step.name)
    return unchanged


def _failures(engine: Any, error: BaseException | None) -> list[FailureReport]:
    storage = engine.storage
    reports = [
        failure_report(name, "execute", failure)
        for name, failure in storage.get_execute_failures().items()
    ]
    reports += [
        failure_report(name, "revert", failure)
        for name, failure in storage.get_revert_failures().items()
    ]
    if not reports and error is not None and not _is_task_error(engine, error):
        # The engine itself broke: report that rather than nothing.
        import traceback

        text = "".join(traceback.format_exception(error))
        reports.append(
            FailureReport(
                "(engine)", "engine", f"{type(error).__name__}: {error}", text
            )
        )
    return reports


def _is_task_error(engine: Any, error: BaseException) -> bool:
    return str(engine.storage.get_flow_state()) in ("REVERTED", "FAILURE")


def _write_tracebacks(directory: str, report: RunReport, masker: Masker) -> str | None:
    """Save the failures' tracebacks (masked) in a 0600 file; its path."""
    from opsflow.privatefiles import open_private

    try:
        path = os.path.join(directory, f"{report.run_id}.txt")
        fd = open_private(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            for failure in report.failures:
                handle.write(f"step {failure.atom} ({failure.phase}): ")
                handle.write(masker.text(failure.exception) + "\n")
                handle.write(masker.text(failure.traceback) + "\n")
    except OSError:
        return None
    return path
