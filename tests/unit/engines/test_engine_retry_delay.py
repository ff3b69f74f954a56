"""An opsflow improvement: retry ``delay=`` and ``backoff=``.

Timing is measured from timestamps the tasks record, with generous bounds.
"""

from __future__ import annotations

import time

from enginekit import Needs, Step

from opsflow import engines, retry, states
from opsflow.patterns import linear_flow, unordered_flow


def _gaps(rec, name):
    """Seconds between the end of each attempt of ``name`` and the next start."""
    ends = [e.at for e in rec.find("executed", name)]
    starts = [e.at for e in rec.find("execute", name)]
    return [start - end for end, start in zip(ends, starts[1:], strict=False)]


def test_times_waits_delay_then_delay_times_backoff_between_attempts(load, rec):
    flow = linear_flow.Flow(
        "sub", retry=retry.Times(3, name="r", delay=0.1, backoff=2.0)
    ).add(Step("t", rec, fail_first=2))
    engine = load(flow)

    engine.run()

    first, second = _gaps(rec, "t")
    assert 0.1 <= first < 1.5
    assert 0.2 <= second < 1.5
    assert engine.storage.get_flow_state() == states.SUCCESS


def test_without_delay_a_retry_does_not_wait(load, rec):
    flow = linear_flow.Flow("sub", retry=retry.Times(3, name="r")).add(
        Step("t", rec, fail_first=2)
    )

    load(flow).run()

    assert all(gap < 0.1 for gap in _gaps(rec, "t"))


def test_for_each_takes_a_delay_too(load, rec):
    flow = linear_flow.Flow(
        "sub",
        retry=retry.ForEach([1, 2], name="r", provides="value", delay=0.1),
    ).add(Needs("t", rec, requires=["value"], value=lambda value: _need(value, 2)))

    load(flow).run()

    [gap] = _gaps(rec, "t")
    assert 0.1 <= gap < 1.5


def test_a_retry_delay_does_not_block_an_independent_branch(load, rec):
    # Both engines: the delay is a timer, not a sleep, so even the serial
    # engine runs other ready work while it waits.
    # Given a retried subflow that fails once and waits 0.4 s, next to an
    # independent chain of short tasks
    chain = [Step(f"c{i}", rec, sleep=0.03) for i in range(6)]
    flow = unordered_flow.Flow("u").add(
        linear_flow.Flow("retried", retry=retry.Times(2, name="r", delay=0.4)).add(
            Step("t", rec, fail_first=1)
        ),
        linear_flow.Flow("chain").add(*chain),
    )
    engine = load(flow)

    engine.run()

    # Then chain tasks were started while the retry was waiting
    [failed_end] = [e.at for e in rec.find("executed", "t")][:1]
    retried_start = [e.at for e in rec.find("execute", "t")][1]
    assert retried_start - failed_end >= 0.4
    started_in_delay = [
        e.name
        for e in rec.events
        if e.kind == "execute"
        and e.name.startswith("c")
        and failed_end < e.at < retried_start
    ]
    assert len(started_in_delay) >= 2, started_in_delay
    assert engine.storage.get_flow_state() == states.SUCCESS


def _need(value, wanted):
    if value != wanted:
        raise RuntimeError(f"not {value}")
    return value


def test_suspend_during_a_retry_delay_does_not_wait_for_the_delay(
    engine_kind, load, rec
):
    # An operator's Ctrl-C (suspend) must not hang for a long backoff.
    flow = linear_flow.Flow("sub", retry=retry.Times(2, name="r", delay=1.0)).add(
        Step("t", rec, fail_first=1)
    )
    engine = load(flow)

    def suspend_once_reverted(state, details):
        if details["task_name"] == "t":
            engine.suspend()

    engine.atom_notifier.register(states.REVERTED, suspend_once_reverted)
    engine.run()
    [reverted] = rec.find("reverted", "t")
    suspended_after = time.monotonic() - reverted.at

    assert engine.storage.get_flow_state() == states.SUSPENDED
    assert suspended_after < 0.6
    assert rec.count("execute", "t") == 1

    # Resuming goes on with the next attempt
    resumed = engines.load(
        flow, flow_detail=engine.storage.flow_detail, engine=engine_kind
    )
    resumed.run()

    assert rec.count("execute", "t") == 2
    assert resumed.storage.get_flow_state() == states.SUCCESS
