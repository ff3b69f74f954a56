"""The worker side of the ``process`` driver, and the table it shares with the parent.

A pool forks its workers on its first submit, from the thread that submits
(:func:`forking`). Each fork gets a slot of the pool's :class:`Board`, into
which it writes its pid once and, around each call, the call's id, dies with
its parent and leaves SIGINT/SIGTERM to it. :func:`run_batch` is what a
worker runs for each submission: one or more calls, each pickled on its own
so that one that does not pickle (or whose result does not) fails alone.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing.connection
import os
import pickle
import signal
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from opsflow.executors.base import TaskCall, run_task
from opsflow.types.failure import Failure

__all__ = ["BATCH_BUDGET", "Board", "forking", "run_batch"]

#: Seconds of calls a worker runs from one submission before it hands the
#: rest back unstarted, for the parent to give to whichever worker is free.
BATCH_BUDGET = 0.002

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
_BOARD: Board | None = None
_SLOT = -1
#: ``prctl`` option: the signal this process gets when its parent dies.
_PR_SET_PDEATHSIG = 1
#: Seconds between two looks of the watchdog used where prctl is missing.
_ORPHAN_POLL = 0.2


class Board:
    """Which call each worker of one pool is running, in memory they share.

    Made in the parent before the pool forks; each worker gets a slot when
    it is forked, writes its pid there once and, around each call, the
    call's id (0 when idle); once a call has run, its id also goes to the
    slot's ``finished`` entry. The parent only reads it: a memory read tells
    it which worker runs which call, and how far a worker that died had got
    through its batch, with no message per call.
    """

    __slots__ = ("pids", "calls", "finished", "processes", "dead", "_claimed")

    def __init__(self, context: Any, size: int) -> None:
        self.pids = context.RawArray("q", size)
        self.calls = context.RawArray("q", size)
        self.finished = context.RawArray("q", size)
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

    def finished_of(self, call_ids: Sequence[int]) -> tuple[int | None, list[int]]:
        """Of one batch's ``call_ids`` (in order), those its worker ran to the
        end, and that worker's pid (None when it finished none)."""
        position = {call_id: i for i, call_id in enumerate(call_ids)}
        for slot in range(len(self.finished)):
            last = position.get(self.finished[slot])
            if last is not None:
                return self.pids[slot] or None, list(call_ids[: last + 1])
        return None, []

    def pid_running(self, call_id: int) -> int | None:
        """The pid of the worker running ``call_id`` now, else None."""
        calls = self.calls
        for slot in range(len(calls)):
            if calls[slot] == call_id:
                return self.pids[slot] or None
        return None


@contextlib.contextmanager
def forking(board: Board, events: Any) -> Iterator[None]:
    """While in it, workers this thread forks take a slot of ``board``,
    report progress on ``events`` and die with this process."""
    global _EVENTS
    with _FORK_LOCK:
        _EVENTS = events
        _FORKING.parent = os.getpid()
        _FORKING.board = board
        try:
            yield
        finally:
            _FORKING.parent = None
            _FORKING.board = None


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


def run_batch(
    calls: Sequence[tuple[bytes, int, str]],
) -> tuple[list[tuple[bytes, int]], float]:
    """In a worker: run ``(pickled call, call_id, action)`` triples in order.

    Returns each outcome that ran, pickled, with how many progress values its
    task sent, and the seconds they took. Once :data:`BATCH_BUDGET` is spent
    the calls left are not started: the parent sees fewer outcomes than calls
    and sends the rest again.
    """
    started = time.perf_counter()
    done: list[tuple[bytes, int]] = []
    for payload, call_id, action in calls:
        if done and time.perf_counter() - started > BATCH_BUDGET:
            break
        try:
            call: TaskCall = pickle.loads(payload)
        except Exception as exc:
            done.append((_dump((action, Failure.from_exception(exc))), 0))
        else:
            done.append(_run_one(call, call_id))
    return done, time.perf_counter() - started


def _dump(outcome: tuple[str, Any]) -> bytes:
    return pickle.dumps(outcome, pickle.HIGHEST_PROTOCOL)


def _run_one(call: TaskCall, call_id: int) -> tuple[bytes, int]:
    events, board, slot = _EVENTS, _BOARD, _SLOT
    sent = 0

    def relay(progress: float, details: Mapping[str, Any] | None = None) -> None:
        # Progress details stay in the worker: only the value travels.
        nonlocal sent
        events.put((call_id, progress))
        sent += 1

    if board is not None and slot >= 0:
        board.calls[slot] = call_id
    try:
        outcome = run_task(call, relay)
    except BaseException as exc:
        # What run_task leaves to its caller (a task's pre_/post_ hooks) is
        # this call's failure, not its batch's.
        outcome = (call.action, Failure.from_exception(exc))
    if board is not None and slot >= 0:
        board.finished[slot] = call_id
        board.calls[slot] = 0
    try:
        return _dump(outcome), sent
    except Exception as exc:
        # What the task returned cannot travel: that is its failure.
        return _dump((call.action, Failure.from_exception(exc))), sent
