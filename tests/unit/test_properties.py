"""Property tests of the engine's revert guarantees (hypothesis).

Random graph flows (a random DAG of up to 30 tasks, wired either through
provides/requires or through ``link()``) and random nestings of linear and
unordered flows are run on the serial and the parallel engine, with one
random failing task or none. Whatever the shape:

* without a failure every task runs once, after what it depends on, and the
  flow ends SUCCESS;
* with a failure ``run()`` raises the original exception, the flow ends
  REVERTED, every task that ran is reverted exactly once and never before a
  task that depends on it, and a task that never ran is never reverted.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opsflow import engines, task
from opsflow.patterns import graph_flow, linear_flow, unordered_flow

MAX_TASKS = 30
ENGINES = ["serial", "parallel"]
SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


class PlannedError(Exception):
    """The failure a scenario plants in one task."""


class PlannedRevertError(Exception):
    """The revert failure a scenario plants in one task."""


class Journal:
    """Start and end events of every execute and revert, in order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.events: list[tuple[str, str, str]] = []
        self.revert_results: dict[str, Any] = {}

    def add(self, what: str, kind: str, name: str) -> None:
        with self._lock:
            self.events.append((what, kind, name))

    def index(self, what: str, kind: str, name: str) -> int:
        return self.events.index((what, kind, name))

    def names(self, what: str, kind: str) -> list[str]:
        return [n for w, k, n in self.events if w == what and k == kind]


class Step(task.Task):
    """Journals its calls; raises PlannedError when told to."""

    def __init__(
        self,
        name: str,
        journal: Journal,
        fails: bool,
        revert_fails: bool = False,
        **kwargs: Any,
    ):
        super().__init__(name=name, **kwargs)
        self.journal = journal
        self.fails = fails
        self.revert_fails = revert_fails

    def execute(self, **kwargs: Any) -> str:
        self.journal.add("start", "execute", self.name)
        try:
            if self.fails:
                raise PlannedError(self.name)
            return self.name
        finally:
            self.journal.add("end", "execute", self.name)

    def revert(self, **kwargs: Any) -> None:
        self.journal.add("start", "revert", self.name)
        self.journal.revert_results[self.name] = kwargs.get("result")
        self.journal.add("end", "revert", self.name)
        if self.revert_fails:
            raise PlannedRevertError(self.name)


# --------------------------------------------------------------------------
# Shapes


@st.composite
def dags(draw: st.DrawFn) -> tuple[int, list[tuple[int, int]]]:
    """A task count and edges (earlier, later): always acyclic."""
    count = draw(st.integers(min_value=1, max_value=MAX_TASKS))
    edges = []
    for later in range(1, count):
        for earlier in draw(
            st.lists(
                st.integers(min_value=0, max_value=later - 1), max_size=3, unique=True
            )
        ):
            edges.append((earlier, later))
    return count, edges


Tree = Any  # "task" | ("linear" | "unordered", [Tree, ...])

trees = st.recursive(
    st.just("task"),
    lambda children: st.tuples(
        st.sampled_from(["linear", "unordered"]),
        st.lists(children, min_size=1, max_size=4),
    ),
    max_leaves=MAX_TASKS,
)


def build_graph(
    count: int,
    edges: list[tuple[int, int]],
    wiring: str,
    failing: int | None,
    revert_failing: int | None = None,
) -> tuple[Any, Journal, set[tuple[str, str]]]:
    """A graph flow for the DAG and the (before, after) pairs it implies."""
    journal = Journal()
    names = [f"t{i:02d}" for i in range(count)]
    preds: dict[int, list[int]] = {i: [] for i in range(count)}
    for earlier, later in edges:
        preds[later].append(earlier)
    tasks = []
    for i, name in enumerate(names):
        kwargs: dict[str, Any] = {}
        if wiring == "data":
            kwargs = {"provides": f"v{i}", "requires": [f"v{j}" for j in preds[i]]}
        tasks.append(
            Step(
                name,
                journal,
                fails=(i == failing),
                revert_fails=(i == revert_failing),
                **kwargs,
            )
        )
    flow = graph_flow.Flow("random").add(*tasks)
    if wiring == "link":
        for earlier, later in edges:
            flow.link(tasks[earlier], tasks[later])
    order = {(names[a], names[b]) for a, b in edges}
    return flow, journal, order


def count_leaves(tree: Tree) -> int:
    return 1 if tree == "task" else sum(count_leaves(c) for c in tree[1])


def build_tree(
    tree: Tree, failing: int | None
) -> tuple[Any, Journal, set[tuple[str, str]], list[str]]:
    """Nested linear/unordered flows and the (before, after) pairs implied."""
    journal = Journal()
    counter = iter(range(MAX_TASKS * 2))
    order: set[tuple[str, str]] = set()
    flows = iter(range(MAX_TASKS * 2))

    def build(node: Tree) -> tuple[Any, list[str]]:
        if node == "task":
            i = next(counter)
            name = f"t{i:02d}"
            return Step(name, journal, fails=(i == failing)), [name]
        kind, children = node
        cls = linear_flow.Flow if kind == "linear" else unordered_flow.Flow
        flow = cls(f"{kind}-{next(flows)}")
        groups = []
        for child in children:
            item, names = build(child)
            flow.add(item)
            groups.append(names)
        if kind == "linear":
            for i, before in enumerate(groups):
                for after in groups[i + 1 :]:
                    order.update((b, a) for b in before for a in after)
        return flow, [n for g in groups for n in g]

    root, names = build(tree)
    if not isinstance(tree, tuple):
        root = linear_flow.Flow("root").add(root)
    return root, journal, order, names


# --------------------------------------------------------------------------
# Checks


def run(flow: Any, engine: str) -> tuple[Any, BaseException | None]:
    eng = engines.load(flow, engine=engine)
    try:
        eng.run()
    except Exception as exc:  # checked by the caller
        return eng, exc
    return eng, None


def check_success(eng, journal, order, names, error) -> None:
    assert error is None
    assert eng.storage.get_flow_state() == "SUCCESS"
    assert sorted(journal.names("start", "execute")) == sorted(names)
    assert journal.names("start", "revert") == []
    for name in names:
        assert eng.storage.get_atom_state(name) == "SUCCESS"
    for before, after in order:
        assert journal.index("end", "execute", before) < journal.index(
            "start", "execute", after
        ), (before, after)


def check_failure(eng, journal, order, names, error, failing_name) -> None:
    # run() re-raises the original exception
    assert isinstance(error, PlannedError)
    assert str(error) == failing_name
    assert eng.storage.get_flow_state() == "REVERTED"
    executed = journal.names("start", "execute")
    reverted = journal.names("start", "revert")
    assert len(set(executed)) == len(executed), "a task ran twice"
    assert failing_name in executed
    # every task that ran is reverted exactly once; the others never
    assert sorted(reverted) == sorted(executed)
    for name in names:
        expected = "REVERTED" if name in executed else "PENDING"
        assert eng.storage.get_atom_state(name) == expected, name
    # nothing ran before what it depends on, and nothing was reverted
    # before every task that depends on it was reverted
    for before, after in order:
        if after in executed:
            assert journal.index("end", "execute", before) < journal.index(
                "start", "execute", after
            ), (before, after)
            assert journal.index("end", "revert", after) < journal.index(
                "start", "revert", before
            ), (after, before)
    # the failed task saw its own failure as result
    failed_result = journal.revert_results[failing_name]
    assert type(failed_result).__name__ == "Failure"
    assert failed_result.check(PlannedError) is PlannedError
    for name in executed:
        if name != failing_name:
            assert journal.revert_results[name] == name


# --------------------------------------------------------------------------
# Properties


@pytest.mark.parametrize("engine", ENGINES)
@SETTINGS
@given(
    dag=dags(),
    wiring=st.sampled_from(["data", "link"]),
    data=st.data(),
)
def test_random_graph_flows_revert_exactly_what_ran_in_reverse_dependency_order(
    engine, dag, wiring, data
):
    count, edges = dag
    failing = data.draw(
        st.one_of(st.none(), st.integers(min_value=0, max_value=count - 1)),
        label="failing",
    )
    flow, journal, order = build_graph(count, edges, wiring, failing)
    names = [f"t{i:02d}" for i in range(count)]

    eng, error = run(flow, engine)

    if failing is None:
        check_success(eng, journal, order, names, error)
    else:
        check_failure(eng, journal, order, names, error, names[failing])


@pytest.mark.parametrize("engine", ENGINES)
@SETTINGS
@given(tree=trees, data=st.data())
def test_random_nested_linear_and_unordered_flows_revert_what_ran(engine, tree, data):
    leaves = count_leaves(tree)
    failing = data.draw(
        st.one_of(st.none(), st.integers(min_value=0, max_value=leaves - 1)),
        label="failing",
    )
    flow, journal, order, names = build_tree(tree, failing)

    eng, error = run(flow, engine)

    if failing is None:
        check_success(eng, journal, order, names, error)
    else:
        check_failure(eng, journal, order, names, error, names[failing])


def ancestors(name: str, order: set[tuple[str, str]]) -> set[str]:
    """Every task ``name`` depends on, directly or not."""
    found: set[str] = set()
    todo = [name]
    while todo:
        current = todo.pop()
        for before, after in order:
            if after == current and before not in found:
                found.add(before)
                todo.append(before)
    return found


@pytest.mark.parametrize("engine", ENGINES)
@SETTINGS
@given(dag=dags(), data=st.data())
def test_a_failed_revert_leaves_only_what_it_depends_on_unreverted(engine, dag, data):
    """An opsflow improvement: a failed revert does not freeze independent
    branches; only the atoms the failed one depends on stay SUCCESS."""
    count, edges = dag
    failing = data.draw(st.integers(min_value=0, max_value=count - 1), label="failing")
    stuck = data.draw(st.integers(min_value=0, max_value=count - 1), label="stuck")
    flow, journal, order = build_graph(count, edges, "link", failing, stuck)
    names = [f"t{i:02d}" for i in range(count)]

    eng, error = run(flow, engine)

    executed = set(journal.names("start", "execute"))
    stuck_name = names[stuck]
    if stuck_name not in executed:
        # Its revert never ran, so this is an ordinary failure
        check_failure(eng, journal, order, names, error, names[failing])
        return
    assert isinstance(error, PlannedRevertError)
    assert str(error) == stuck_name
    assert eng.storage.get_flow_state() == "FAILURE"
    left = ancestors(stuck_name, order)
    for name in names:
        state = eng.storage.get_atom_state(name)
        if name == stuck_name:
            assert state == "REVERT_FAILURE"
        elif name not in executed:
            assert state == "PENDING", name
        elif name in left:
            assert state == "SUCCESS", name
        else:
            assert state == "REVERTED", name
    reverted = journal.names("start", "revert")
    assert sorted(reverted) == sorted(executed - left)
    assert set(eng.storage.get_revert_failures()) == {stuck_name}
