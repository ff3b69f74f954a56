"""The same scenario run on both libraries leaves the same outcome.

Each scenario builds a flow with a :class:`Kit` and is run once with
TaskFlow and once with opsflow; the final flow state, atom states, results,
what ``run()`` raised and the journal of execute/revert calls must be equal.
Scenarios whose sibling order depends on TaskFlow's set iteration compare the
journal as a multiset instead (``ordered=False``). Where several tasks failed,
TaskFlow hands each revert a ``flow_failures`` that depends on timing and on
its failure cache, so those scenarios leave it out (``flow_failures=False``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from .harness import Call, Kit, load_library, run_flow


@dataclasses.dataclass(frozen=True)
class Scenario:
    build: Callable[[Kit], Any]
    options: dict[str, Any] = dataclasses.field(default_factory=dict)
    store: dict[str, Any] | None = None
    ordered: bool = True
    flow_failures: bool = True
    engines: tuple[str, ...] = ("serial", "parallel")


def linear_chain(kit, fail=None, revert_fail=()):
    names = ["s1", "s2", "s3", "s4", "s5"]
    tasks = []
    for i, name in enumerate(names):
        tasks.append(
            kit.task(
                name,
                provides=f"v{i + 1}",
                requires=[f"v{i}"] if i else [],
                fail=(name == fail),
                revert_fail=(name in revert_fail),
            )
        )
    return kit.linear("chain", *tasks)


def retried(kit, fail, attempts=3, **retry_kwargs):
    retry = kit.lib.retry.Times(attempts, name="r", **retry_kwargs)
    return kit.linear(
        "f",
        kit.task("a", provides="x"),
        kit.linear("sub", kit.task("t", requires=["x"], fail=fail), retry=retry),
        kit.task("z", requires=["x"]),
    )


def nested_retries(kit, revert_all):
    retry = kit.lib.retry
    inner = kit.linear(
        "inner",
        kit.task("t", fail=True),
        retry=retry.Times(2, name="ri", revert_all=revert_all),
    )
    outer = kit.linear("outer", kit.task("o1"), inner, retry=retry.Times(2, name="ro"))
    return kit.linear("f", kit.task("a"), outer)


def diamond(kit, failing=None):
    return kit.graph(
        "g",
        kit.task("a", provides="ax", fail=failing == "a"),
        kit.task("b", requires=["ax"], provides="bx", fail=failing == "b"),
        kit.task("c", requires=["ax"], provides="cx", fail=failing == "c"),
        kit.task("d", requires=["bx", "cx"], fail=failing == "d"),
    )


def custom_retry(kit):
    """A Retry subclass: RETRY once, then REVERT; its revert is journalled."""
    retry = kit.lib.retry

    class Twice(retry.Retry):
        def execute(self, history, *args, **kwargs):
            return len(history) + 1

        def on_failure(self, history, *args, **kwargs):
            return retry.RETRY if len(history) < 2 else retry.REVERT

        def revert(self, history, *args, **kwargs):
            kit.journal.add(Call("revert", self.name, (), len(history)))

    return kit.linear(
        "f",
        kit.task("a"),
        kit.linear(
            "sub", kit.task("t", fail=True), retry=Twice(name="r", provides="attempt")
        ),
    )


def graph_of_subflows(kit):
    return kit.graph(
        "g",
        kit.linear(
            "l1",
            kit.task("p1", provides="x"),
            kit.task("p2", requires=["x"], provides="y"),
        ),
        kit.linear(
            "l2",
            kit.task("q1", requires=["y"], provides="z"),
            kit.task("q2", requires=["z"], fail=True),
        ),
        kit.task("r", requires=["x"], provides="w"),
    )


def two_deciders(kit):
    """c has two incoming edges; one False vote is enough to skip it."""
    a, b, c = kit.tasks("a", "b", "c")
    graph = kit.graph("g", a, b, c)
    graph.link(a, c, decider=lambda history: True)
    graph.link(b, c, decider=lambda history: False)
    return graph


def decider_after_subflow(kit):
    """A decider on an edge leaving a subflow (see test_deciders for what
    history it gets)."""
    sub = kit.linear("sub", kit.task("s1"), kit.task("s2"))
    graph = kit.graph("g", sub, kit.task("c"))
    graph.link(
        sub,
        next(n for n, _ in graph.iter_nodes() if n.name == "c"),
        decider=lambda history: sorted(history) != ["s2"],
    )
    return kit.linear("f", graph, kit.task("after"))


def decider_raises(kit):
    def broken(history):
        raise ValueError("decider broke")

    a, b = kit.tasks("a", "b")
    graph = kit.graph("g", a, b)
    graph.link(a, b, decider=broken)
    return graph


def revert_beats_retry(kit):
    retry = kit.lib.retry
    return kit.unordered(
        "u",
        kit.linear(
            "l1", kit.task("t1", fail=True), retry=retry.AlwaysRevert(name="r1")
        ),
        kit.linear("l2", kit.task("t2", fail=1), retry=retry.Times(3, name="r2")),
    )


def decided(kit, depth):
    a, b, c = kit.tasks("a", "b", "c")
    graph = kit.graph("g", a, b, c)
    graph.link(a, b, decider=lambda history: False, decider_depth=depth)
    graph.link(b, c)
    return kit.linear("f", graph, kit.task("after"))


SCENARIOS = {
    "linear-success": Scenario(linear_chain),
    **{
        f"linear-fails-at-s{i}": Scenario(lambda kit, i=i: linear_chain(kit, f"s{i}"))
        for i in range(1, 6)
    },
    "linear-revert-fails": Scenario(
        lambda kit: linear_chain(kit, fail="s4", revert_fail=("s2",))
    ),
    "linear-with-store-and-inject": Scenario(
        lambda kit: kit.linear(
            "f",
            kit.task("a", provides="x"),
            kit.task("b", requires=["x", "y"], inject={"y": "inj"}, provides="z"),
            kit.task("c", requires=["x", "z"]),
        ),
        store={"x": "stored", "y": "stored-y"},
    ),
    "retry-recovers": Scenario(lambda kit: retried(kit, fail=2)),
    "retry-exhausted-deferred": Scenario(
        lambda kit: retried(kit, fail=True), options={"defer_reverts": True}
    ),
    "retry-exhausted-not-deferred": Scenario(
        lambda kit: retried(kit, fail=True), options={"defer_reverts": False}
    ),
    "retry-revert-all": Scenario(
        lambda kit: retried(kit, fail=True, revert_all=True),
        options={"defer_reverts": False},
    ),
    "nested-retries": Scenario(
        lambda kit: nested_retries(kit, revert_all=False),
        options={"defer_reverts": True},
    ),
    "nested-revert-all": Scenario(
        lambda kit: nested_retries(kit, revert_all=True),
        options={"defer_reverts": True},
    ),
    "linear-never-resolve": Scenario(
        lambda kit: linear_chain(kit, fail="s3"), options={"never_resolve": True}
    ),
    "unordered-in-linear-fails": Scenario(
        lambda kit: kit.linear(
            "f",
            kit.task("first"),
            kit.unordered("u", *kit.tasks("u1", "u2", "u3")),
            kit.task("last", fail=True),
        ),
        ordered=False,
    ),
    "graph-retry-recovers": Scenario(
        lambda kit: kit.graph(
            "g",
            kit.task("src", provides="x"),
            kit.linear(
                "sub",
                kit.task("t", requires=["x"], provides="y", fail=1),
                retry=kit.lib.retry.Times(2, name="r"),
            ),
            kit.task("sink", requires=["y"]),
        ),
    ),
    "custom-retry-deferred": Scenario(custom_retry, options={"defer_reverts": True}),
    "custom-retry-not-deferred": Scenario(
        custom_retry, options={"defer_reverts": False}
    ),
    "retried-task-cannot-be-reverted": Scenario(
        lambda kit: kit.linear(
            "f",
            kit.task("a"),
            kit.linear(
                "sub",
                kit.task("t", fail=True, revert_fail=True),
                retry=kit.lib.retry.Times(3, name="r"),
            ),
        ),
        options={"defer_reverts": True},
    ),
    "graph-of-subflows-fails": Scenario(graph_of_subflows, ordered=False),
    "retry-on-the-top-flow": Scenario(
        lambda kit: kit.linear(
            "f",
            kit.task("a"),
            kit.task("t", fail=2),
            retry=kit.lib.retry.Times(3, name="r"),
        )
    ),
    "retry-on-a-graph": Scenario(
        lambda kit: kit.graph(
            "g",
            kit.task("a", provides="x"),
            kit.task("t", requires=["x"], fail=1),
            kit.task("u", requires=["x"]),
            retry=kit.lib.retry.Times(2, name="r"),
        ),
        ordered=False,
    ),
    "retry-two-siblings-fail-once": Scenario(
        lambda kit: kit.linear(
            "f",
            kit.task("first"),
            kit.unordered(
                "u",
                kit.task("t1", fail=1),
                kit.task("t2", fail=1),
                kit.task("ok"),
                retry=kit.lib.retry.Times(2, name="r"),
            ),
        ),
        ordered=False,
        flow_failures=False,
    ),
    "revert-beats-retry": Scenario(
        revert_beats_retry,
        options={"defer_reverts": True},
        ordered=False,
        flow_failures=False,
        # On the parallel engine t2 may be retried before t1's REVERT is seen.
        engines=("serial",),
    ),
    "two-deciders-one-false": Scenario(two_deciders, ordered=False),
    "decider-after-subflow": Scenario(decider_after_subflow),
    "decider-raises": Scenario(decider_raises),
    "diamond-success": Scenario(diamond, ordered=False),
    "diamond-sink-fails": Scenario(lambda kit: diamond(kit, "d"), ordered=False),
    "diamond-branch-fails": Scenario(lambda kit: diamond(kit, "b"), ordered=False),
    **{
        f"decider-{depth.lower()}": Scenario(lambda kit, d=depth: decided(kit, d))
        for depth in ("ALL", "FLOW", "NEIGHBORS", "ATOM")
    },
}


def outcome_of(name, scenario, library, engine):
    kit = Kit(load_library(library))
    flow = scenario.build(kit)
    outcome = run_flow(kit.lib, flow, engine, store=scenario.store, **scenario.options)
    calls = kit.journal.calls
    if not scenario.flow_failures:
        calls = [dataclasses.replace(c, flow_failures=()) for c in calls]
    if not scenario.ordered:
        calls = sorted(calls, key=repr)
    return {
        "flow_state": outcome.flow_state,
        "atom_states": outcome.atom_states,
        "results": outcome.results,
        "raised": outcome.raised,
        "journal": calls,
    }


@pytest.mark.parametrize(
    ("name", "engine"),
    [
        (name, engine)
        for name in sorted(SCENARIOS)
        for engine in SCENARIOS[name].engines
    ],
)
def test_opsflow_leaves_the_same_outcome_as_taskflow(taskflow_lib, name, engine):
    scenario = SCENARIOS[name]
    expected = outcome_of(name, scenario, "taskflow", engine)
    actual = outcome_of(name, scenario, "opsflow", engine)
    assert actual == expected


STATE_NAMES = (
    "PENDING",
    "RUNNING",
    "SUCCESS",
    "FAILURE",
    "REVERTING",
    "REVERTED",
    "REVERT_FAILURE",
    "RETRYING",
    "IGNORE",
    "SUSPENDING",
    "SUSPENDED",
    "RESUMING",
    "SCHEDULING",
    "WAITING",
    "ANALYZING",
)


def transition_matrix(library, check_name):
    states = load_library(library).states
    check = getattr(states, check_name)
    matrix = {}
    for old in STATE_NAMES:
        for new in STATE_NAMES:
            try:
                matrix[(old, new)] = bool(
                    check(getattr(states, old), getattr(states, new))
                )
            except Exception as exc:  # an invalid pair may raise
                matrix[(old, new)] = type(exc).__name__
    return matrix


@pytest.mark.parametrize(
    "check_name",
    ["check_task_transition", "check_retry_transition", "check_flow_transition"],
)
def test_opsflow_allows_exactly_the_state_transitions_taskflow_allows(
    taskflow_lib, check_name
):
    # Every ordered pair of the 15 state names gives the same answer
    assert [str(getattr(load_library("opsflow").states, n)) for n in STATE_NAMES] == (
        list(STATE_NAMES)
    )
    expected = transition_matrix("taskflow", check_name)
    actual = transition_matrix("opsflow", check_name)
    differences = {
        k: (expected[k], actual[k]) for k in expected if expected[k] != actual[k]
    }
    assert differences == {}
