"""What is reverted, in which order, and what run() raises."""

from __future__ import annotations

import traceback

import pytest
from enginekit import Boom, Needs, Step

from opsflow import engines, exceptions, states
from opsflow.patterns import graph_flow, linear_flow, unordered_flow
from opsflow.types import failure


def test_linear_flow_reverts_the_failed_task_first_then_earlier_tasks_backwards(
    load, rec
):
    # Given a linear flow whose third step fails
    flow = linear_flow.Flow("lin").add(
        Step("a", rec), Step("b", rec), Step("c", rec, fail=True), Step("d", rec)
    )
    engine = load(flow)

    # When it runs
    with pytest.raises(Boom):
        engine.run()

    # Then c, b, a are reverted in that order and d never ran
    assert rec.names("execute") == ["a", "b", "c"]
    assert rec.names("revert") == ["c", "b", "a"]
    storage = engine.storage
    assert storage.get_flow_state() == states.REVERTED
    for name in ("a", "b", "c"):
        assert storage.get_atom_state(name) == states.REVERTED
    assert storage.get_atom_state("d") == states.PENDING


def test_failed_task_revert_receives_its_failure_and_the_flow_failures(load, rec):
    flow = linear_flow.Flow("lin").add(Step("a", rec), Step("b", rec, fail=True))
    engine = load(flow)

    with pytest.raises(Boom):
        engine.run()

    [b_revert] = rec.find("revert", "b")
    result = b_revert.info["result"]
    assert isinstance(result, failure.Failure)
    assert result.check(Boom) is Boom
    assert result.exception_str == "b failed"
    assert set(b_revert.info["flow_failures"]) == {"b"}
    assert b_revert.info["flow_failures"]["b"].check(Boom) is Boom

    # the task that succeeded gets its own result and the same flow failures
    [a_revert] = rec.find("revert", "a")
    assert a_revert.info["result"] == "a-result"
    assert set(a_revert.info["flow_failures"]) == {"b"}


def test_run_reraises_the_original_exception_with_the_task_traceback(load, rec):
    flow = linear_flow.Flow("lin").add(Step("a", rec), Step("b", rec, fail=True))
    engine = load(flow)

    with pytest.raises(Boom) as caught:
        engine.run()

    # Same type and message; the traceback still reaches the raising frame.
    assert type(caught.value) is Boom
    assert str(caught.value) == "b failed"
    frames = traceback.extract_tb(caught.value.__traceback__)
    assert any(
        f.name == "execute" and f.filename.endswith("enginekit.py") for f in frames
    ), [f"{f.filename}:{f.name}" for f in frames]


def test_engine_run_helper_raises_the_original_exception_too(engine_kind, rec):
    flow = linear_flow.Flow("lin").add(Step("a", rec, fail=True))
    with pytest.raises(Boom, match="a failed"):
        engines.run(flow, engine=engine_kind)


def test_graph_flow_never_reverts_an_atom_before_every_atom_that_depends_on_it(
    load, rec
):
    # Given a diamond: a -> (b, c) -> d, plus e that depends on b only, and f
    # that fails after everything else.
    # Reverts of the middle atoms are slowed down so that a parallel engine
    # that reverted ``a`` early would be caught.
    flow = graph_flow.Flow("g").add(
        Needs("a", rec, provides="x", value=1),
        Needs("b", rec, requires=["x"], provides="y", value=2, revert_sleep=0.05),
        Needs("c", rec, requires=["x"], provides="z", value=3, revert_sleep=0.02),
        Needs("e", rec, requires=["y"], provides="w", value=4, revert_sleep=0.03),
        Needs("d", rec, requires=["y", "z"], provides="v", value=5),
        Needs("f", rec, requires=["v", "w"], fail=True),
    )
    engine = load(flow)

    with pytest.raises(Boom):
        engine.run()

    dependents = {
        "a": ["b", "c"],
        "b": ["e", "d"],
        "c": ["d"],
        "e": ["f"],
        "d": ["f"],
    }
    for atom, deps in dependents.items():
        for dep in deps:
            assert rec.index("revert", atom) > rec.index("reverted", dep), (
                f"{atom} reverted before its dependent {dep} finished reverting"
            )
    assert sorted(rec.names("revert")) == ["a", "b", "c", "d", "e", "f"]
    assert engine.storage.get_flow_state() == states.REVERTED


def test_graph_flow_revert_order_follows_explicit_links(load, rec):
    flow = graph_flow.Flow("g")
    a, b, c = Step("a", rec), Step("b", rec, revert_sleep=0.03), Step("c", rec)
    boom = Step("boom", rec, fail=True)
    flow.add(a, b, c, boom)
    flow.link(a, b)
    flow.link(a, c)
    flow.link(b, boom)
    flow.link(c, boom)
    engine = load(flow)

    with pytest.raises(Boom):
        engine.run()

    assert rec.names("revert")[0] == "boom"
    assert rec.names("revert")[-1] == "a"
    assert rec.index("revert", "a") > rec.index("reverted", "b")


def test_a_task_that_never_ran_is_never_reverted(load, rec, engine_kind):
    # Given a graph where ``a`` fails while its sibling ``b`` succeeds, and
    # ``c`` (which needs b) becomes ready in the same pass as the failure
    flow = graph_flow.Flow("g").add(
        Needs("a", rec, fail=True),
        Needs("b", rec, provides="y", value=1),
        Needs("c", rec, requires=["y"]),
    )
    engine = load(flow)

    with pytest.raises(Boom):
        engine.run()

    rec.assert_only_executed_tasks_were_reverted()
    if engine_kind == "serial":
        # a and b form one batch; the failure is seen before c is scheduled
        assert "c" not in rec.names("execute")
    if "c" not in rec.names("execute"):
        assert engine.storage.get_atom_state("c") == states.PENDING
    assert engine.storage.get_atom_state("a") == states.REVERTED
    assert engine.storage.get_atom_state("b") == states.REVERTED


def test_later_linear_steps_that_never_ran_stay_pending_and_unreverted(load, rec):
    flow = linear_flow.Flow("lin").add(
        Step("a", rec, fail=True), Step("b", rec), Step("c", rec)
    )
    engine = load(flow)

    with pytest.raises(Boom):
        engine.run()

    assert rec.names("revert") == ["a"]
    assert engine.storage.get_atom_state("b") == states.PENDING
    assert engine.storage.get_atom_state("c") == states.PENDING


def _assert_wrapped_boom_failures(wrapped, names):
    assert isinstance(wrapped, exceptions.WrappedFailure)
    assert len(wrapped) == len(names)
    assert all(f.check(Boom) is Boom for f in wrapped)
    assert sorted(f.exception_str for f in wrapped) == sorted(
        f"{n} failed" for n in names
    )
    assert wrapped.check(Boom) is Boom


def test_two_failing_unordered_siblings_raise_a_wrapped_failure(load, rec):
    # The serial engine too: it runs every ready sibling of a batch before it
    # looks at a failure.
    flow = unordered_flow.Flow("u").add(
        Step("a", rec, fail=True), Step("b", rec, fail=True)
    )
    engine = load(flow)

    with pytest.raises(exceptions.WrappedFailure) as caught:
        engine.run()

    _assert_wrapped_boom_failures(caught.value, ["a", "b"])
    assert sorted(rec.names("revert")) == ["a", "b"]
    assert engine.storage.get_flow_state() == states.REVERTED
    assert set(engine.storage.get_execute_failures()) <= {"a", "b"}


def test_two_failing_graph_siblings_raise_a_wrapped_failure(load, rec):
    flow = graph_flow.Flow("g").add(
        Needs("root", rec, provides="x", value=0),
        Needs("left", rec, requires=["x"], fail=True),
        Needs("right", rec, requires=["x"], fail=True),
    )
    engine = load(flow)

    with pytest.raises(exceptions.WrappedFailure) as caught:
        engine.run()

    _assert_wrapped_boom_failures(caught.value, ["left", "right"])
    assert rec.names("revert")[-1] == "root"
    assert engine.storage.get_flow_state() == states.REVERTED


def test_rerunning_a_reverted_flow_starts_again_from_the_first_task(load, rec):
    b = Step("b", rec, fail=True)
    flow = linear_flow.Flow("lin").add(Step("a", rec), b)
    engine = load(flow)
    with pytest.raises(Boom):
        engine.run()
    assert engine.storage.get_flow_state() == states.REVERTED

    # When the cause is fixed and the same engine runs again
    b.fail = False
    engine.run()

    # Then every task ran again from scratch
    assert rec.names("execute") == ["a", "b", "a", "b"]
    assert engine.storage.get_flow_state() == states.SUCCESS
    assert engine.storage.get_atom_state("a") == states.SUCCESS
    assert engine.storage.get_atom_state("b") == states.SUCCESS


def test_never_resolve_leaves_the_failure_unreverted(load, rec):
    flow = linear_flow.Flow("lin").add(Step("a", rec), Step("b", rec, fail=True))
    engine = load(flow, never_resolve=True)

    with pytest.raises(Boom):
        engine.run()

    assert rec.names("revert") == []
    assert engine.storage.get_atom_state("b") == states.FAILURE
    assert engine.storage.get_atom_state("a") == states.SUCCESS
    assert engine.storage.get_flow_state() == states.FAILURE


def test_every_completed_task_is_reverted_exactly_once(load, rec):
    flow = linear_flow.Flow("outer").add(
        Step("a", rec),
        unordered_flow.Flow("mid").add(Step("b", rec), Step("c", rec)),
        linear_flow.Flow("tail").add(Step("d", rec), Step("e", rec, fail=True)),
    )
    engine = load(flow)

    with pytest.raises(Boom):
        engine.run()

    assert sorted(rec.names("revert")) == ["a", "b", "c", "d", "e"]
    assert rec.names("revert")[:2] == ["e", "d"]
    assert rec.names("revert")[-1] == "a"


def test_revert_receives_the_same_arguments_as_execute(load, rec):
    flow = linear_flow.Flow("lin").add(
        Needs("p", rec, provides="x", value=5),
        Needs("t", rec, requires=["x"], provides="y", value=6),
        Needs("boom", rec, requires=["y"], fail=True),
    )
    engine = load(flow)

    with pytest.raises(Boom):
        engine.run()

    [execute] = rec.find("execute", "t")
    [revert] = rec.find("revert", "t")
    assert execute.info["args"] == {"x": 5}
    assert revert.info["args"]["x"] == 5
    assert revert.info["args"]["result"] == 6
    assert set(revert.info["args"]["flow_failures"]) == {"boom"}


def test_running_a_finished_flow_again_runs_nothing(load, rec):
    flow = linear_flow.Flow("lin").add(Step("a", rec), Step("b", rec))
    engine = load(flow)
    engine.run()

    engine.run()

    assert rec.names("execute") == ["a", "b"]
    assert engine.storage.get_flow_state() == states.SUCCESS
