"""``process``: tasks run in worker processes of a futurist process pool.

Tasks, their arguments and results are pickled across; a task's exception
comes back as a ``Failure`` carrying the worker's traceback text and the
exception's type names. Progress a task reports in its worker is relayed to
the engine in order, before the task's outcome.

Workers are forked (Linux). Each writes the call it is running into a slot
of a table the pool's workers share with the parent (a memory write, no
message), so the parent knows, without a message per call, which worker runs
which call, and that:

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

A call costs the parent one submit to the pool and one result back: nothing
else crosses unless the task reports progress. Each progress value is one
message on a channel of its own, and the result says how many the task sent,
so the outcome waits until those are relayed.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import ctypes
import logging
import multiprocessing
import multiprocessing.connection
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
# channel each worker reports progress on.
_EVENTS: Any = None
_FORK_LOCK = threading.Lock()
#: ``parent`` is set (to this process's pid) and ``board`` to the pool's
#: table in the thread that submits to a pool, while it submits: the pool
#: forks its workers then, from that thread, and only those forks are made
#: to die with their parent and given a slot of the table.
_FORKING = threading.local()
#: In a worker: its pool's table and the slot it writes its call into.
_BOARD: _Board | None = None
_SLOT = -1
#: ``prctl`` option: the signal this process gets when its parent dies.
_PR_SET_PDEATHSIG = 1
#: Seconds between two looks of the watchdog used where prctl is missing.
_ORPHAN_POLL = 0.2


class _Board:
    """Which call each worker of one pool is running, in memory they share.

    Made in the parent before the pool forks; each worker gets a slot when
    it is forked, writes its pid there once and, around each call, the
    call's id (0 when idle). The parent only reads it.
    """

    __slots__ = ("pids", "calls", "processes", "dead", "_claimed")

    def __init__(self, context: Any, size: int) -> None:
        self.pids = context.RawArray("q", size)
        self.calls = context.RawArray("q", size)
        #: pid -> the pool's process object, to read a dead worker's exit code.
        self.processes: dict[int, Any] = {}
        #: Set when the pool broke: the pids of the workers that had died.
        self.dead: frozenset[int] | None = None
        self._claimed = 0

    def stop_after_death(self) -> frozenset[int]:
        """The workers that died; every other worker is killed (SIGKILL).

        When a worker dies the pool breaks and fails every call; it asks the
        other workers to stop with SIGTERM, which they leave to the parent,
        so without this their tasks would go on running unseen.
        """
        if self.dead is None:
            # A worker's sentinel is ready as soon as it exits, a moment
            # before it can be reaped (is_alive() may still say True).
            by_sentinel = {p.sentinel: pid for pid, p in self.processes.items()}
            ready = multiprocessing.connection.wait(list(by_sentinel), timeout=0)
            self.dead = frozenset(by_sentinel[s] for s in ready)
            for pid in self.processes.keys() - self.dead:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        return self.dead

    def claim(self) -> int:
        """In the parent, about to fork a worker: its slot (-1 when none is left)."""
        if self._claimed >= len(self.pids):
            return -1
        self._claimed += 1
        return self._claimed - 1

    def pid_running(self, call_id: int) -> int | None:
        """The pid of the worker running ``call_id`` now, else None."""
        calls = self.calls
        for slot in range(len(calls)):
            if calls[slot] == call_id:
                return self.pids[slot] or None
        return None


def _before_fork_in_parent() -> None:
    board = getattr(_FORKING, "board", None)
    if board is not None:
        _FORKING.slot = board.claim()


def _on_fork_in_child() -> None:
    """In a freshly forked pool worker: leave signals to the parent, die with it."""
    parent = getattr(_FORKING, "parent", None)
    if parent is None:  # a fork by other code of this process: not ours
        return
    _FORKING.parent = None
    global _BOARD, _SLOT
    _BOARD, _SLOT = _FORKING.board, _FORKING.slot
    _FORKING.board = None
    if _BOARD is not None and _SLOT >= 0:
        _BOARD.pids[_SLOT] = os.getpid()
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
os.register_at_fork(before=_before_fork_in_parent, after_in_child=_on_fork_in_child)


def _run_in_worker(call: TaskCall, call_id: int) -> tuple[tuple[str, Any], int]:
    """Run ``call``; returns its outcome and how many progress values it sent."""
    events = _EVENTS
    board, slot = _BOARD, _SLOT
    sent = 0

    def relay(progress: float, details: Mapping[str, Any] | None = None) -> None:
        # Progress details stay in the worker: only the value travels.
        nonlocal sent
        events.put((call_id, progress))
        sent += 1

    if board is not None and slot >= 0:
        board.calls[slot] = call_id
    try:
        return run_task(call, relay), sent
    finally:
        if board is not None and slot >= 0:
            board.calls[slot] = 0


class _CallFuture(concurrent.futures.Future[tuple[str, Any]]):
    """A call's future as the engine sees it: RUNNING once a worker took it.

    Nothing tells the parent when a worker takes a call; the pool's table
    does, and this future reads it when asked (the engine starts the clock
    of a task's timeout then).
    """

    def __init__(self, board: _Board, call_id: int) -> None:
        super().__init__()
        self._board = board
        self._call_id = call_id

    def running(self) -> bool:
        if (
            not super().running()
            and not self.done()
            and self._board.pid_running(self._call_id) is not None
        ):
            with contextlib.suppress(RuntimeError):  # it finished meanwhile
                self.set_running_or_notify_cancel()
        return super().running()


class _InFlight:
    """One call under way: its outer future and what came back of it so far."""

    __slots__ = (
        "outer",
        "call",
        "call_id",
        "board",
        "progress",
        "relayed",
        "expected",
        "value",
    )

    def __init__(
        self,
        call: TaskCall,
        call_id: int,
        board: _Board,
        progress: ProgressCallback | None,
    ) -> None:
        self.outer: Outcome = _CallFuture(board, call_id)
        self.call = call
        self.call_id = call_id
        self.board = board
        self.progress = progress
        #: Progress values relayed so far, and how many the task sent (known
        #: with its result).
        self.relayed = 0
        self.expected: int | None = None
        self.value: Any = None


class ProcessDriver(TaskExecutor):
    """A pool of ``max_workers`` worker processes (one per CPU when None)."""

    def __init__(self, max_workers: int | None = None) -> None:
        self._max_workers = max_workers
        self._context = multiprocessing.get_context("fork")
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        self._board: _Board | None = None
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
            pool = futurist.ProcessPoolExecutor(
                max_workers=self._max_workers, mp_context=self._context
            )
            size = getattr(pool, "_max_workers", None) or self._max_workers
            self._board = _Board(self._context, size or os.cpu_count() or 1)
            self._pool = pool

    def stop(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
            self._board = None
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
        pool, board = self._pool, self._board
        assert pool is not None and board is not None
        with self._lock:
            call_id = self._next_id = self._next_id + 1
            flight = _InFlight(call, call_id, board, progress_callback)
            self._calls[call_id] = flight
            self._by_future[flight.outer] = call_id
        global _EVENTS
        try:
            with _FORK_LOCK:
                # Workers forked by this submit must inherit this driver's
                # channel and their pool's table.
                _EVENTS = self._events
                _FORKING.parent = os.getpid()
                _FORKING.board = board
                try:
                    inner = pool.submit(_run_in_worker, call, call_id)
                finally:
                    _FORKING.parent = None
                    _FORKING.board = None
            if len(board.processes) < len(board.pids):
                board.processes.update(getattr(pool, "_processes", None) or {})
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
        pid = None if flight is None else flight.board.pid_running(flight.call_id)
        if pid is None:
            return False
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return False
        return True

    def check_transferable(
        self, tasks: Iterable[Task], values: Mapping[str, Any]
    ) -> None:
        """Raise ``NotTransferable`` naming a task or value that does not pickle."""
        tasks = list(tasks)
        with contextlib.suppress(Exception):
            # One pickle of them all costs a quarter of one per task: only
            # when it fails is each tried alone, to name what does not pickle.
            pickle.dumps((tasks, dict(values)))
            return
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
            call_id, progress = message
            with self._lock:
                flight = self._calls.get(call_id)
            if flight is None:
                continue
            if flight.progress is not None:
                try:
                    flight.progress(progress)
                except Exception:
                    LOG.warning("Progress callback failed", exc_info=True)
            self._finish(call_id, relayed=1)

    def _on_done(self, call_id: int, inner: concurrent.futures.Future[Any]) -> None:
        flight = self._calls.get(call_id)
        if flight is None:
            return
        error = inner.exception()
        if error is None:
            outcome, sent = inner.result()
            self._finish(call_id, value=outcome, expected=sent)
            return
        if isinstance(error, BrokenProcessPool):
            self._pool = None
            error = self._worker_died(flight)
        # Whatever progress it sent is not waited for: a dead worker's may
        # never come.
        failure = Failure.from_exception(error)
        self._finish(call_id, value=(flight.call.action, failure), expected=0)

    def _finish(
        self, call_id: int, relayed: int = 0, value: Any = None, expected: int = 0
    ) -> None:
        """Resolve the outer future once the result and all its progress are in."""
        with self._lock:
            flight = self._calls.get(call_id)
            if flight is None:
                return
            flight.relayed += relayed
            if value is not None:
                flight.value, flight.expected = value, expected
            if flight.expected is None or flight.relayed < flight.expected:
                return
            del self._calls[call_id]
            self._by_future.pop(flight.outer, None)
        flight.outer.set_result(flight.value)

    def _worker_died(self, flight: _InFlight) -> exceptions.WorkerDied:
        # A killed worker never cleared its slot: it still names the call.
        pid = flight.board.pid_running(flight.call_id)
        dead = flight.board.stop_after_death()
        if pid is not None and pid not in dead:
            named = ", ".join(str(p) for p in sorted(dead)) or "unknown"
            return exceptions.WorkerDied(
                f"the worker process (pid {pid}) running this task was stopped:"
                f" another worker of its pool (pid {named}) died"
            )
        process = flight.board.processes.get(pid) if pid is not None else None
        code = None
        if process is not None:
            process.join(timeout=1.0)
            code = process.exitcode
        if code is not None and code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            return exceptions.WorkerDied(
                f"the worker process (pid {pid}) running this task was killed by {name}"
            )
        if pid is None:
            return exceptions.WorkerDied(
                "the process pool broke before this task started (another worker died)"
            )
        return exceptions.WorkerDied(
            f"the worker process (pid {pid}) running this task stopped"
            f" abruptly (exit code {code}); its pool was replaced"
        )


def _check_pickle(what: str, value: Any) -> None:
    try:
        pickle.dumps(value)
    except Exception as exc:
        raise exceptions.NotTransferable(
            f"{what} cannot be sent to a process worker: {exc}"
        ) from exc
