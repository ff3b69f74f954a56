"""Flow patterns (linear, unordered, graph) and how they compose."""

from __future__ import annotations

import pytest

from opsflow import deciders, exceptions, retry, task
from opsflow.patterns import graph_flow, linear_flow, unordered_flow


class T(task.Task):
    """A task with explicit requirements/provisions and no behaviour."""

    def execute(self, **kwargs):
        return None


def _t(name, requires=(), provides=None):
    return T(name=name, requires=list(requires), provides=provides)


def _links(flow):
    return {(u.name, v.name) for u, v, _ in flow.iter_links()}


@pytest.mark.parametrize(
    "pattern", [linear_flow.Flow, unordered_flow.Flow, graph_flow.Flow]
)
def test_add_returns_the_flow_so_calls_chain(pattern):
    flow = pattern("f")

    assert flow.add(_t("a")) is flow
    assert flow.add(_t("b"), _t("c")) is flow
    assert len(flow) == 3
    assert [item.name for item in flow] == ["a", "b", "c"]


@pytest.mark.parametrize(
    "pattern", [linear_flow.Flow, unordered_flow.Flow, graph_flow.Flow]
)
def test_a_flow_has_a_name_and_an_optional_retry(pattern):
    r = retry.Times(2, name="r")

    assert pattern("f").name == "f"
    assert pattern("f").retry is None
    assert pattern("f", retry=r).retry is r


def test_linear_flow_links_each_item_to_the_next():
    flow = linear_flow.Flow("f").add(_t("a"), _t("b"), _t("c"))

    assert _links(flow) == {("a", "b"), ("b", "c")}


def test_unordered_flow_has_no_links():
    flow = unordered_flow.Flow("f").add(_t("a"), _t("b"))

    assert _links(flow) == set()


def test_flows_nest_and_expose_what_they_require_and_provide():
    inner = linear_flow.Flow("inner").add(
        _t("a", provides="x"), _t("b", requires=["x"], provides="y")
    )
    outer = linear_flow.Flow("outer").add(inner, _t("c", requires=["y", "z"]))

    assert set(inner.provides) == {"x", "y"}
    assert set(inner.requires) == set()
    assert set(outer.requires) == {"z"}


def test_graph_flow_infers_edges_from_provides_and_requires():
    flow = graph_flow.Flow("g").add(
        _t("consumer", requires=["x", "y"]),
        _t("px", provides="x"),
        _t("py", provides="y"),
    )

    assert _links(flow) == {("px", "consumer"), ("py", "consumer")}


def test_graph_flow_link_adds_an_explicit_edge():
    a, b = _t("a"), _t("b")
    flow = graph_flow.Flow("g").add(a, b)

    flow.link(a, b)

    assert _links(flow) == {("a", "b")}


def test_graph_flow_link_records_a_decider_and_its_depth():
    a, b = _t("a"), _t("b")
    flow = graph_flow.Flow("g").add(a, b)

    def decider(history):
        return True

    flow.link(a, b, decider=decider, decider_depth=deciders.Depth.FLOW)

    [(_, _, meta)] = list(flow.iter_links())
    assert decider in meta.values()
    assert deciders.Depth.FLOW in meta.values() or "FLOW" in meta.values()


def test_graph_flow_link_of_an_unknown_item_is_an_error():
    a = _t("a")
    flow = graph_flow.Flow("g").add(a)

    with pytest.raises(ValueError):
        flow.link(a, _t("stranger"))


def test_two_providers_of_one_name_in_a_graph_are_ambiguous():
    flow = graph_flow.Flow("g")

    with pytest.raises(exceptions.AmbiguousDependency):
        flow.add(_t("p1", provides="x"), _t("p2", provides="x"), _t("c", ["x"]))


def test_a_requirement_cycle_is_a_dependency_failure():
    flow = graph_flow.Flow("g")

    with pytest.raises(exceptions.DependencyFailure):
        flow.add(_t("a", ["y"], "x"), _t("b", ["x"], "y"))


def test_an_explicit_link_that_closes_a_cycle_is_refused():
    a, b, c = _t("a"), _t("b"), _t("c")
    flow = graph_flow.Flow("g").add(a, b, c)
    flow.link(a, b)
    flow.link(b, c)

    with pytest.raises(exceptions.DependencyFailure):
        flow.link(c, a)
    assert _links(flow) == {("a", "b"), ("b", "c")}


def test_a_failed_add_leaves_the_graph_unchanged():
    flow = graph_flow.Flow("g").add(_t("a", provides="x"))
    before_items = [item.name for item in flow]
    before_links = _links(flow)

    with pytest.raises(exceptions.DependencyFailure):
        flow.add(_t("b", ["x", "z"], "y"), _t("c", ["y"], "z"))

    assert [item.name for item in flow] == before_items
    assert _links(flow) == before_links


def test_a_graph_flow_can_contain_nested_flows():
    inner = linear_flow.Flow("inner").add(_t("p", provides="x"))
    flow = graph_flow.Flow("g").add(_t("c", ["x"]), inner)

    assert {(u.name, v.name) for u, v, _ in flow.iter_links()} == {("inner", "c")}


def test_targeted_flow_keeps_only_what_the_target_needs():
    a = _t("a", provides="x")
    b = _t("b", ["x"], "y")
    unrelated = _t("unrelated")
    flow = graph_flow.TargetedFlow("t").add(a, b, unrelated)

    flow.set_target(b)

    assert {item.name for item in flow} == {"a", "b"}
    flow.reset_target()
    assert {item.name for item in flow} == {"a", "b", "unrelated"}
