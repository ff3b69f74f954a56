"""Per-task timeouts on every driver.

A task past its deadline fails with ``Timeout`` and the flow reverts. Only the
``process`` driver can stop the task (it kills the worker); with the others,
the task's own revert waits until its ``execute`` has returned.
"""

from __future__ import annotations

import time

import pytest
from drivertasks import EVENTLET_WARNINGS, Step, loader_for, skip_without_eventlet

from opsflow import exceptions, states
from opsflow.patterns import linear_flow, unordered_flow

pytestmark = [pytest.mark.filterwarnings(f) for f in EVENTLET_WARNINGS]

SLEEP = 0.3
TIMEOUT = 0.05


def _timed_run(engine) -> tuple[BaseException, float]:
    started = time.monotonic()
    with pytest.raises(exceptions.Timeout) as raised:
        engine.run()
    return raised.value, time.monotonic() - started


def test_a_task_past_its_timeout_is_reverted_and_the_flow_ends_reverted(load, journal):
    flow = linear_flow.Flow("f").add(
        Step("before", journal),
        Step("slow", journal, sleep=SLEEP, timeout=TIMEOUT),
    )
    engine = load(flow)

    error, _elapsed = _timed_run(engine)

    assert "'slow'" in str(error)
    storage = engine.storage
    assert storage.get_flow_state() == states.REVERTED
    assert storage.get_atom_state("slow") == states.REVERTED
    assert storage.get_atom_state("before") == states.REVERTED
    assert journal.names("revert") == ["slow", "before"]
    slow_revert = journal.one("revert", "slow")
    assert "Timeout" in slow_revert.info["result"]["failure"][0]


def test_the_task_timeout_option_applies_to_tasks_without_their_own(load, journal):
    flow = linear_flow.Flow("f").add(
        Step("quick", journal), Step("slow", journal, sleep=SLEEP)
    )
    engine = load(flow, task_timeout=TIMEOUT)

    _timed_run(engine)

    assert engine.storage.get_atom_state("slow") == states.REVERTED
    assert engine.storage.get_atom_state("quick") == states.REVERTED


def test_a_task_own_timeout_wins_over_the_task_timeout_option(load, journal):
    flow = linear_flow.Flow("f").add(Step("patient", journal, sleep=0.2, timeout=5))
    engine = load(flow, task_timeout=TIMEOUT)

    engine.run()

    assert engine.storage.get_flow_state() == states.SUCCESS


def test_the_process_driver_kills_the_task_at_its_deadline(journal):
    flow = linear_flow.Flow("f").add(Step("slow", journal, sleep=5.0, timeout=0.2))
    engine = loader_for("process")(flow)

    error, elapsed = _timed_run(engine)

    # The run ends soon after the deadline, long before the sleep would end
    assert elapsed < 2.0
    assert journal.names("execute") == ["slow"]
    assert journal.names("executed") == []
    assert "still" not in str(error)
    assert engine.storage.get_flow_state() == states.REVERTED


def test_the_process_driver_starts_a_task_clock_when_a_worker_takes_the_task(journal):
    # Given three tasks on one worker, each well within its timeout but
    # together past it: the last waits for the worker longer than it runs
    flow = unordered_flow.Flow("f").add(
        *(Step(f"s{i}", journal, sleep=0.5, timeout=1.2) for i in range(3))
    )
    engine = loader_for("process")(flow, max_workers=1)

    # When the flow runs
    started = time.monotonic()
    engine.run()

    # Then no task timed out: the wait for the worker did not count
    assert time.monotonic() - started > 1.2
    assert engine.storage.get_flow_state() == states.SUCCESS
    assert sorted(journal.names("executed")) == ["s0", "s1", "s2"]


@pytest.mark.parametrize("driver", ["synchronous", "thread", "greenthread"])
def test_drivers_that_cannot_kill_revert_the_task_only_after_its_execute_returned(
    driver, load, journal
):
    if driver == "greenthread":
        skip_without_eventlet(driver)
    flow = linear_flow.Flow("f").add(Step("slow", journal, sleep=SLEEP, timeout=0.05))
    engine = load(flow)

    _error, elapsed = _timed_run(engine)

    # The run lasts as long as the execute it could not stop...
    assert elapsed >= SLEEP
    # ...and the task's revert began only after its execute had returned
    executed = journal.one("executed", "slow")
    assert journal.one("revert", "slow").at >= executed.at
    assert engine.storage.get_atom_state("slow") == states.REVERTED


@pytest.mark.parametrize("driver", ["thread", "greenthread"])
def test_other_branches_revert_at_the_deadline_without_waiting_for_the_late_task(
    driver, load, journal
):
    if driver == "greenthread":
        skip_without_eventlet(driver)
    flow = unordered_flow.Flow("u").add(
        Step("fast", journal), Step("slow", journal, sleep=SLEEP, timeout=TIMEOUT)
    )
    engine = load(flow)

    _timed_run(engine)

    slow_done = journal.one("executed", "slow").at
    assert journal.one("revert", "fast").at < slow_done
    assert journal.one("revert", "slow").at >= slow_done
