"""Functor tasks behave the same on opsflow and on TaskFlow 6.5."""

from __future__ import annotations

from .harness import Kit, normalise, run_flow


def add(x, y=2):
    return x + y


def boom():
    raise KeyError("k")


def test_a_functor_task_is_named_after_its_function_and_reverts_with_it(
    lib, engine_kind
):
    # Given a functor task with a revert callable, then a failing functor
    seen = []

    def undo(x, y=2, **kwargs):
        seen.append(
            (x, y, normalise(kwargs["result"]), sorted(kwargs["flow_failures"]))
        )

    adder = lib.task.FunctorTask(add, revert=undo, provides="s")
    failing = lib.task.FunctorTask(boom)
    flow = lib.linear_flow.Flow("f").add(adder, failing)

    # When it runs
    outcome = run_flow(lib, flow, engine_kind, store={"x": 1})

    # Then names come from the functions, the optional argument stayed
    # optional, and the revert callable got the execute arguments and result
    assert adder.name == f"{__name__}.add"
    assert failing.name == f"{__name__}.boom"
    assert seen == [(1, 2, 3, [failing.name])]
    assert outcome.raised == ("KeyError", "'k'")
    assert outcome.flow_state == "REVERTED"


def test_map_and_reduce_functor_tasks(lib, engine_kind):
    doubler = lib.task.MapFunctorTask(
        lambda v: v * 2, name="double", requires=["a", "b"], provides=["da", "db"]
    )
    summer = lib.task.ReduceFunctorTask(
        lambda x, y: x + y, name="sum", requires=["da", "db"], provides="total"
    )
    flow = lib.linear_flow.Flow("f").add(doubler, summer)

    outcome = run_flow(lib, flow, engine_kind, store={"a": 1, "b": 5})

    assert outcome.flow_state == "SUCCESS"
    assert outcome.results["total"] == 12
    assert outcome.results["da"] == 2
    assert outcome.results["db"] == 10


def test_opsflow_functor_revert_may_name_result_and_flow_failures(
    opsflow_lib, engine_kind
):
    """opsflow deviation: TaskFlow 6.5 treats a revert callable's ``result``
    and ``flow_failures`` parameters as requirements (MissingDependencies);
    opsflow passes them in, as it does for Task.revert()."""
    seen = []

    def undo(result, flow_failures):
        seen.append((result, sorted(flow_failures)))

    kit = Kit(opsflow_lib)
    flow = kit.linear(
        "f",
        opsflow_lib.task.FunctorTask(lambda: 1, revert=undo, name="one"),
        kit.task("bad", fail=True),
    )

    outcome = run_flow(opsflow_lib, flow, engine_kind)

    assert outcome.raised == ("RuntimeError", "bad failed")
    assert seen == [(1, ["bad"])]
    assert outcome.atom_states == {"one": "REVERTED", "bad": "REVERTED"}
