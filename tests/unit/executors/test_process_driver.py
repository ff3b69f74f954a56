"""The ``process`` driver: what crosses the process boundary, and what happens
when a worker dies (issue 4).
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import signal
import threading
import time

import pytest
from drivertasks import (
    EVENTLET_WARNINGS,
    Boom,
    FailsAfterwards,
    HoldsFirstRun,
    Paced,
    Progressing,
    ReturnsLock,
    Step,
)

from opsflow import engines, exceptions, states, task
from opsflow.executors import process_worker
from opsflow.executors.base import EXECUTED, TaskCall
from opsflow.executors.process import ProcessDriver
from opsflow.patterns import linear_flow, unordered_flow
from opsflow.types.failure import Failure

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


# -- calls that wait for a busy pool ----------------------------------------
def _paced(x, seconds=0.0, journal=None):
    paced = Paced(journal, name=f"paced-{x}")
    return TaskCall(paced, EXECUTED, {"x": x, "seconds": seconds})


def _run_on_driver(driver, calls):
    """Submit ``calls`` at once; their outcomes, and how many pool submissions."""
    driver.start()
    try:
        futures = [driver.submit(call) for call in calls]
        outcomes = [future.result(timeout=60) for future in futures]
        submissions = driver._pool.executor.statistics.executed
    finally:
        driver.stop()
    return outcomes, submissions


def test_short_calls_waiting_for_a_busy_pool_share_submissions_each_its_own_outcome():
    # Given many short calls, two of which return what cannot be pickled
    calls = [_paced(x) for x in range(300)]
    calls[40] = calls[250] = TaskCall(ReturnsLock(name="locked"), EXECUTED, {})

    outcomes, submissions = _run_on_driver(ProcessDriver(max_workers=2), calls)

    # Then fewer submissions than calls carried them, every call got its own
    # outcome, and only the calls whose results do not pickle failed
    assert submissions < len(calls) / 3
    for x, (action, value) in enumerate(outcomes):
        assert action == EXECUTED
        if x in (40, 250):
            assert "pickle" in str(value)
        else:
            assert value[0] == x
    assert (
        len({value[1] for x, (_, value) in enumerate(outcomes) if x != 40 and x != 250})
        == 2
    )


def test_a_task_hook_that_raises_fails_its_own_call_not_its_batch_mates():
    calls = [_paced(x) for x in range(300)]
    calls[150] = TaskCall(FailsAfterwards(name="bad"), EXECUTED, {})

    outcomes, submissions = _run_on_driver(ProcessDriver(max_workers=2), calls)

    assert submissions < len(calls) / 3
    failed = [x for x, (_, value) in enumerate(outcomes) if isinstance(value, Failure)]
    assert failed == [150]
    assert "post_execute of bad failed" in str(outcomes[150][1])


def test_a_worker_killed_mid_batch_reports_how_far_each_call_got(journal):
    # Given batches of short calls under way, one call of which hangs
    driver = ProcessDriver(max_workers=2)
    driver.start()
    try:
        for warm_up in [driver.submit(_paced(x)) for x in range(200)]:
            warm_up.result(timeout=60)
        calls = [_paced(x, journal=journal) for x in range(300)]
        calls[150] = _paced(150, seconds=30, journal=journal)
        futures = [driver.submit(call) for call in calls]
        deadline = time.monotonic() + 30
        while not futures[150].running() and time.monotonic() < deadline:
            time.sleep(0.005)

        # When its worker is killed
        assert driver.kill(futures[150])
        outcomes = [future.result(timeout=30) for future in futures]
    finally:
        driver.stop()

    # Then each call says truly whether it had started, had run to its end
    # (its outcome lost with the worker) or was running
    started = set(journal.names("execute"))
    assert "killed by SIGKILL" in str(outcomes[150][1])
    for x, (_, value) in enumerate(outcomes):
        name = f"paced-{x}"
        if not isinstance(value, Failure):
            assert name in started
            continue
        assert value.check(exceptions.WorkerDied), value
        if "before this task started" in str(value):
            assert name not in started, value
        elif "had run this task" in str(value):
            assert name in started, value
        else:
            assert "running this task" in str(value), value


def test_calls_longer_than_a_batch_budget_go_one_per_submission():
    calls = [_paced(x, seconds=0.005) for x in range(30)]

    outcomes, submissions = _run_on_driver(ProcessDriver(max_workers=2), calls)

    assert [value[0] for _, value in outcomes] == list(range(30))
    assert submissions == len(calls)


def test_a_worker_hands_back_the_calls_of_a_batch_it_has_no_time_left_for():
    calls = [_paced(x, seconds=0.001) for x in range(20)]
    batch = [(pickle.dumps(call), x + 1, call.action) for x, call in enumerate(calls)]

    done, seconds = process_worker.run_batch(batch)

    assert 1 <= len(done) < len(calls)
    assert seconds >= process_worker.BATCH_BUDGET
    assert [pickle.loads(payload)[1][0] for payload, _ in done] == list(
        range(len(done))
    )


def test_calls_behind_one_that_runs_long_in_a_batch_are_handed_back_and_run_once(
    journal,
):
    # Given short calls sharing submissions, one of which takes 50 ms
    calls = [_paced(x, journal=journal) for x in range(200)]
    calls[120] = _paced(120, seconds=0.05, journal=journal)

    outcomes, submissions = _run_on_driver(ProcessDriver(max_workers=2), calls)

    # Then every call ran exactly once and came back to its own future
    assert submissions < len(calls)
    assert [value[0] for _, value in outcomes] == list(range(200))
    executed = journal.names("execute")
    assert sorted(executed) == sorted(f"paced-{x}" for x in range(200))


def test_stopping_with_calls_waiting_cancels_those_that_never_started(journal):
    driver = ProcessDriver(max_workers=2)
    driver.start()
    futures = [driver.submit(_paced(x, journal=journal)) for x in range(300)]

    driver.stop()

    ran, cancelled = set(), set()
    for x, future in enumerate(futures):
        action, value = future.result(timeout=0)
        if isinstance(value, Failure):
            assert value.check(exceptions.AtomCancelled)
            cancelled.add(f"paced-{x}")
        else:
            ran.add(f"paced-{x}")
    assert cancelled
    assert sorted(journal.names("execute")) == sorted(ran)


def test_a_pool_that_broke_while_idle_is_replaced_on_the_next_submit():
    # Given a pool whose workers all died while it had nothing to do
    driver = ProcessDriver(max_workers=2)
    driver.start()
    try:
        _, (_, first_pid) = driver.submit(_paced(1)).result(timeout=30)
        broken = driver._pool.executor
        for pid in list(broken._processes):
            os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while not broken._broken and time.monotonic() < deadline:
            time.sleep(0.01)
        assert broken._broken

        # When a call is submitted, it runs on a fresh pool
        action, (x, pid) = driver.submit(_paced(2)).result(timeout=30)
    finally:
        driver.stop()

    assert (action, x) == (EXECUTED, 2)
    assert pid != first_pid
