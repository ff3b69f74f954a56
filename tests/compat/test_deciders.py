"""Graph-flow deciders and decider depths match TaskFlow 6.5."""

from __future__ import annotations

import pytest

from .harness import Kit, run_flow

# What a False vote on the edge a -> b skips, by depth, in
#   f = linear(graph(a -> b -> c -> d, a -> e), after)
IGNORED_BY_DEPTH = {
    "ALL": {"b", "c", "d", "after"},
    "FLOW": {"b", "c", "d"},
    "NEIGHBORS": {"b", "c"},
    "ATOM": {"b"},
}
EDGES = [("a", "b"), ("b", "c"), ("c", "d"), ("a", "e")]


def decided_flow(kit, decider, depth, after_fails=False):
    a, b, c, d, e = kit.tasks("a", "b", "c", "d", "e")
    graph = kit.graph("g", a, b, c, d, e)
    graph.link(a, b, decider=decider, decider_depth=kit.lib.deciders.Depth[depth])
    graph.link(b, c)
    graph.link(c, d)
    graph.link(a, e)
    return kit.linear("f", graph, kit.task("after", fail=after_fails))


@pytest.mark.parametrize("depth", sorted(IGNORED_BY_DEPTH))
def test_a_false_decider_ignores_as_far_as_its_depth_says(kit, engine_kind, depth):
    # Given a decider that votes False on a -> b and records what it saw
    seen = []

    def decider(history):
        seen.append(dict(history))
        return False

    flow = decided_flow(kit, decider, depth)

    # When the flow runs
    outcome = run_flow(kit.lib, flow, engine_kind)

    # Then it was asked once with a's result, the atoms within its depth are
    # IGNORE, the rest ran (in dependency order), and IGNORE counts as success
    assert seen == [{"a": "a-result"}]
    ignored = IGNORED_BY_DEPTH[depth]
    assert {n for n, s in outcome.atom_states.items() if s == "IGNORE"} == ignored
    executed = kit.journal.executed()
    assert set(executed) == set(outcome.atom_states) - ignored
    for first, then in EDGES + [("d", "after"), ("e", "after")]:
        if first in executed and then in executed:
            assert executed.index(first) < executed.index(then)
    assert outcome.flow_state == "SUCCESS"
    assert outcome.raised is None


@pytest.mark.parametrize("depth", sorted(IGNORED_BY_DEPTH))
def test_a_true_decider_lets_everything_run(kit, engine_kind, depth):
    flow = decided_flow(kit, lambda history: True, depth)
    outcome = run_flow(kit.lib, flow, engine_kind)
    assert set(outcome.atom_states.values()) == {"SUCCESS"}
    assert sorted(kit.journal.executed()) == ["a", "after", "b", "c", "d", "e"]


def test_ignored_atoms_are_not_reverted_when_a_later_task_fails(kit, engine_kind):
    # Given a skipped branch (depth FLOW) and a failing task after the graph
    flow = decided_flow(kit, lambda history: False, "FLOW", after_fails=True)

    # When it runs
    outcome = run_flow(kit.lib, flow, engine_kind)

    # Then only what ran is reverted and the ignored atoms stay IGNORE
    assert kit.journal.reverted()[0] == "after"
    assert sorted(kit.journal.reverted()) == ["a", "after", "e"]
    assert kit.journal.reverted()[-1] == "a"
    assert outcome.atom_states == {
        "a": "REVERTED",
        "b": "IGNORE",
        "c": "IGNORE",
        "d": "IGNORE",
        "e": "REVERTED",
        "after": "REVERTED",
    }
    assert outcome.flow_state == "REVERTED"
    assert outcome.raised == ("RuntimeError", "after failed")


def test_a_decider_on_an_edge_from_an_ignored_atom_is_not_consulted(kit, engine_kind):
    # Given a -> b (False, depth ATOM) and b -> c (a decider that says False)
    a, b, c = kit.tasks("a", "b", "c")
    graph = kit.graph("g", a, b, c)
    asked = []

    def skip_b(history):
        asked.append(("a->b", dict(history)))
        return False

    def skip_c(history):
        asked.append(("b->c", dict(history)))
        return False

    graph.link(a, b, decider=skip_b, decider_depth=kit.lib.deciders.Depth.ATOM)
    graph.link(b, c, decider=skip_c)

    # When it runs
    outcome = run_flow(kit.lib, graph, engine_kind)

    # Then b is IGNORE, its outgoing decider has no vote (b never produced a
    # result to decide on), and c runs
    assert asked == [("a->b", {"a": "a-result"})]
    assert outcome.atom_states == {"a": "SUCCESS", "b": "IGNORE", "c": "SUCCESS"}
    assert kit.journal.executed() == ["a", "c"]
    assert outcome.flow_state == "SUCCESS"


def test_neighbors_depth_stops_at_the_end_of_the_graph_flow(kit, engine_kind):
    # Given a -> b (False, NEIGHBORS) where b is the graph's last atom and a
    # task follows the graph in an enclosing linear flow
    a, b = kit.tasks("a", "b")
    graph = kit.graph("g", a, b)
    graph.link(
        a,
        b,
        decider=lambda history: False,
        decider_depth=kit.lib.deciders.Depth.NEIGHBORS,
    )
    flow = kit.linear("f", graph, kit.task("after"))

    # When it runs
    outcome = run_flow(kit.lib, flow, engine_kind)

    # Then only b is skipped: the task after the graph is not b's neighbour
    assert outcome.atom_states == {"a": "SUCCESS", "b": "IGNORE", "after": "SUCCESS"}
    assert kit.journal.executed() == ["a", "after"]


def test_a_decider_on_an_edge_from_a_subflow_gets_an_empty_history(kit, engine_kind):
    # Given a decider on the edge from a subflow to a task
    sub = kit.linear("sub", kit.task("s1"), kit.task("s2"))
    c = kit.task("c")
    graph = kit.graph("g", sub, c)
    seen = []

    def decider(history):
        seen.append(dict(history))
        return True

    graph.link(sub, c, decider=decider)

    # When it runs
    outcome = run_flow(kit.lib, graph, engine_kind)

    # Then it was asked once, with no results: only atom sources contribute
    # to a decider's history (TaskFlow), a flow is not an atom
    assert seen == [{}]
    assert outcome.flow_state == "SUCCESS"


# What a False vote on the edge t1 -> sub skips, by depth, in
#   f = linear(graph(t1 -> linear("sub", s1, s2, s3)), after)
# TaskFlow evaluates the decider at the subflow's first atom (s1) and the
# depth counts from there.
IGNORED_INTO_SUBFLOW = {
    "ATOM": {"s1"},
    "NEIGHBORS": {"s1", "s2"},
    "FLOW": {"s1", "s2", "s3"},
    "ALL": {"s1", "s2", "s3", "after"},
}


@pytest.mark.parametrize("depth", sorted(IGNORED_INTO_SUBFLOW))
def test_a_decider_on_an_edge_into_a_subflow_counts_depth_from_its_first_atom(
    kit, engine_kind, depth
):
    t1 = kit.task("t1")
    sub = kit.linear("sub", *kit.tasks("s1", "s2", "s3"))
    graph = kit.graph("g", t1, sub)
    graph.link(
        t1,
        sub,
        decider=lambda history: False,
        decider_depth=kit.lib.deciders.Depth[depth],
    )
    flow = kit.linear("f", graph, kit.task("after"))

    outcome = run_flow(kit.lib, flow, engine_kind)

    ignored = {n for n, s in outcome.atom_states.items() if s == "IGNORE"}
    assert ignored == IGNORED_INTO_SUBFLOW[depth]
    assert set(kit.journal.executed()) == set(outcome.atom_states) - ignored
    assert outcome.flow_state == "SUCCESS"


# What a False vote on t1 -> t2 skips, by depth, in
#   f = linear(graph(t1 -> t2, t2 -> linear("sub", s1, s2), t2 -> t3), after)
IGNORED_PAST_A_SUBFLOW = {
    "ATOM": {"t2"},
    "NEIGHBORS": {"t2", "t3"},
    "FLOW": {"t2", "t3"},
    "ALL": {"t2", "t3", "s1", "s2", "after"},
}


@pytest.mark.parametrize("depth", sorted(IGNORED_PAST_A_SUBFLOW))
def test_only_depth_all_reaches_into_a_nested_subflow(kit, engine_kind, depth):
    t1, t2, t3 = kit.tasks("t1", "t2", "t3")
    sub = kit.linear("sub", *kit.tasks("s1", "s2"))
    graph = kit.graph("g", t1, t2, sub, t3)
    graph.link(
        t1,
        t2,
        decider=lambda history: False,
        decider_depth=kit.lib.deciders.Depth[depth],
    )
    graph.link(t2, sub)
    graph.link(t2, t3)
    flow = kit.linear("f", graph, kit.task("after"))

    outcome = run_flow(kit.lib, flow, engine_kind)

    ignored = {n for n, s in outcome.atom_states.items() if s == "IGNORE"}
    assert ignored == IGNORED_PAST_A_SUBFLOW[depth]
    assert set(kit.journal.executed()) == set(outcome.atom_states) - ignored


@pytest.mark.parametrize("engine", ["serial", "parallel"])
def test_opsflow_keeps_a_skip_when_an_unrelated_retry_reruns_its_subflow(
    opsflow_lib, engine
):
    """opsflow difference: when the retry of a sibling subflow re-runs it,
    TaskFlow 6.5 resets every IGNORE atom downstream of that retry, even
    outside its subflow, so t4 (skipped by the t1 -> t2 decider, depth FLOW)
    runs after all. opsflow leaves a decider's skip alone."""
    from .harness import Kit

    kit = Kit(opsflow_lib)
    t1, t2, t4 = kit.tasks("t1", "t2", "t4")
    sub = kit.linear(
        "sub", kit.task("s", fail=1), retry=opsflow_lib.retry.Times(2, name="r")
    )
    graph = kit.graph("g", t1, t2, sub, t4)
    graph.link(
        t1,
        t2,
        decider=lambda history: False,
        decider_depth=opsflow_lib.deciders.Depth.FLOW,
    )
    graph.link(t2, t4)
    graph.link(t1, sub)
    graph.link(sub, t4)

    outcome = run_flow(opsflow_lib, graph, engine)

    assert outcome.atom_states == {
        "t1": "SUCCESS",
        "t2": "IGNORE",
        "r": "SUCCESS",
        "s": "SUCCESS",
        "t4": "IGNORE",
    }
    assert kit.journal.executed() == ["t1", "s", "s"]
    assert outcome.flow_state == "SUCCESS"


def test_a_decider_on_an_edge_from_an_ignored_subflow_is_still_asked(kit, engine_kind):
    # Given a -> sub (False, depth FLOW), so that sub's one task is skipped,
    # and sub -> d with a decider that says False
    a, d = kit.tasks("a", "d")
    sub = kit.linear("sub", kit.task("s1"))
    graph = kit.graph("g", a, sub, d)
    asked = []

    def skip_d(history):
        asked.append(dict(history))
        return False

    graph.link(
        a, sub, decider=lambda history: False, decider_depth=kit.lib.deciders.Depth.FLOW
    )
    graph.link(sub, d, decider=skip_d)

    # When it runs
    outcome = run_flow(kit.lib, graph, engine_kind)

    # Then the decider on the subflow's edge votes even though nothing in
    # the subflow ran (only an ignored source *atom* goes unasked), and d
    # is skipped
    assert asked == [{}]
    assert outcome.atom_states == {"a": "SUCCESS", "s1": "IGNORE", "d": "IGNORE"}
    assert kit.journal.executed() == ["a"]
    assert outcome.flow_state == "SUCCESS"


def test_opsflow_runs_an_atom_that_a_skip_frees(opsflow_lib, engine_kind):
    # Given c after a and b, where a's link to c is declared first and the
    # decider on a -> b skips b
    kit = Kit(opsflow_lib)
    a, b, c = kit.tasks("a", "b", "c")
    graph = kit.graph("g", a, b, c)
    graph.link(a, c)
    graph.link(
        a, b, decider=lambda history: False, decider_depth=kit.lib.deciders.Depth.ATOM
    )
    graph.link(b, c)

    # When it runs
    outcome = run_flow(kit.lib, graph, engine_kind)

    # Then c runs once b is skipped (TaskFlow 6.5 looked at c before the
    # vote, never again, and ends with InvalidState)
    assert outcome.atom_states == {"a": "SUCCESS", "b": "IGNORE", "c": "SUCCESS"}
    assert kit.journal.executed() == ["a", "c"]
    assert outcome.flow_state == "SUCCESS"
