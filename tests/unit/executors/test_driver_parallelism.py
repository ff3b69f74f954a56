"""Real parallelism (issue 4): independent branches run at the same time, up
to ``max_workers``, on the thread, process and greenthread drivers; reverts
of independent branches run at the same time too.

Overlap is read from the journal's timestamps, not from whole-run wall time.
"""

from __future__ import annotations

import pytest
from drivertasks import EVENTLET_WARNINGS, Boom, Journal, Step, loader_for

from opsflow import states
from opsflow.patterns import linear_flow, unordered_flow

pytestmark = [pytest.mark.filterwarnings(f) for f in EVENTLET_WARNINGS]

NAP = 0.2


def most_at_once(intervals: list[tuple[float, float]]) -> int:
    """The largest number of intervals open at the same instant."""
    edges = sorted(
        [(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals]
    )
    running = peak = 0
    for _at, step in edges:
        running += step
        peak = max(peak, running)
    return peak


def test_two_independent_branches_run_at_the_same_time(concurrent_driver, journal):
    flow = unordered_flow.Flow("u").add(
        linear_flow.Flow("left").add(
            Step("l1", journal, sleep=NAP), Step("l2", journal)
        ),
        linear_flow.Flow("right").add(
            Step("r1", journal, sleep=NAP), Step("r2", journal)
        ),
    )
    engine = loader_for(concurrent_driver)(flow)

    engine.run()

    (l_start, l_end), (r_start, r_end) = journal.interval("l1"), journal.interval("r1")
    assert max(l_start, r_start) < min(l_end, r_end), "the branches did not overlap"
    assert engine.storage.get_flow_state() == states.SUCCESS


def test_no_more_tasks_run_at_once_than_max_workers(concurrent_driver, journal):
    flow = unordered_flow.Flow("u").add(
        *(Step(f"t{i}", journal, sleep=NAP / 2) for i in range(6))
    )
    engine = loader_for(concurrent_driver)(flow, max_workers=2)

    engine.run()

    intervals = [journal.interval(f"t{i}") for i in range(6)]
    assert most_at_once(intervals) == 2


def test_independent_branches_are_reverted_at_the_same_time(
    concurrent_driver, journal: Journal
):
    # Given two finished branches with slow reverts, and a third that fails
    flow = unordered_flow.Flow("u").add(
        Step("left", journal, revert_sleep=NAP),
        Step("right", journal, revert_sleep=NAP),
        Step("bad", journal, fail=True, sleep=NAP / 2),
    )
    engine = loader_for(concurrent_driver)(flow)

    with pytest.raises(Boom):
        engine.run()

    left = journal.interval("left", "revert", "reverted")
    right = journal.interval("right", "revert", "reverted")
    assert max(left[0], right[0]) < min(left[1], right[1]), "reverts did not overlap"
    assert engine.storage.get_flow_state() == states.REVERTED


def test_the_synchronous_driver_runs_one_task_at_a_time(journal):
    flow = unordered_flow.Flow("u").add(
        *(Step(f"t{i}", journal, sleep=0.02) for i in range(4))
    )
    engine = loader_for("synchronous")(flow)

    engine.run()

    assert most_at_once([journal.interval(f"t{i}") for i in range(4)]) == 1
