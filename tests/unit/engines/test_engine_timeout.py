"""An opsflow improvement: per-task ``timeout`` and ``task_timeout``.

On expiry the atom fails with a ``Timeout`` failure and the flow reverts; the
revert of that atom starts only once its execute has stopped.
"""

from __future__ import annotations

import time

import pytest
from enginekit import Step

from opsflow import exceptions, retry, states
from opsflow.patterns import linear_flow


def test_a_task_past_its_timeout_fails_with_timeout_and_the_flow_reverts(load, rec):
    flow = linear_flow.Flow("f").add(
        Step("a", rec), Step("slow", rec, sleep=0.4, timeout=0.1)
    )
    engine = load(flow)

    with pytest.raises(exceptions.Timeout):
        engine.run()

    storage = engine.storage
    assert storage.get_atom_state("slow") == states.REVERTED
    assert storage.get_atom_state("a") == states.REVERTED
    assert storage.get_flow_state() == states.REVERTED
    [slow_revert] = rec.find("revert", "slow")
    assert slow_revert.info["result"].check(exceptions.Timeout)


def test_the_revert_of_a_timed_out_task_waits_for_its_execute_to_stop(load, rec):
    flow = linear_flow.Flow("f").add(Step("slow", rec, sleep=0.3, timeout=0.05))
    engine = load(flow)

    with pytest.raises(exceptions.Timeout):
        engine.run()

    [executed] = rec.find("executed", "slow")
    [revert] = rec.find("revert", "slow")
    assert revert.at >= executed.at


def test_a_task_within_its_timeout_succeeds(load, rec):
    engine = load(linear_flow.Flow("f").add(Step("quick", rec, timeout=5.0)))

    engine.run()

    assert engine.storage.get_flow_state() == states.SUCCESS


def test_the_engine_task_timeout_option_is_the_default_for_every_task(load, rec):
    flow = linear_flow.Flow("f").add(Step("slow", rec, sleep=0.3))
    engine = load(flow, task_timeout=0.05)

    with pytest.raises(exceptions.Timeout):
        engine.run()

    assert engine.storage.get_atom_state("slow") == states.REVERTED


def test_a_task_timeout_overrides_the_engine_default(load, rec):
    flow = linear_flow.Flow("f").add(Step("slow", rec, sleep=0.15, timeout=5.0))
    engine = load(flow, task_timeout=0.05)

    engine.run()

    assert engine.storage.get_flow_state() == states.SUCCESS


def test_the_parallel_engine_fails_the_atom_at_its_deadline(engine_kind, load, rec):
    if engine_kind == "serial":
        pytest.skip("only a separate worker thread lets the engine notice on time")
    flow = linear_flow.Flow("f").add(Step("slow", rec, sleep=0.5, timeout=0.05))
    engine = load(flow)
    failed_at = []
    engine.atom_notifier.register(
        states.FAILURE,
        lambda state, details: failed_at.append(time.monotonic()),
    )

    with pytest.raises(exceptions.Timeout):
        engine.run()

    [executed] = rec.find("executed", "slow")
    assert failed_at and failed_at[0] < executed.at


class SlowFirstTime(Step):
    """Sleeps past its timeout on the first attempt only."""

    def execute(self):
        self.sleep = 0.3 if self.rec.count("execute", self.name) == 0 else 0.0
        return super().execute()


def test_a_retry_handles_a_timeout_like_any_other_failure(load, rec):
    flow = linear_flow.Flow("sub", retry=retry.Times(2, name="r")).add(
        SlowFirstTime("flaky", rec, timeout=0.05)
    )
    engine = load(flow)

    engine.run()

    assert rec.count("execute", "flaky") == 2
    assert rec.count("revert", "flaky") == 1
    assert engine.storage.get_flow_state() == states.SUCCESS


def test_a_timeout_given_after_prepare_still_bounds_the_task(load, rec):
    # Given an engine prepared while its only task had no timeout
    slow = Step("slow", rec, sleep=0.4)
    engine = load(linear_flow.Flow("f").add(slow))
    engine.prepare()

    # When the task is given one before the run
    slow.timeout = 0.05

    # Then the run holds it to it: the task times out and is reverted
    with pytest.raises(exceptions.Timeout):
        engine.run()
    assert engine.storage.get_atom_state("slow") == states.REVERTED
