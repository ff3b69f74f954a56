"""Graph-flow deciders, decider depth, IGNORE counts as success."""

from __future__ import annotations

import pytest
from enginekit import Needs, Step

from opsflow import deciders, retry, states
from opsflow.patterns import graph_flow, linear_flow


def _flow(rec, decider, depth=None):
    """outer = linear(graph(a -b(decider)-> b -> c -> e), d)."""
    a, b, c, e = Step("a", rec), Step("b", rec), Step("c", rec), Step("e", rec)
    graph = graph_flow.Flow("g").add(a, b, c, e)
    if depth is None:
        graph.link(a, b, decider=decider)
    else:
        graph.link(a, b, decider=decider, decider_depth=depth)
    graph.link(b, c)
    graph.link(c, e)
    return linear_flow.Flow("outer").add(graph, Step("d", rec))


def _states(engine, names="abced"):
    return {n: engine.storage.get_atom_state(n) for n in names}


def test_a_decider_that_says_yes_lets_everything_run(load, rec):
    engine = load(_flow(rec, lambda history: True))

    engine.run()

    assert rec.names("execute") == ["a", "b", "c", "e", "d"]
    assert engine.storage.get_flow_state() == states.SUCCESS


def test_a_decider_gets_the_results_of_the_edge_source(load, rec):
    seen = []

    def decider(history):
        seen.append(dict(history))
        return True

    load(_flow(rec, decider)).run()

    assert seen == [{"a": "a-result"}]


def test_depth_all_by_default_ignores_everything_after_the_target(load, rec):
    # ALL reaches beyond the graph flow: the enclosing flow's d is skipped too
    engine = load(_flow(rec, lambda history: False))

    engine.run()

    assert rec.names("execute") == ["a"]
    assert _states(engine) == {
        "a": states.SUCCESS,
        "b": states.IGNORE,
        "c": states.IGNORE,
        "e": states.IGNORE,
        "d": states.IGNORE,
    }
    # IGNORE counts as success
    assert engine.storage.get_flow_state() == states.SUCCESS


def test_depth_all_given_explicitly_is_the_default(load, rec):
    engine = load(_flow(rec, lambda history: False, deciders.Depth.ALL))

    engine.run()

    assert rec.names("execute") == ["a"]
    assert engine.storage.get_atom_state("d") == states.IGNORE


def test_depth_flow_stops_at_the_graph_flow_boundary(load, rec):
    engine = load(_flow(rec, lambda history: False, deciders.Depth.FLOW))

    engine.run()

    assert rec.names("execute") == ["a", "d"]
    assert _states(engine) == {
        "a": states.SUCCESS,
        "b": states.IGNORE,
        "c": states.IGNORE,
        "e": states.IGNORE,
        "d": states.SUCCESS,
    }
    assert engine.storage.get_flow_state() == states.SUCCESS


def test_depth_neighbors_ignores_the_target_and_its_direct_successors(load, rec):
    engine = load(_flow(rec, lambda history: False, deciders.Depth.NEIGHBORS))

    engine.run()

    assert rec.names("execute") == ["a", "e", "d"]
    assert _states(engine) == {
        "a": states.SUCCESS,
        "b": states.IGNORE,
        "c": states.IGNORE,
        "e": states.SUCCESS,
        "d": states.SUCCESS,
    }


def test_depth_atom_ignores_only_the_target(load, rec):
    engine = load(_flow(rec, lambda history: False, deciders.Depth.ATOM))

    engine.run()

    assert rec.names("execute") == ["a", "c", "e", "d"]
    assert engine.storage.get_atom_state("b") == states.IGNORE
    assert engine.storage.get_flow_state() == states.SUCCESS


@pytest.mark.parametrize(
    ("text", "member"),
    [
        ("all", "ALL"),
        ("FLOW", "FLOW"),
        ("neighbors", "NEIGHBORS"),
        ("Atom", "ATOM"),
    ],
)
def test_depth_translates_from_its_name(text, member):
    assert deciders.Depth.translate(text) is getattr(deciders.Depth, member)


def test_an_ignored_task_is_never_reverted_when_a_later_task_fails(load, rec):
    a, b = Step("a", rec), Step("b", rec)
    graph = graph_flow.Flow("g").add(a, b)
    graph.link(a, b, decider=lambda history: False, decider_depth=deciders.Depth.ATOM)
    flow = linear_flow.Flow("outer").add(graph, Step("boom", rec, fail=True))
    engine = load(flow)

    with pytest.raises(Exception, match="boom failed"):
        engine.run()

    assert rec.names("revert") == ["boom", "a"]
    rec.assert_only_executed_tasks_were_reverted()
    assert engine.storage.get_flow_state() == states.REVERTED


def test_ignored_atoms_get_a_new_chance_when_a_retry_reruns_their_flow(load, rec):
    # Given a graph under a Times retry: b runs only on the second attempt,
    # and c (after the graph) fails on the first attempt
    a = Needs(
        "a", rec, requires=["attempt"], provides="seen", value=lambda attempt: attempt
    )
    b = Step("b", rec)
    graph = graph_flow.Flow("g").add(a, b)
    graph.link(
        a,
        b,
        decider=lambda history: history["a"] == 2,
        decider_depth=deciders.Depth.ATOM,
    )
    flow = linear_flow.Flow(
        "outer", retry=retry.Times(2, name="r", provides="attempt")
    ).add(graph, Step("c", rec, fail_first=1))
    engine = load(flow)

    engine.run()

    assert rec.count("execute", "a") == 2
    assert rec.count("execute", "b") == 1
    assert rec.count("execute", "c") == 2
    assert engine.storage.get_atom_state("b") == states.SUCCESS
    assert engine.storage.get_flow_state() == states.SUCCESS


def test_one_false_vote_among_several_incoming_edges_ignores_the_target(load, rec):
    a1, a2, b = Step("a1", rec), Step("a2", rec), Step("b", rec)
    graph = graph_flow.Flow("g").add(a1, a2, b)
    graph.link(a1, b, decider=lambda history: True)
    graph.link(a2, b, decider=lambda history: False)
    engine = load(graph)

    engine.run()

    assert sorted(rec.names("execute")) == ["a1", "a2"]
    assert engine.storage.get_atom_state("b") == states.IGNORE
    assert engine.storage.get_flow_state() == states.SUCCESS


def test_a_decider_on_an_edge_into_a_subflow_ignores_the_whole_subflow(load, rec):
    a = Step("a", rec)
    sub = linear_flow.Flow("sub").add(Step("s1", rec), Step("s2", rec))
    graph = graph_flow.Flow("g").add(a, sub)
    graph.link(a, sub, decider=lambda history: False, decider_depth=deciders.Depth.FLOW)
    flow = linear_flow.Flow("outer").add(graph, Step("after", rec))
    engine = load(flow)

    engine.run()

    assert rec.names("execute") == ["a", "after"]
    assert engine.storage.get_atom_state("s1") == states.IGNORE
    assert engine.storage.get_atom_state("s2") == states.IGNORE
