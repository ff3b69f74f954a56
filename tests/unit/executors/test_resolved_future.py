"""The future an in-line driver hands back behaves as a finished Future."""

from __future__ import annotations

import concurrent.futures
import threading

import pytest
from futurist import waiters

from opsflow.executors.base import EXECUTED, completed


def test_it_is_finished_with_its_result() -> None:
    future = completed(EXECUTED, 42)
    assert isinstance(future, concurrent.futures.Future)
    assert future.done() and not future.running() and not future.cancelled()
    assert future.result() == (EXECUTED, 42)
    assert future.result(timeout=0) == (EXECUTED, 42)
    assert future.exception() is None
    assert "finished" in repr(future)


def test_it_cannot_be_resolved_again_nor_cancelled() -> None:
    future = completed(EXECUTED, 1)
    with pytest.raises(concurrent.futures.InvalidStateError):
        future.set_result((EXECUTED, 2))
    with pytest.raises(concurrent.futures.InvalidStateError):
        future.set_exception(RuntimeError("late"))
    assert future.cancel() is False
    assert future.result() == (EXECUTED, 1)


def test_a_done_callback_runs_at_once() -> None:
    future = completed(EXECUTED, "x")
    seen = []
    future.add_done_callback(lambda f: seen.append(f.result()))
    assert seen == [(EXECUTED, "x")]


def test_waiting_on_it_with_pending_futures_returns_it() -> None:
    # concurrent.futures and futurist install waiters on every future they
    # are given: the resolved ones must take them without sharing a list.
    resolved = [completed(EXECUTED, i) for i in range(3)]
    pending: concurrent.futures.Future[int] = concurrent.futures.Future()
    done, not_done = concurrent.futures.wait(
        [*resolved, pending], return_when=concurrent.futures.FIRST_COMPLETED
    )
    assert done == set(resolved) and not_done == {pending}
    done, not_done = waiters.wait_for_any([*resolved, pending], timeout=0)
    assert done == set(resolved) and not_done == {pending}
    assert list(concurrent.futures.as_completed(resolved)) != []
    # Waiting on all of them returns once the pending one resolves, from
    # another thread, while resolved futures share a lock.
    threading.Timer(0.05, pending.set_result, args=(7,)).start()
    done, not_done = concurrent.futures.wait([*resolved, pending], timeout=5)
    assert not not_done and pending.result() == 7


def test_each_keeps_a_lock_of_its_own() -> None:
    # Waits take their futures' locks in one global order (by id); a lock
    # shared between futures would break it and two waits could deadlock.
    first, second = completed(EXECUTED, 1), completed(EXECUTED, 2)
    assert first._condition is first._condition
    assert first._condition is not second._condition
