"""Suspend(), resuming a suspended run, run_iter()."""

from __future__ import annotations

import pytest
from enginekit import Boom, Step

from opsflow import engines, states
from opsflow.patterns import linear_flow, unordered_flow


def _suspend_when(engine, atom_name, state):
    def on_change(event_state, details):
        if event_state == state and details.get("task_name") == atom_name:
            engine.suspend()

    engine.atom_notifier.register(state, on_change)


def test_suspend_from_a_listener_stops_before_the_next_task(load, rec):
    flow = linear_flow.Flow("lin").add(
        Step("a", rec), Step("b", rec), Step("c", rec), Step("d", rec)
    )
    engine = load(flow)
    _suspend_when(engine, "b", states.SUCCESS)

    # When it is suspended mid-run, run() returns without raising
    engine.run()

    assert rec.names("execute") == ["a", "b"]
    storage = engine.storage
    assert storage.get_flow_state() == states.SUSPENDED
    assert storage.get_atom_state("b") == states.SUCCESS
    assert storage.get_atom_state("c") == states.PENDING


def test_a_new_engine_on_the_same_flow_detail_runs_only_unfinished_atoms(
    engine_kind, load, rec
):
    flow = linear_flow.Flow("lin").add(
        Step("a", rec), Step("b", rec), Step("c", rec), Step("d", rec)
    )
    engine = load(flow)
    _suspend_when(engine, "b", states.SUCCESS)
    engine.run()

    resumed = engines.load(
        flow, flow_detail=engine.storage.flow_detail, engine=engine_kind
    )
    resumed.run()

    assert rec.names("execute") == ["a", "b", "c", "d"]
    assert resumed.storage.get_flow_state() == states.SUCCESS


def test_running_the_suspended_engine_again_finishes_the_flow(load, rec):
    flow = linear_flow.Flow("lin").add(Step("a", rec), Step("b", rec), Step("c", rec))
    engine = load(flow)
    _suspend_when(engine, "a", states.SUCCESS)
    engine.run()
    assert engine.storage.get_flow_state() == states.SUSPENDED

    engine.run()

    assert rec.names("execute") == ["a", "b", "c"]
    assert engine.storage.get_flow_state() == states.SUCCESS


def test_running_tasks_finish_after_suspend_and_nothing_new_starts(load, rec):
    # Given a slow and a fast sibling, then a last step; suspend when the
    # fast one finishes (the slow one may still be running on the parallel
    # engine).
    flow = linear_flow.Flow("outer").add(
        unordered_flow.Flow("pair").add(
            Step("slow", rec, sleep=0.2), Step("fast", rec)
        ),
        Step("last", rec),
    )
    engine = load(flow)
    _suspend_when(engine, "fast", states.SUCCESS)

    engine.run()

    assert engine.storage.get_atom_state("slow") == states.SUCCESS
    assert engine.storage.get_atom_state("fast") == states.SUCCESS
    assert rec.names("executed").count("slow") == 1
    assert "last" not in rec.names("execute")
    assert engine.storage.get_flow_state() == states.SUSPENDED

    engine.run()

    assert rec.count("execute", "slow") == 1
    assert rec.count("execute", "fast") == 1
    assert rec.count("execute", "last") == 1


def test_suspend_during_revert_ends_suspended_then_finishes_reverting(load, rec):
    flow = linear_flow.Flow("lin").add(
        Step("a", rec), Step("b", rec), Step("c", rec, fail=True)
    )
    engine = load(flow)
    _suspend_when(engine, "c", states.REVERTED)

    # Suspending while reverting: no exception yet
    engine.run()
    assert engine.storage.get_flow_state() == states.SUSPENDED
    assert rec.names("revert")[0] == "c"
    assert "a" not in rec.names("revert")

    # The next run finishes reverting and then raises the original error
    with pytest.raises(Boom, match="c failed"):
        engine.run()

    assert rec.names("revert") == ["c", "b", "a"]
    assert rec.count("execute", "c") == 1
    assert engine.storage.get_flow_state() == states.REVERTED


def test_closing_run_iter_part_way_suspends_the_flow(load, rec):
    flow = linear_flow.Flow("lin").add(Step("a", rec), Step("b", rec), Step("c", rec))
    engine = load(flow)

    it = engine.run_iter()
    for state in it:
        if state == states.ANALYZING:
            break
    it.close()

    assert engine.storage.get_flow_state() == states.SUSPENDED
    assert rec.names("execute") == ["a"]

    engine.run()

    assert rec.names("execute") == ["a", "b", "c"]
    assert engine.storage.get_flow_state() == states.SUCCESS


def test_run_iter_yields_one_round_of_machine_states_per_linear_task(
    engine_kind, load, rec
):
    if engine_kind == "parallel":
        pytest.skip("round structure is only fixed for the serial engine")
    flow = linear_flow.Flow("lin").add(Step("a", rec), Step("b", rec))

    seen = list(load(flow).run_iter())

    round_ = [states.SCHEDULING, states.WAITING, states.ANALYZING]
    assert seen == [states.RESUMING, *round_, *round_, states.SUCCESS]


def test_run_iter_ends_with_the_final_state_on_both_engines(load, rec):
    flow = unordered_flow.Flow("u").add(Step("a", rec), Step("b", rec))

    seen = list(load(flow).run_iter())

    assert seen[0] == states.RESUMING
    assert seen[-1] == states.SUCCESS
    assert set(seen[1:-1]) <= {states.SCHEDULING, states.WAITING, states.ANALYZING}


def test_resuming_reruns_an_atom_left_running_by_a_crash(engine_kind, load, rec):
    flow = linear_flow.Flow("lin").add(Step("a", rec), Step("b", rec), Step("c", rec))
    engine = load(flow)
    _suspend_when(engine, "b", states.SUCCESS)
    engine.run()
    # Simulate a process that died while b was running
    engine.storage.set_atom_state("b", states.RUNNING)

    resumed = engines.load(
        flow, flow_detail=engine.storage.flow_detail, engine=engine_kind
    )
    resumed.run()

    assert rec.names("execute") == ["a", "b", "b", "c"]
    assert resumed.storage.get_flow_state() == states.SUCCESS


def test_a_resumed_run_that_was_reverting_goes_on_reverting(engine_kind, load, rec):
    flow = linear_flow.Flow("lin").add(
        Step("a", rec), Step("b", rec), Step("c", rec, fail=True)
    )
    engine = load(flow)
    _suspend_when(engine, "c", states.REVERTED)
    engine.run()

    resumed = engines.load(
        flow, flow_detail=engine.storage.flow_detail, engine=engine_kind
    )
    with pytest.raises(Boom):
        resumed.run()

    assert rec.names("revert") == ["c", "b", "a"]
    assert rec.count("execute", "c") == 1
    assert resumed.storage.get_flow_state() == states.REVERTED


def test_a_failure_seen_while_suspending_is_resolved_on_resume(engine_kind, load, rec):
    # Given a sibling that fails while the run is being suspended
    flow = linear_flow.Flow("outer").add(
        Step("first", rec),
        unordered_flow.Flow("pair").add(
            Step("slowfail", rec, sleep=0.1, fail=True), Step("fast", rec)
        ),
        Step("last", rec),
    )
    engine = load(flow)
    _suspend_when(engine, "fast", states.SUCCESS)

    # When suspended, the run returns without raising and reverts nothing yet
    engine.run()
    assert engine.storage.get_flow_state() == states.SUSPENDED
    assert engine.storage.get_atom_state("slowfail") == states.FAILURE
    assert rec.names("revert") == []

    # Then resuming reverts and raises the original error
    resumed = engines.load(
        flow, flow_detail=engine.storage.flow_detail, engine=engine_kind
    )
    with pytest.raises(Boom, match="slowfail failed"):
        resumed.run()

    assert rec.names("revert")[-1] == "first"
    assert sorted(rec.names("revert")) == ["fast", "first", "slowfail"]
    assert "last" not in rec.names("execute")
    assert resumed.storage.get_flow_state() == states.REVERTED
