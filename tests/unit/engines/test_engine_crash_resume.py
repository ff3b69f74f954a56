"""Resuming a run from what storage held when its process died."""

from __future__ import annotations

import pytest
from enginekit import Boom, Step

from opsflow import engines, states
from opsflow.patterns import unordered_flow
from opsflow.types.failure import Failure


def _crashed_while_reverting(rec, decided=True):
    """A run that died with one branch failed and the other still running.

    ``decided``: the flow had already set out to revert when it died (else
    the failure was recorded but not yet acted on).
    """
    flow = unordered_flow.Flow("f").add(Step("slow", rec), Step("bad", rec, fail=True))
    engine = engines.load(flow)
    engine.prepare()
    storage = engine.storage
    slow, bad = storage.atom_detail("slow"), storage.atom_detail("bad")
    # "bad" failed and the flow decided to revert everything, while "slow"
    # was still executing when the process was killed.
    intention = states.REVERT if decided else states.EXECUTE
    slow.state, slow.intention = states.RUNNING, intention
    bad.state, bad.intention = states.FAILURE, intention
    bad.failure = Failure.from_exception(Boom("bad failed"))
    storage.set_flow_state(states.RUNNING)
    return flow, storage.flow_detail


@pytest.mark.parametrize("decided", [True, False], ids=["reverting", "failed"])
def test_a_task_caught_running_while_the_flow_reverted_is_reverted_on_resume(
    engine_kind, rec, decided
):
    # Given a run killed while it was reverting (or just after a failure was
    # recorded, before it was acted on), one task still in flight
    flow, detail = _crashed_while_reverting(rec, decided)

    # When a new engine resumes it
    engine = engines.load(flow, flow_detail=detail, engine=engine_kind)
    with pytest.raises(Boom, match="bad failed"):
        engine.run()

    # Then the task in flight is undone (its result is unknown) and never re-run
    assert rec.names("execute") == []
    assert sorted(rec.names("revert")) == ["bad", "slow"]
    assert engine.storage.get_atom_state("slow") == states.REVERTED
    assert engine.storage.get_flow_state() == states.REVERTED
