"""The ``process`` driver: what crosses the process boundary, and what happens
when a worker dies (issue 4).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time

import pytest
from drivertasks import (
    EVENTLET_WARNINGS,
    Boom,
    HoldsFirstRun,
    Progressing,
    ReturnsLock,
    Step,
)

from opsflow import engines, exceptions, states, task
from opsflow.executors.process import ProcessDriver
from opsflow.patterns import linear_flow, unordered_flow

pytestmark = [pytest.mark.filterwarnings(f) for f in EVENTLET_WARNINGS]


def _load(flow, **kwargs):
    kwargs.setdefault("executor", "process")
    kwargs.setdefault("max_workers", 2)
    return engines.load(flow, engine="parallel", **kwargs)


def _wait_for_file(path, timeout=10.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path):
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
            if text:
                return text
        time.sleep(0.01)
    raise AssertionError(f"{path} never appeared")


def _run_in_background(engine):
    """Run ``engine`` in a thread; returns (thread, outcome dict)."""
    outcome: dict = {}

    def run():
        try:
            engine.run()
        except BaseException as exc:  # recorded for the test to inspect
            outcome["error"] = exc
        outcome["ended_at"] = time.monotonic()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def test_tasks_run_in_worker_processes_not_in_the_engine(journal):
    flow = linear_flow.Flow("f").add(Step("a", journal), Step("b", journal))

    _load(flow).run()

    pids = {e.pid for e in journal.entries()}
    assert os.getpid() not in pids
    assert len(pids) >= 1


def test_a_killed_worker_fails_its_task_naming_the_signal_and_the_flow_reverts(
    tmp_path, journal
):
    # Given a flow whose second task hangs in its worker on the first run
    pid_file = str(tmp_path / "worker.pid")
    flow = linear_flow.Flow("f").add(
        Step("before", journal),
        HoldsFirstRun(journal, pid_file, name="victim"),
    )
    driver = ProcessDriver(max_workers=2)
    engine = _load(flow, executor=driver)
    thread, outcome = _run_in_background(engine)

    # When its worker process is killed with SIGKILL
    worker_pid = int(_wait_for_file(pid_file))
    assert worker_pid != os.getpid()
    killed_at = time.monotonic()
    os.kill(worker_pid, signal.SIGKILL)
    thread.join(timeout=10)

    # Then the run ends soon, REVERTED, with a WorkerDied naming SIGKILL
    assert not thread.is_alive(), "the run hung after its worker was killed"
    assert outcome["ended_at"] - killed_at < 10
    error = outcome["error"]
    assert isinstance(error, exceptions.WorkerDied)
    assert "SIGKILL" in str(error)
    assert str(worker_pid) in str(error)
    storage = engine.storage
    assert storage.get_flow_state() == states.REVERTED
    assert storage.get_atom_state("victim") == states.REVERTED
    assert storage.get_atom_state("before") == states.REVERTED
    assert journal.names("revert") == ["victim", "before"]
    victim_revert = journal.one("revert", "victim")
    assert "WorkerDied" in victim_revert.info["result"]["failure"][0]

    # And the same driver runs the flow again on a fresh pool
    os.remove(pid_file)
    engine.run()

    assert engine.storage.get_flow_state() == states.SUCCESS
    assert int(_wait_for_file(pid_file)) != worker_pid
    assert journal.count("executed", "victim") == 1


def _wait_for_entry(journal, kind, name, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [e for e in journal.entries() if (e.event, e.name) == (kind, name)]
        if found:
            return found[0]
        time.sleep(0.01)
    raise AssertionError(f"no {kind} of {name} in the journal")


def test_a_dead_worker_takes_its_pool_down_stopping_the_other_workers(
    tmp_path, journal
):
    # Given two tasks running side by side on two workers
    pid_file = str(tmp_path / "worker.pid")
    flow = unordered_flow.Flow("f").add(
        HoldsFirstRun(journal, pid_file, name="victim"),
        Step("sibling", journal, sleep=20.0),
    )
    engine = _load(flow)
    thread, outcome = _run_in_background(engine)
    victim_pid = int(_wait_for_file(pid_file))
    sibling_pid = _wait_for_entry(journal, "execute", "sibling").pid

    # When one worker is killed
    os.kill(victim_pid, signal.SIGKILL)
    thread.join(timeout=10)

    # Then the other task fails too, naming the dead worker, and its worker
    # is gone: it does not go on running the task unseen
    assert not thread.is_alive(), "the run hung after its worker was killed"
    failures = engine.storage.get_execute_failures()
    assert "killed by SIGKILL" in str(failures["victim"])
    sibling = str(failures["sibling"])
    assert "another worker of its pool" in sibling
    assert str(victim_pid) in sibling
    with pytest.raises(ProcessLookupError):
        os.kill(sibling_pid, 0)
    assert journal.names("executed") == []
    assert engine.storage.get_flow_state() == states.REVERTED


def test_calls_queued_in_a_pool_that_broke_fail_without_running(tmp_path, journal):
    # Given one worker, busy, and a task queued behind it
    pid_file = str(tmp_path / "worker.pid")
    flow = unordered_flow.Flow("f").add(
        HoldsFirstRun(journal, pid_file, name="victim"), Step("queued", journal)
    )
    engine = _load(flow, max_workers=1)
    thread, outcome = _run_in_background(engine)
    victim_pid = int(_wait_for_file(pid_file))

    # When the worker is killed
    os.kill(victim_pid, signal.SIGKILL)
    thread.join(timeout=10)

    # Then the queued task fails, never started (unless it ran first)
    assert not thread.is_alive()
    failures = engine.storage.get_execute_failures()
    if "queued" in failures:
        assert "broke before this task started" in str(failures["queued"])
        assert journal.names("execute") == ["victim"]
    else:
        assert journal.names("execute") == ["queued", "victim"]
    assert engine.storage.get_flow_state() == states.REVERTED


def test_a_result_that_does_not_pickle_fails_its_task_saying_why(journal):
    engine = _load(ReturnsLock(name="locked"))

    with pytest.raises(Exception, match="pickle"):
        engine.run()

    assert "pickle" in str(engine.storage.get_execute_failures()["locked"])


def test_no_worker_process_outlives_the_run(journal):
    _load(linear_flow.Flow("f").add(Step("a", journal), Step("b", journal))).run()

    assert multiprocessing.active_children() == []


def test_progress_from_a_worker_arrives_in_order_before_success(journal):
    values = [round(i / 40, 3) for i in range(1, 40)]
    engine = _load(Progressing("p", journal, values))
    seen = []
    engine.atom_notifier.register(
        task.EVENT_UPDATE_PROGRESS,
        lambda event, details: seen.append(details["progress"]),
    )
    engine.atom_notifier.register(
        states.SUCCESS, lambda state, details: seen.append(state)
    )

    engine.run()

    success_at = seen.index(states.SUCCESS)
    assert seen[:success_at] == [0.0, *values]
    assert seen[success_at + 1 :] == [1.0]


def test_a_task_error_comes_back_with_the_worker_traceback_and_type_names(journal):
    engine = _load(linear_flow.Flow("f").add(Step("bad", journal, fail=True)))

    with pytest.raises(Boom):
        engine.run()

    [failure] = engine.storage.get_execute_failures().values()
    assert failure.check(Boom)
    assert any(name.endswith("Boom") for name in failure.exc_type_names)
    # The traceback is the worker's: it shows the task's own frame.
    assert "in execute" in failure.traceback_str
    assert "raise Boom" in failure.traceback_str


def test_an_unpicklable_store_value_is_refused_at_validate_with_nothing_run(
    journal,
):
    flow = linear_flow.Flow("f").add(Step("a", journal))
    engine = _load(flow, store={"handle": threading.Lock()})

    with pytest.raises(exceptions.NotTransferable, match="'handle'"):
        engine.validate()
    with pytest.raises(exceptions.NotTransferable, match="'handle'"):
        engine.run()

    assert journal.entries() == []
    assert engine.storage.get_atom_state("a") == states.PENDING


def test_a_task_that_does_not_pickle_is_refused_at_validate_naming_it(journal):
    flow = linear_flow.Flow("f").add(
        Step("a", journal), task.FunctorTask(lambda: 42, name="anonymous")
    )
    engine = _load(flow)

    with pytest.raises(exceptions.NotTransferable, match="'anonymous'"):
        engine.validate()
    with pytest.raises(exceptions.NotTransferable, match="'anonymous'"):
        engine.run()

    assert journal.entries() == []


def test_other_drivers_accept_values_that_do_not_pickle(journal):
    flow = linear_flow.Flow("f").add(task.FunctorTask(lambda: 42, name="anonymous"))
    engine = _load(flow, executor="thread", store={"handle": threading.Lock()})

    engine.run()

    assert engine.storage.get_flow_state() == states.SUCCESS
