"""``process``: tasks run in worker processes of a futurist process pool.

Tasks, their arguments and results are pickled across; a task's exception
comes back as a ``Failure`` carrying the worker's traceback text and the
exception's type names. Progress a task reports in its worker is relayed to
the engine in order, before the task's outcome.

Workers are forked (Linux). Each writes the call it is running into a slot
of a table the pool's workers share with the parent (a memory write, no
message; see :mod:`opsflow.executors.process_worker`), so the parent knows,
without a message per call, which worker runs which call, and that:

* a task past its timeout is stopped by killing its worker (SIGKILL);
* a worker killed by anything (SIGKILL, the OOM killer) fails its task with
  a :class:`~opsflow.exceptions.WorkerDied` naming the signal, the broken
  pool is replaced, and tasks that were running or waiting in the same pool
  fail too (their workers were stopped with it);
* a worker dies with the process that forked it: killed with it (``kill
  -9``), a worker would otherwise go on running its step unseen while a
  resume of the run starts that step again. On Linux the kernel sends the
  worker SIGKILL when its parent dies (``PR_SET_PDEATHSIG``); elsewhere a
  watchdog thread in the worker notices that it was orphaned.

A call costs the parent one submit to the pool and one result back while a
worker is free. When every worker is busy, calls wait in the driver, and
a submission that frees up takes several of them at once: as many as fit
in about two milliseconds of a worker's time at the pace calls have been
taking, so a batch only forms of short calls (a call that has taken more
than that goes alone). The worker hands back the calls it has not started
once that time is spent, for whichever worker is free. The price: calls
sent behind one that runs unexpectedly long wait for it, where alone they
could have gone to another worker. Nothing else crosses unless the task
reports progress: each progress value is one message on a channel of its
own, and the result says how many the task sent, so the outcome waits until
those are relayed.
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import functools
import logging
import multiprocessing
import os
import pickle
import signal
import threading
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
)
from opsflow.executors.process_worker import BATCH_BUDGET, Board, forking, run_batch
from opsflow.task import Task
from opsflow.types.failure import Failure

__all__ = ["ProcessDriver"]

#: Imported with the driver, in the thread that chooses it (see pools).
futurist = pools.futurist()

LOG = logging.getLogger(__name__)

#: Submissions under way per worker: one running, one queued behind it, so
#: that a worker never waits for the parent between two.
_SUBMISSIONS_PER_WORKER = 2
#: The most calls one submission carries.
_MAX_BATCH = 64
#: Weight of the newest batch in the moving average of a call's duration.
_PACE_WEIGHT = 0.2


class _CallFuture(concurrent.futures.Future[tuple[str, Any]]):
    """A call's future as the engine sees it: RUNNING once a worker took it.

    Nothing tells the parent when a worker takes a call; the pool's table
    does, and this future reads it when asked (the engine starts the clock
    of a task's timeout then).
    """

    def __init__(self, board: Board, call_id: int) -> None:
        super().__init__()
        #: The table of the pool the call was given to.
        self.board = board
        self.call_id = call_id

    def running(self) -> bool:
        if not super().running() and not self.done() and self.worker_pid() is not None:
            with contextlib.suppress(RuntimeError):  # it finished meanwhile
                self.set_running_or_notify_cancel()
        return super().running()

    def worker_pid(self) -> int | None:
        """The pid of the worker running this call now, else None."""
        return self.board.pid_running(self.call_id)


class _InFlight:
    """One call under way: its outer future and what came back of it so far."""

    __slots__ = (
        "outer",
        "call",
        "call_id",
        "progress",
        "relayed",
        "expected",
        "value",
    )

    def __init__(
        self,
        call: TaskCall,
        call_id: int,
        board: Board,
        progress: ProgressCallback | None,
    ) -> None:
        self.outer = _CallFuture(board, call_id)
        self.call = call
        self.call_id = call_id
        self.progress = progress
        #: Progress values relayed so far, and how many the task sent (known
        #: with its result).
        self.relayed = 0
        self.expected: int | None = None
        self.value: Any = None

    def move_to(self, board: Board) -> None:
        """The call goes to another pool, whose table ``board`` is."""
        self.outer.board = board


class _Pool:
    """One futurist process pool, its table, and the calls waiting for it."""

    __slots__ = ("executor", "board", "backlog", "outstanding", "forked", "closed")

    def __init__(self, context: Any, max_workers: int | None) -> None:
        self.executor = futurist.ProcessPoolExecutor(
            max_workers=max_workers, mp_context=context
        )
        size = getattr(self.executor, "_max_workers", None) or max_workers
        self.board = Board(context, size or os.cpu_count() or 1)
        #: Calls submitted to the driver, not yet to the pool, in order.
        self.backlog: collections.deque[_InFlight] = collections.deque()
        #: Submissions to the pool whose results have not come back.
        self.outstanding = 0
        #: True once its first submission forked its workers.
        self.forked = False
        #: True once it broke or was stopped: nothing more is handed to it.
        self.closed = False


class ProcessDriver(TaskExecutor):
    """A pool of ``max_workers`` worker processes (one per CPU when None)."""

    def __init__(self, max_workers: int | None = None) -> None:
        self._max_workers = max_workers
        self._context = multiprocessing.get_context("fork")
        self._pool: _Pool | None = None
        self._events: Any = None
        self._relay: threading.Thread | None = None
        self._calls: dict[int, _InFlight] = {}
        self._next_id = 0
        #: Seconds a call has been taking in a worker (a moving average):
        #: how many calls fit in one submission.
        self._call_seconds = 0.0
        self._lock = threading.Lock()

    # -- life cycle ------------------------------------------------------
    def start(self) -> None:
        if self._events is None:
            self._events = self._context.SimpleQueue()
            self._relay = threading.Thread(
                target=self._relay_events, name="opsflow-process-relay", daemon=True
            )
            self._relay.start()
        with self._lock:
            self._current_pool()

    def _current_pool(self) -> _Pool:
        """The pool calls go to, made if there is none (with the lock held).

        Called in the engine's thread only: the pool's workers are forked
        from the thread that makes its first submission, and die with it.
        """
        if self._pool is None:
            self._pool = _Pool(self._context, self._max_workers)
        return self._pool

    def stop(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
            if pool is not None:
                pool.closed = True
        if pool is not None:
            # Waits for the submissions under way (and their callbacks, which
            # may hand calls back): the calls left never started.
            pool.executor.shutdown(wait=True)
            for flight in self._retire(pool):
                self._fail(flight, _stopped())
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
        with self._lock:
            call_id = self._next_id = self._next_id + 1
            # Made again here if one broke since start() looked.
            pool = self._current_pool()
            flight = _InFlight(call, call_id, pool.board, progress_callback)
            self._calls[call_id] = flight
            pool.backlog.append(flight)
        self._dispatch(pool, engine_thread=True)
        return flight.outer

    def _dispatch(self, pool: _Pool, engine_thread: bool) -> None:
        """Hand waiting calls to ``pool`` while it has room for a submission."""
        while True:
            with self._lock:
                window = _SUBMISSIONS_PER_WORKER * len(pool.board.pids)
                if (
                    pool.closed
                    or not pool.backlog
                    or pool.outstanding >= window
                    or not (pool.forked or engine_thread)
                ):
                    return
                batch = self._take_batch(pool, window - pool.outstanding)
                pool.outstanding += 1
            self._send(pool, batch, engine_thread)

    def _take_batch(self, pool: _Pool, free: int) -> list[_InFlight]:
        backlog, size = pool.backlog, 1
        # Only calls that would wait for a worker anyway are grouped.
        if len(backlog) > free and self._call_seconds > 0:
            fit = int(BATCH_BUDGET / self._call_seconds) or 1
            size = min(_MAX_BATCH, fit, -(-len(backlog) // free))
        return [backlog.popleft() for _ in range(size)]

    def _send(self, pool: _Pool, batch: list[_InFlight], engine_thread: bool) -> None:
        payloads, sent = [], []
        for flight in batch:
            try:
                payload = pickle.dumps(flight.call, pickle.HIGHEST_PROTOCOL)
            except Exception as exc:
                self._fail(flight, exc)
                continue
            payloads.append((payload, flight.call_id, flight.call.action))
            sent.append(flight)
        if not sent:
            with self._lock:
                pool.outstanding -= 1
            return
        try:
            if pool.forked:
                inner = pool.executor.submit(run_batch, payloads)
            else:
                # The pool forks its workers now, from this (the engine's)
                # thread: they must inherit the progress channel and the table.
                with forking(pool.board, self._events):
                    inner = pool.executor.submit(run_batch, payloads)
                pool.board.processes.update(
                    getattr(pool.executor, "_processes", None) or {}
                )
                pool.forked = True
        except BrokenProcessPool:
            # It broke since the last result came back: none of these calls
            # reached a worker.
            stranded = [*sent, *self._retire(pool)]
            if engine_thread:
                self._move_to_fresh_pool(stranded)
            else:
                for flight in stranded:
                    self._fail(flight, _broke_before_start())
            return
        except RuntimeError:  # stop() shut the pool down meanwhile
            for flight in sent:
                self._fail(flight, _stopped())
            return
        inner.add_done_callback(functools.partial(self._on_done, pool, sent))

    def _move_to_fresh_pool(self, flights: list[_InFlight]) -> None:
        with self._lock:
            pool = self._current_pool()
            for flight in flights:
                flight.move_to(pool.board)
            pool.backlog.extend(flights)
        self._dispatch(pool, engine_thread=True)

    def kill(self, future: concurrent.futures.Future[Any]) -> bool:
        """Stop the worker running ``future``'s task (SIGKILL)."""
        if not isinstance(future, _CallFuture):
            return False
        pid = future.worker_pid()
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

    def _on_done(
        self,
        pool: _Pool,
        batch: list[_InFlight],
        inner: concurrent.futures.Future[tuple[list[tuple[bytes, int]], float]],
    ) -> None:
        error = inner.exception()
        if error is None:
            outcomes, seconds = inner.result()
            with self._lock:
                pool.outstanding -= 1
                pace = seconds / len(outcomes)
                self._call_seconds += (
                    _PACE_WEIGHT * (pace - self._call_seconds)
                    if self._call_seconds
                    else pace
                )
                # Those it had no time for go first to the next free worker.
                pool.backlog.extendleft(reversed(batch[len(outcomes) :]))
            self._dispatch(pool, engine_thread=False)
            for flight, (payload, sent) in zip(
                batch[: len(outcomes)], outcomes, strict=True
            ):
                try:
                    value = pickle.loads(payload)
                except Exception as exc:
                    self._fail(flight, exc)
                else:
                    self._finish(flight.call_id, value=value, expected=sent)
            return
        if not isinstance(error, BrokenProcessPool):
            # The pool itself failed the submission (a worker's own failures
            # come back as outcomes).
            for flight in batch:
                self._fail(flight, error)
            with self._lock:
                pool.outstanding -= 1
            self._dispatch(pool, engine_thread=False)
            return
        waiting = self._retire(pool)
        # Calls its worker had finished are in the table, their outcomes lost
        # with the worker.
        ran_by, finished = pool.board.finished_of([f.call_id for f in batch])
        for flight in batch:
            worker = ran_by if flight.call_id in finished else None
            self._fail(flight, self._worker_died(flight, worker))
        for flight in waiting:
            self._fail(flight, _broke_before_start())

    def _retire(self, pool: _Pool) -> list[_InFlight]:
        """``pool`` broke: forget it; returns the calls that were waiting for it."""
        with self._lock:
            pool.closed = True
            if self._pool is pool:
                self._pool = None
            waiting = list(pool.backlog)
            pool.backlog.clear()
        return waiting

    def _fail(self, flight: _InFlight, error: BaseException) -> None:
        # Whatever progress it sent is not waited for: a dead worker's may
        # never come.
        failure = Failure.from_exception(error)
        self._finish(flight.call_id, value=(flight.call.action, failure), expected=0)

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
        flight.outer.set_result(flight.value)

    def _worker_died(
        self, flight: _InFlight, finished_by: int | None
    ) -> exceptions.WorkerDied:
        """Why ``flight`` failed with its pool; ``finished_by``: the pid of
        the worker that had run it to the end, if one had."""
        # A killed worker never cleared its slot: it still names the call.
        board = flight.outer.board
        running = board.pid_running(flight.call_id)
        dead = board.stop_after_death()
        pid = running if running is not None else finished_by
        if pid is None:
            return _broke_before_start()
        worker = f"the worker process (pid {pid}) " + (
            "running this task"
            if running is not None
            else "that had run this task, before its outcome came back,"
        )
        if pid not in dead:
            named = ", ".join(str(p) for p in sorted(dead)) or "unknown"
            return exceptions.WorkerDied(
                f"{worker} was stopped: another worker of its pool (pid {named}) died"
            )
        process = board.processes.get(pid)
        code = None
        if process is not None:
            process.join(timeout=1.0)
            code = process.exitcode
        if code is not None and code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            return exceptions.WorkerDied(f"{worker} was killed by {name}")
        return exceptions.WorkerDied(
            f"{worker} stopped abruptly (exit code {code}); its pool was replaced"
        )


def _broke_before_start() -> exceptions.WorkerDied:
    return exceptions.WorkerDied(
        "the process pool broke before this task started (another worker died)"
    )


def _stopped() -> exceptions.AtomCancelled:
    return exceptions.AtomCancelled("the executor stopped before this task started")


def _check_pickle(what: str, value: Any) -> None:
    try:
        pickle.dumps(value)
    except Exception as exc:
        raise exceptions.NotTransferable(
            f"{what} cannot be sent to a process worker: {exc}"
        ) from exc
