"""A revert that raises (REVERT_FAILURE), and opsflow's change.

TaskFlow stops everything after a failed revert; opsflow keeps reverting every
atom that does not depend on the one whose revert failed, then ends FAILURE.
"""

from __future__ import annotations

import pytest
from enginekit import Boom, Needs, RevertBoom, Step

from opsflow import exceptions, retry, states
from opsflow.patterns import graph_flow, linear_flow, unordered_flow
from opsflow.types import failure


def test_failed_revert_ends_revert_failure_and_the_flow_failure(load, rec):
    # Given a, b (whose revert raises), c (whose execute raises)
    flow = linear_flow.Flow("lin").add(
        Step("a", rec), Step("b", rec, revert_fail=True), Step("c", rec, fail=True)
    )
    engine = load(flow)

    # When it runs, the revert's exception is raised, not the original one
    with pytest.raises(RevertBoom, match="b revert failed"):
        engine.run()

    storage = engine.storage
    assert storage.get_atom_state("c") == states.REVERTED
    assert storage.get_atom_state("b") == states.REVERT_FAILURE
    # a comes before b (b depends on it): it must not be reverted
    assert storage.get_atom_state("a") == states.SUCCESS
    assert "a" not in rec.names("revert")
    assert storage.get_flow_state() == states.FAILURE


def test_revert_failures_are_reported_by_storage(load, rec):
    flow = linear_flow.Flow("lin").add(
        Step("a", rec), Step("b", rec, revert_fail=True), Step("c", rec, fail=True)
    )
    engine = load(flow)
    with pytest.raises(RevertBoom):
        engine.run()

    revert_failures = engine.storage.get_revert_failures()
    assert set(revert_failures) == {"b"}
    assert isinstance(revert_failures["b"], failure.Failure)
    assert revert_failures["b"].check(RevertBoom) is RevertBoom


def test_failed_task_whose_own_revert_fails_keeps_everything_before_it(load, rec):
    flow = linear_flow.Flow("lin").add(
        Step("a", rec), Step("b", rec), Step("c", rec, fail=True, revert_fail=True)
    )
    engine = load(flow)

    with pytest.raises(RevertBoom, match="c revert failed"):
        engine.run()

    assert engine.storage.get_atom_state("c") == states.REVERT_FAILURE
    assert engine.storage.get_atom_state("b") == states.SUCCESS
    assert engine.storage.get_atom_state("a") == states.SUCCESS
    assert rec.names("revert") == ["c"]
    assert engine.storage.get_flow_state() == states.FAILURE


def test_independent_branches_keep_reverting_after_a_revert_failure(load, rec):
    # opsflow improvement over TaskFlow (which freezes every branch).
    # Given two independent branches r->x and p->q, then z which fails;
    # x's revert raises.
    flow = linear_flow.Flow("outer").add(
        unordered_flow.Flow("branches").add(
            linear_flow.Flow("left").add(
                Step("r", rec), Step("x", rec, revert_fail=True)
            ),
            linear_flow.Flow("right").add(
                Step("p", rec), Step("q", rec, revert_sleep=0.02)
            ),
        ),
        Step("z", rec, fail=True),
    )
    engine = load(flow)

    with pytest.raises(RevertBoom, match="x revert failed"):
        engine.run()

    storage = engine.storage
    # Then the branch that does not depend on x is fully reverted
    assert storage.get_atom_state("z") == states.REVERTED
    assert storage.get_atom_state("q") == states.REVERTED
    assert storage.get_atom_state("p") == states.REVERTED
    # x is left for a person, and what x depends on is left untouched
    assert storage.get_atom_state("x") == states.REVERT_FAILURE
    assert storage.get_atom_state("r") == states.SUCCESS
    assert "r" not in rec.names("revert")
    assert storage.get_flow_state() == states.FAILURE
    assert set(storage.get_revert_failures()) == {"x"}


def test_two_failed_reverts_raise_a_wrapped_failure(load, rec):
    flow = linear_flow.Flow("outer").add(
        unordered_flow.Flow("pair").add(
            Step("a", rec, revert_fail=True), Step("b", rec, revert_fail=True)
        ),
        Step("c", rec, fail=True),
    )
    engine = load(flow)

    with pytest.raises(exceptions.WrappedFailure) as caught:
        engine.run()

    wrapped = caught.value
    assert len(wrapped) == 2
    assert all(f.check(RevertBoom) is RevertBoom for f in wrapped)
    assert not any(f.check(Boom) for f in wrapped)
    assert set(engine.storage.get_revert_failures()) == {"a", "b"}
    assert engine.storage.get_flow_state() == states.FAILURE


def test_in_a_graph_only_what_the_failed_revert_depends_on_stays_success(load, rec):
    # Given r -> (x, y) -> z; z fails and x's revert raises
    flow = graph_flow.Flow("g").add(
        Needs("r", rec, provides="base", value=0),
        Needs("x", rec, requires=["base"], provides="left", revert_fail=True),
        Needs("y", rec, requires=["base"], provides="right", revert_sleep=0.02),
        Needs("z", rec, requires=["left", "right"], fail=True),
    )
    engine = load(flow)

    with pytest.raises(RevertBoom, match="x revert failed"):
        engine.run()

    storage = engine.storage
    assert storage.get_atom_state("z") == states.REVERTED
    assert storage.get_atom_state("x") == states.REVERT_FAILURE
    # y does not depend on x: it is reverted
    assert storage.get_atom_state("y") == states.REVERTED
    # r is something x depends on: it must stay as it is
    assert storage.get_atom_state("r") == states.SUCCESS
    assert "r" not in rec.names("revert")
    assert storage.get_flow_state() == states.FAILURE


def test_a_failed_revert_inside_a_retried_subflow_stops_the_retry(load, rec):
    flow = linear_flow.Flow("sub", retry=retry.Times(3, name="r")).add(
        Step("a", rec, revert_fail=True), Step("t", rec, fail=True)
    )
    engine = load(flow)

    with pytest.raises(RevertBoom):
        engine.run()

    # nothing is tried again on top of an atom that could not be undone
    assert rec.count("execute", "t") == 1
    assert engine.storage.get_atom_state("a") == states.REVERT_FAILURE
    assert engine.storage.get_flow_state() == states.FAILURE
