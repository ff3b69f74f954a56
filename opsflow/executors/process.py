"""``process``: tasks run in worker processes of a futurist process pool.

Tasks, their arguments and results are pickled across; a task's exception
comes back as a ``Failure`` carrying the worker's traceback text and the
exception's type names. Progress a task reports in its worker is relayed to
the engine in order, before the task's outcome.

Workers are forked (Linux), and each call tells the parent which process
runs it, so that:

* a task past its timeout is stopped by killing its worker (SIGKILL);
* a worker killed by anything (SIGKILL, the OOM killer) fails its task with
  a :class:`~opsflow.exceptions.WorkerDied` naming the signal, the broken
  pool is replaced, and tasks that were running in the same pool fail too
  (their workers were stopped with it);
* a worker dies with the process that forked it: killed with it (``kill
  -9``), a worker would otherwise go on running its step unseen while a
  resume of the run starts that step again. On Linux the kernel sends the
  worker SIGKILL when its parent dies (``PR_SET_PDEATHSIG``); elsewhere a
  watchdog thread in the worker notices that it was orphaned.
"""

from __future__ import annotations

import concurrent.futures
import ctypes
import logging
import multiprocessing
import os
import pickle
import signal
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from opsflow import exceptions
from opsflow.executors import pools
from opsflow.executors.base import (
    Outcome,
    ProgressCallback,
    TaskCall,
    TaskExecutor,
    run_task,
)
from opsflow.task import Task
from opsflow.types.failure import Failure

__all__ = ["ProcessDriver"]

#: Imported with the driver, in the thread that chooses it (see pools).
futurist = pools.futurist()

LOG = logging.getLogger(__name__)

# Set in the parent before a pool forks its workers, which inherit it: the
# channel each worker reports "started", progress and "done" on.
_EVENTS: Any = None
_FORK_LOCK = threading.Lock()
#: ``parent`` is set (to this process's pid) in the thread that submits to a
#: pool, while it submits: the pool forks its workers then, from that thread,
#: and only those forks are made to die with their parent.
_FORKING = threading.local()
#: ``prctl`` option: the signal this process gets when its parent dies.
_PR_SET_PDEATHSIG = 1
#: Seconds between two looks of the watchdog used where prctl is missing.
_ORPHAN_POLL = 0.2


def _on_fork_in_child() -> None:
    """In a freshly forked pool worker: leave signals to the parent, die with it."""
    parent = getattr(_FORKING, "parent", None)
    if parent is None:  # a fork by other code of this process: not ours
        return
    _FORKING.parent = None
    # Ctrl-C reaches the whole process group, and a service manager's stop
    # often every process of the service: the parent suspends the run and
    # lets running steps finish, so a worker must not stop on its own (nor
    # run the parent's handlers, inherited by the fork). A handler that does
    # nothing, rather than SIG_IGN, so that programs a task executes get the
    # default dispositions back.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _leave_to_parent)
    _die_with_parent(parent)


def _leave_to_parent(signum: int, frame: Any) -> None:
    """A worker's SIGINT/SIGTERM handler: the parent decides what to do."""


def _die_with_parent(parent: int) -> None:
    if not _set_parent_death_signal(signal.SIGKILL):
        threading.Thread(
            target=_watch_parent, args=(parent,), name="opsflow-orphan", daemon=True
        ).start()
    # The parent may have died before the line above took effect.
    if os.getppid() != parent:
        os._exit(1)


def _set_parent_death_signal(signum: int) -> bool:
    """Ask the kernel for ``signum`` when the parent dies; False where unsupported.

    The kernel sends it when the *thread* that forked this process ends:
    pools fork their workers from the engine's thread, which outlives the
    pool (``stop()`` shuts it down from there).
    """
    return _PRCTL is not None and _PRCTL(_PR_SET_PDEATHSIG, int(signum), 0, 0, 0) == 0


def _prctl() -> Any:
    """libc's ``prctl`` (Linux), looked up in the running program; else None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


def _watch_parent(parent: int) -> None:
    """Kill this process once it is orphaned (its parent pid changes)."""
    while os.getppid() == parent:
        time.sleep(_ORPHAN_POLL)
    os.kill(os.getpid(), signal.SIGKILL)


# Looked up here, in the parent: a child forked from a threaded process must
# not take the dynamic loader's lock (another thread may have held it).
_PRCTL = _prctl()
os.register_at_fork(after_in_child=_on_fork_in_child)


def _run_in_worker(call: TaskCall, call_id: int) -> tuple[str, Any]:
    events = _EVENTS
    events.put(("started", call_id, os.getpid()))
    try:
        return run_task(
            call,
            # Progress details stay in the worker: only the value travels.
            lambda progress, details=None: events.put(("progress", call_id, progress)),
        )
    finally:
        events.put(("done", call_id, None))


class _InFlight:
    """One call under way: its outer future and what the relay learned of it."""

    __slots__ = ("outer", "call", "progress", "pid", "process", "relayed", "value")

    def __init__(self, call: TaskCall, progress: ProgressCallback | None) -> None:
        self.outer: Outcome = concurrent.futures.Future()
        self.call = call
        self.progress = progress
        self.pid: int | None = None
        self.process: Any = None
        self.relayed = False
        self.value: Any = None


class ProcessDriver(TaskExecutor):
    """A pool of ``max_workers`` worker processes (one per CPU when None)."""

    def __init__(self, max_workers: int | None = None) -> None:
        self._max_workers = max_workers
        self._context = multiprocessing.get_context("fork")
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        self._events: Any = None
        self._relay: threading.Thread | None = None
        self._calls: dict[int, _InFlight] = {}
        self._by_future: dict[Outcome, int] = {}
        self._next_id = 0
        self._lock = threading.Lock()

    # -- life cycle ------------------------------------------------------
    def start(self) -> None:
        if self._events is None:
            self._events = self._context.SimpleQueue()
            self._relay = threading.Thread(
                target=self._relay_events, name="opsflow-process-relay", daemon=True
            )
            self._relay.start()
        if self._pool is None:
            self._pool = futurist.ProcessPoolExecutor(
                max_workers=self._max_workers, mp_context=self._context
            )

    def stop(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        if self._events is not None:
            self._events.put(None)
            assert self._relay is not None
            self._relay.join()
            self._events.close()
            self._events = None

    # -- submitting ------------------------------------------------------
    def submit(
        self, call: TaskCall, progress_callback: ProgressCallback | None = None
    ) -> Outcome:
        self.start()
        assert self._pool is not None
        flight = _InFlight(call, progress_callback)
        with self._lock:
            call_id = self._next_id = self._next_id + 1
            self._calls[call_id] = flight
            self._by_future[flight.outer] = call_id
        global _EVENTS
        try:
            with _FORK_LOCK:
                # Workers forked by this submit must inherit this driver's channel.
                _EVENTS = self._events
                _FORKING.parent = os.getpid()
                try:
                    inner = self._pool.submit(_run_in_worker, call, call_id)
                finally:
                    _FORKING.parent = None
        except BrokenProcessPool:
            with self._lock:
                del self._calls[call_id]
                self._by_future.pop(flight.outer, None)
            self._pool = None
            return self.submit(call, progress_callback)
        inner.add_done_callback(lambda done: self._on_done(call_id, done))
        return flight.outer

    def kill(self, future: concurrent.futures.Future[Any]) -> bool:
        """Stop the worker running ``future``'s task (SIGKILL)."""
        with self._lock:
            flight = self._calls.get(self._by_future.get(future, -1))
        if flight is None or flight.pid is None:
            return False
        try:
            os.kill(flight.pid, signal.SIGKILL)
        except ProcessLookupError:
            return False
        return True

    def check_transferable(
        self, tasks: Iterable[Task], values: Mapping[str, Any]
    ) -> None:
        """Raise ``NotTransferable`` naming a task or value that does not pickle."""
        for task in tasks:
            _check_pickle(f"task {task.name!r}", task)
        for name, value in values.items():
            _check_pickle(f"input {name!r}", value)

    # -- completion ------------------------------------------------------
    def _relay_events(self) -> None:
        events = self._events
        while True:
            message = events.get()
            if message is None:
                return
            kind, call_id, payload = message
            with self._lock:
                flight = self._calls.get(call_id)
            if flight is None:
                continue
            if kind == "started":
                flight.pid = payload
                flight.process = self._process_of(payload)
                # Timeouts run from here, not from submission.
                flight.outer.set_running_or_notify_cancel()
            elif kind == "progress" and flight.progress is not None:
                try:
                    flight.progress(payload)
                except Exception:
                    LOG.warning("Progress callback failed", exc_info=True)
            elif kind == "done":
                self._finish(call_id, relayed=True)

    def _process_of(self, pid: int) -> Any:
        processes = getattr(self._pool, "_processes", None) or {}
        return processes.get(pid)

    def _on_done(self, call_id: int, inner: concurrent.futures.Future[Any]) -> None:
        flight = self._calls.get(call_id)
        if flight is None:
            return
        error = inner.exception()
        if error is None:
            flight.value = inner.result()
            self._finish(call_id, relayed=False)
            return
        if isinstance(error, BrokenProcessPool):
            self._pool = None
            error = self._worker_died(flight)
        flight.value = (flight.call.action, Failure.from_exception(error))
        # A dead worker never says "done": do not wait for it.
        self._finish(call_id, relayed=True)

    def _finish(self, call_id: int, relayed: bool) -> None:
        """Resolve the outer future once the result and the last progress are in."""
        with self._lock:
            flight = self._calls.get(call_id)
            if flight is None:
                return
            if relayed:
                flight.relayed = True
            if not flight.relayed or flight.value is None:
                return
            del self._calls[call_id]
            self._by_future.pop(flight.outer, None)
        flight.outer.set_result(flight.value)

    def _worker_died(self, flight: _InFlight) -> exceptions.WorkerDied:
        code = None
        if flight.process is not None:
            flight.process.join(timeout=1.0)
            code = flight.process.exitcode
        if code is not None and code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            return exceptions.WorkerDied(
                f"the worker process (pid {flight.pid}) running this task was killed"
                f" by {name}"
            )
        if flight.pid is None:
            return exceptions.WorkerDied(
                "the process pool broke before this task started (another worker died)"
            )
        return exceptions.WorkerDied(
            f"the worker process (pid {flight.pid}) running this task stopped"
            f" abruptly (exit code {code}); its pool was replaced"
        )


def _check_pickle(what: str, value: Any) -> None:
    try:
        pickle.dumps(value)
    except Exception as exc:
        raise exceptions.NotTransferable(
            f"{what} cannot be sent to a process worker: {exc}"
        ) from exc
