"""Graph and unordered flows: ordering, reverts and revert failures.

TaskFlow orders independent siblings by set iteration (it depends on
PYTHONHASHSEED), so orders are compared as partial-order constraints: an atom
executes after everything it depends on and is reverted before any of them.
"""

from __future__ import annotations

import pytest

from .harness import normalise, run_flow


def assert_partial_order(sequence, edges):
    """Every ``(first, then)`` pair present in ``sequence`` keeps its order."""
    for first, then in edges:
        if first in sequence and then in sequence:
            assert sequence.index(first) < sequence.index(then), (first, then, sequence)


def diamond(kit, **overrides):
    """a -> (b, c) -> d through provides/requires; ``overrides`` per task."""
    return kit.graph(
        "g",
        kit.task("d", requires=["bx", "cx"], **overrides.get("d", {})),
        kit.task("b", requires=["ax"], provides="bx", **overrides.get("b", {})),
        kit.task("c", requires=["ax"], provides="cx", **overrides.get("c", {})),
        kit.task("a", provides="ax", **overrides.get("a", {})),
    )


DIAMOND_EDGES = [("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")]


def test_graph_tasks_run_after_what_they_require(kit, engine_kind):
    # Given a diamond declared in reverse order, plus an explicit link
    flow = diamond(kit)
    extra = kit.task("e")
    flow.add(extra)
    flow.link(extra, flow_node(flow, "a"))

    # When it runs
    outcome = run_flow(kit.lib, flow, engine_kind)

    # Then each task ran once after its producers and the flow succeeded
    executed = kit.journal.executed()
    assert sorted(executed) == ["a", "b", "c", "d", "e"]
    assert_partial_order(executed, DIAMOND_EDGES + [("e", "a")])
    assert outcome.flow_state == "SUCCESS"
    assert set(outcome.atom_states.values()) == {"SUCCESS"}
    assert outcome.results == {
        "ax": "a-result",
        "bx": "b-result",
        "cx": "c-result",
    }


def flow_node(flow, name):
    return next(node for node, _ in flow.iter_nodes() if node.name == name)


def test_a_failing_graph_sink_reverts_dependents_before_their_dependencies(
    kit, engine_kind
):
    # Given a diamond whose sink fails
    flow = diamond(kit, d={"fail": True})

    # When it runs
    outcome = run_flow(kit.lib, flow, engine_kind)

    # Then everything ran, d reverts first, a last, b and c in between
    reverted = kit.journal.reverted()
    assert reverted[0] == "d" and reverted[-1] == "a"
    assert sorted(reverted) == ["a", "b", "c", "d"]
    assert_partial_order(reverted, [(v, u) for u, v in DIAMOND_EDGES])
    assert outcome.flow_state == "REVERTED"
    assert set(outcome.atom_states.values()) == {"REVERTED"}
    assert outcome.raised == ("RuntimeError", "d failed")


def test_a_failing_graph_branch_leaves_its_dependents_pending(kit, engine_kind):
    # Given a diamond whose branch b fails
    flow = diamond(kit, b={"fail": True})

    # When it runs
    outcome = run_flow(kit.lib, flow, engine_kind)

    # Then the sibling branch still ran, the sink never did, and both branches
    # were reverted before their source
    assert sorted(kit.journal.executed()) == ["a", "b", "c"]
    reverted = kit.journal.reverted()
    assert sorted(reverted) == ["a", "b", "c"]
    assert reverted[-1] == "a"
    assert outcome.atom_states == {
        "a": "REVERTED",
        "b": "REVERTED",
        "c": "REVERTED",
        "d": "PENDING",
    }
    (revert_b,) = kit.journal.of("revert", "b")
    assert revert_b.result == ("Failure", "RuntimeError", "b failed")
    assert revert_b.flow_failures == ("b",)
    assert outcome.raised == ("RuntimeError", "b failed")


def test_two_failing_siblings_raise_a_wrapped_failure_holding_both(kit, engine_kind):
    # Given two siblings that both fail after a common source
    flow = kit.graph(
        "g",
        kit.task("a", provides="x"),
        kit.task("b", requires=["x"], fail=True),
        kit.task("c", requires=["x"], fail=True, error=ValueError),
    )

    # When it runs (the serial engine also runs a whole ready batch first)
    outcome = run_flow(kit.lib, flow, engine_kind)

    # Then run() raises a WrappedFailure with both failures and all reverted
    assert outcome.raised == (
        "WrappedFailure",
        (("RuntimeError", "b failed"), ("ValueError", "c failed")),
    )
    assert isinstance(outcome.exception, kit.lib.exceptions.WrappedFailure)
    assert len(outcome.exception) == 2
    assert outcome.exception.check("ValueError") is not None
    assert outcome.flow_state == "REVERTED"
    assert set(outcome.atom_states.values()) == {"REVERTED"}
    assert kit.journal.reverted()[-1] == "a"
    # (TaskFlow hands each failed sibling only the other's failure; the exact
    # content is not compared, only that it names failures of this flow.)
    for name in ("b", "c"):
        (call,) = kit.journal.of("revert", name)
        assert call.flow_failures
        assert set(call.flow_failures) <= {"b", "c"}


def test_a_failed_revert_ends_the_flow_in_failure_and_raises_the_revert_error(
    kit, engine_kind
):
    # Given a linear flow where c fails and b cannot be reverted
    flow = kit.linear(
        "f", kit.task("a"), kit.task("b", revert_fail=True), kit.task("c", fail=True)
    )

    # When it runs
    outcome = run_flow(kit.lib, flow, engine_kind)

    # Then b is REVERT_FAILURE, what b depends on is left alone, the flow ends
    # FAILURE and run() raises the revert's exception, not c's
    assert outcome.atom_states == {
        "a": "SUCCESS",
        "b": "REVERT_FAILURE",
        "c": "REVERTED",
    }
    assert outcome.flow_state == "FAILURE"
    assert outcome.raised == ("OSError", "b revert failed")
    assert kit.journal.reverted() == ["c", "b"]
    storage = outcome.engine.storage
    assert normalise(storage.get_revert_failures()) == {
        "b": ("Failure", "OSError", "b revert failed")
    }
    assert normalise(storage.get_execute_failures()) == {
        "c": ("Failure", "RuntimeError", "c failed")
    }
    assert normalise(storage.get_revert_result("b")) == (
        "Failure",
        "OSError",
        "b revert failed",
    )


def test_two_failed_reverts_raise_a_wrapped_failure(kit, engine_kind):
    # Given unordered siblings, two of which cannot be reverted
    flow = kit.unordered(
        "u",
        kit.task("a", revert_fail=True),
        kit.task("b", revert_fail=True),
        kit.task("c", fail=True),
    )

    # When it runs
    outcome = run_flow(kit.lib, flow, engine_kind)

    # Then both revert errors come back wrapped and the flow ends FAILURE
    assert outcome.raised == (
        "WrappedFailure",
        (("OSError", "a revert failed"), ("OSError", "b revert failed")),
    )
    assert outcome.flow_state == "FAILURE"
    assert outcome.atom_states == {
        "a": "REVERT_FAILURE",
        "b": "REVERT_FAILURE",
        "c": "REVERTED",
    }


def test_unordered_tasks_all_run_and_all_revert(kit, engine_kind):
    # Given an unordered flow whose last-declared task fails
    names = [f"t{i}" for i in range(6)]
    flow = kit.unordered("u", *kit.tasks(*names), kit.task("boom", fail=True))

    # When it runs
    outcome = run_flow(kit.lib, flow, engine_kind)

    # Then every sibling ran and was reverted once
    assert sorted(kit.journal.executed()) == sorted(names + ["boom"])
    assert sorted(kit.journal.reverted()) == sorted(names + ["boom"])
    assert outcome.flow_state == "REVERTED"
    assert outcome.raised == ("RuntimeError", "boom failed")


# --------------------------------------------------------------------------
# Deliberate differences: opsflow only.


def test_opsflow_runs_unordered_siblings_in_declaration_order_on_serial(
    opsflow_lib,
):
    """opsflow deviation: TaskFlow's serial order for unordered siblings follows
    set iteration (PYTHONHASHSEED); opsflow runs them in declaration order."""
    from .harness import Kit

    # Given unordered and unlinked graph siblings with scrambled names
    kit = Kit(opsflow_lib)
    names = ["q", "c", "x", "a", "m", "b", "z", "k"]
    flow = kit.linear(
        "outer",
        kit.unordered("u", *kit.tasks(*names)),
        kit.graph("g", *kit.tasks(*[n + "2" for n in names])),
    )

    # When it runs on the serial engine
    outcome = run_flow(opsflow_lib, flow, "serial")

    # Then they ran exactly in declaration order
    assert kit.journal.executed() == names + [n + "2" for n in names]
    assert outcome.flow_state == "SUCCESS"


@pytest.mark.parametrize("engine", ["serial", "parallel"])
def test_opsflow_never_reverts_a_task_that_did_not_run(opsflow_lib, engine):
    """opsflow deviation: TaskFlow 6.5's serial engine reverts c (never run,
    result=None) because c became ready in the same pass as a's failure;
    opsflow reverts exactly the tasks that ran."""
    from .harness import Kit

    # Given a failing task next to an independent chain b -> c
    kit = Kit(opsflow_lib)
    flow = kit.graph(
        "g",
        kit.task("a", fail=True),
        kit.task("b", provides="x"),
        kit.task("c", requires=["x"]),
    )

    # When it runs
    outcome = run_flow(opsflow_lib, flow, engine)

    # Then exactly the tasks that ran were reverted, once each
    executed = kit.journal.executed()
    assert sorted(kit.journal.reverted()) == sorted(executed)
    assert all(c.result is not None for c in kit.journal.calls if c.kind == "revert")
    for name in ("a", "b", "c"):
        expected = "REVERTED" if name in executed else "PENDING"
        assert outcome.atom_states[name] == expected
    assert outcome.flow_state == "REVERTED"
    assert outcome.raised == ("RuntimeError", "a failed")


@pytest.mark.parametrize("engine", ["serial", "parallel"])
def test_opsflow_keeps_reverting_branches_independent_of_a_failed_revert(
    opsflow_lib, engine
):
    """opsflow deviation: TaskFlow stops reverting everything once one revert
    fails (y1 stays SUCCESS there); opsflow reverts every atom that does not
    depend on the failed one, leaves x1 (which x2 depends on) SUCCESS, and
    ends FAILURE raising the revert error."""
    from .harness import Kit

    # Given two independent chains; y2 fails and x2 cannot be reverted
    kit = Kit(opsflow_lib)
    flow = kit.unordered(
        "u",
        kit.linear("x", kit.task("x1"), kit.task("x2", revert_fail=True)),
        kit.linear("y", kit.task("y1"), kit.task("y2", fail=True)),
    )

    # When it runs
    outcome = run_flow(opsflow_lib, flow, engine)

    # Then the y chain is fully reverted, x2 is REVERT_FAILURE, x1 untouched
    assert outcome.atom_states == {
        "x1": "SUCCESS",
        "x2": "REVERT_FAILURE",
        "y1": "REVERTED",
        "y2": "REVERTED",
    }
    assert outcome.flow_state == "FAILURE"
    assert outcome.raised == ("OSError", "x2 revert failed")
    assert "x1" not in kit.journal.reverted()
    assert_partial_order(kit.journal.reverted(), [("y2", "y1")])
    assert set(outcome.engine.storage.get_revert_failures()) == {"x2"}


def test_taskflow_stops_all_reverting_after_a_failed_revert(taskflow_lib):
    """The TaskFlow behaviour opsflow changes on purpose (see the test above):
    on the serial engine x2 and y2 revert in one batch, then nothing else."""
    from .harness import Kit

    # Given the same two chains as above
    kit = Kit(taskflow_lib)
    flow = kit.unordered(
        "u",
        kit.linear("x", kit.task("x1"), kit.task("x2", revert_fail=True)),
        kit.linear("y", kit.task("y1"), kit.task("y2", fail=True)),
    )

    # When it runs, then y1 is never reverted although it is independent
    outcome = run_flow(taskflow_lib, flow, "serial")
    assert outcome.atom_states == {
        "x1": "SUCCESS",
        "x2": "REVERT_FAILURE",
        "y1": "SUCCESS",
        "y2": "REVERTED",
    }
    assert outcome.flow_state == "FAILURE"
