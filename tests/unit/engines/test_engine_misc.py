"""Ordering, compilation, statistics, reset, notifiers."""

from __future__ import annotations

import concurrent.futures
import os
import subprocess
import sys
import threading

import pytest
from enginekit import Boom, Needs, Step

from opsflow import engines, retry, states, task
from opsflow.patterns import graph_flow, linear_flow, unordered_flow
from opsflow.types.empty import EMPTY_MAPPING


def test_unordered_flow_runs_in_declaration_order_under_the_serial_engine(rec):
    names = ["k", "c", "x", "a", "q", "b", "z", "m"]
    flow = unordered_flow.Flow("u").add(*(Step(n, rec) for n in names))

    engine = engines.load(flow, engine="serial")
    engine.run()

    assert rec.names("execute") == names
    engine.compile()
    assert list(engine.compilation.order) == names


def test_graph_siblings_run_in_declaration_order_under_the_serial_engine(rec):
    names = ["zeta", "alpha", "mu", "beta"]
    flow = graph_flow.Flow("g").add(*(Step(n, rec) for n in names))

    engines.load(flow, engine="serial").run()

    assert rec.names("execute") == names


def test_compilation_order_follows_nested_linear_flows(load, rec):
    flow = linear_flow.Flow("outer").add(
        Step("a", rec),
        linear_flow.Flow("inner").add(Step("b", rec), Step("c", rec)),
        Step("d", rec),
    )
    engine = load(flow)

    engine.compile()

    compilation = engine.compilation
    assert list(compilation.order) == ["a", "b", "c", "d"]
    assert set(compilation.nodes) >= {"a", "b", "c", "d"}


def test_compiled_links_paths_and_providers(rec):
    many = [Step(f"u{i}", rec) for i in range(10)]  # more links than a tuple grows by
    inner = unordered_flow.Flow("inner", retry=retry.Times(2, name="again"))
    outer = linear_flow.Flow("outer").add(
        Step("a", rec, provides="x", value=1),
        inner.add(*many),
        Needs("z", rec, requires=("x",)),
    )
    engine = engines.load(outer)
    engine.compile()
    nodes = engine.compilation.nodes

    def names(links):
        assert type(links) is tuple
        return [node.name for node in links]

    assert names(nodes["a"].predecessors) == []
    assert names(nodes["a"].successors) == ["again"]
    assert names(nodes["again"].successors) == [f"u{i}" for i in range(10)]
    assert names(nodes["z"].predecessors) == [f"u{i}" for i in range(10)]
    assert names(nodes["again"].subflow) == [f"u{i}" for i in range(10)]
    assert names(nodes["u3"].predecessors) == ["again"]
    assert [(s.flow.name, p) for s, p in nodes["u3"].path] == [
        ("outer", 1),
        ("inner", 3),
    ]
    assert [(s.flow.name, p) for s, p in nodes["again"].path] == [
        ("outer", 1),
        ("inner", -1),
    ]
    assert [(s.flow.name, p) for s, p in nodes["z"].path] == [("outer", 2)]
    assert names(nodes["z"].providers["x"]) == ["a"]
    assert nodes["u3"].providers == {} and nodes["u3"].providers is EMPTY_MAPPING


def test_engines_run_returns_every_stored_value(engine_kind, rec):
    flow = linear_flow.Flow("f").add(
        Step("a", rec, provides="x", value=1), Step("b", rec, provides="y", value=2)
    )

    result = engines.run(flow, engine=engine_kind, store={"z": 3})

    assert result == {"x": 1, "y": 2, "z": 3}


def test_statistics_report_time_and_completed_atoms(load, rec):
    flow = linear_flow.Flow("f").add(Step("a", rec), Step("b", rec), Step("c", rec))
    engine = load(flow)

    engine.run()

    stats = engine.statistics
    assert isinstance(stats["active_for"], float)
    assert stats["active_for"] >= 0.0
    assert stats["completed"] == 3


def test_reset_puts_every_atom_back_to_pending(load, rec):
    flow = linear_flow.Flow("f").add(Step("a", rec), Step("b", rec))
    engine = load(flow)
    engine.run()

    engine.reset()

    assert engine.storage.get_atom_state("a") == states.PENDING
    assert engine.storage.get_atom_state("b") == states.PENDING
    engine.run()
    assert rec.names("execute") == ["a", "b", "a", "b"]


def test_flow_notifier_reports_flow_state_changes_with_details(load, rec):
    engine = load(linear_flow.Flow("f").add(Step("a", rec)))
    seen = []
    engine.notifier.register(
        engine.notifier.ANY,
        lambda state, details: seen.append((state, details)),
    )

    engine.run()

    assert [s for s, _ in seen] == [states.RUNNING, states.SUCCESS]
    assert {d["flow_name"] for _, d in seen} == {"f"}
    assert all(d["flow_uuid"] for _, d in seen)
    assert seen[-1][1]["old_state"] == states.RUNNING


def test_atom_notifier_reports_task_transitions_with_results(load, rec):
    flow = linear_flow.Flow("f").add(Step("a", rec), Step("b", rec, fail=True))
    engine = load(flow)
    seen = []

    def on_event(event, details):
        # ANY also carries progress events; only state changes matter here
        if event != task.EVENT_UPDATE_PROGRESS:
            seen.append((details["task_name"], event, details))

    engine.atom_notifier.register(engine.atom_notifier.ANY, on_event)

    with pytest.raises(Boom):
        engine.run()

    a_states = [s for name, s, _ in seen if name == "a"]
    assert a_states == [
        states.RUNNING,
        states.SUCCESS,
        states.REVERTING,
        states.REVERTED,
    ]
    b_states = [s for name, s, _ in seen if name == "b"]
    assert b_states[:2] == [states.RUNNING, states.FAILURE]
    success = next(d for name, s, d in seen if name == "a" and s == states.SUCCESS)
    assert success["result"] == "a-result"
    assert success["old_state"] == states.RUNNING
    assert success["task_uuid"]
    failed = next(d for name, s, d in seen if name == "b" and s == states.FAILURE)
    assert failed["result"].check(Boom) is Boom


def test_a_flow_of_only_successes_ends_success_and_does_not_raise(load, rec):
    flow = graph_flow.Flow("g").add(
        Step("a", rec, provides="x"), Needs("b", rec, requires=["x"])
    )
    engine = load(flow)

    engine.run()

    assert engine.storage.get_flow_state() == states.SUCCESS
    assert rec.names("execute") == ["a", "b"]
    assert rec.names("revert") == []


def test_the_parallel_engine_accepts_an_executor_instance_and_leaves_it_open(rec):
    flow = unordered_flow.Flow("u").add(Step("a", rec), Step("b", rec))
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        engines.load(flow, engine="parallel", executor=pool).run()

        # the caller's pool still works after the run
        assert pool.submit(lambda: 42).result(timeout=5) == 42

    assert sorted(rec.names("execute")) == ["a", "b"]


def test_the_parallel_engine_runs_independent_tasks_at_the_same_time(rec):
    flow = unordered_flow.Flow("u").add(
        Step("a", rec, sleep=0.2), Step("b", rec, sleep=0.2), Step("c", rec, sleep=0.2)
    )

    engines.load(flow, engine="parallel", max_workers=3).run()

    starts = [e.at for e in rec.events if e.kind == "execute"]
    ends = [e.at for e in rec.events if e.kind == "executed"]
    # every task started before any of them finished
    assert max(starts) < min(ends)


def test_max_workers_bounds_the_parallel_engine(rec):
    running = []
    peak = []
    lock = threading.Lock()

    class Counting(Step):
        def execute(self):
            with lock:
                running.append(self.name)
                peak.append(len(running))
            try:
                return super().execute()
            finally:
                with lock:
                    running.remove(self.name)

    flow = unordered_flow.Flow("u").add(
        *(Counting(f"t{i}", rec, sleep=0.05) for i in range(6))
    )

    engines.load(flow, engine="parallel", max_workers=2).run()

    assert max(peak) == 2


_ORDER_SCRIPT = """
from opsflow import engines, task
from opsflow.patterns import graph_flow, linear_flow, unordered_flow
from opsflow.types.empty import EMPTY_MAPPING

order = []

class T(task.Task):
    def execute(self):
        order.append(self.name)

def many(prefix, n):
    return [T(f"{prefix}{i}") for i in range(n)]

flow = linear_flow.Flow("outer").add(
    unordered_flow.Flow("u").add(
        *many("u", 6), linear_flow.Flow("l").add(*many("l", 3))
    ),
    graph_flow.Flow("g").add(*many("g", 6)),
)
engine = engines.load(flow, engine="serial")
engine.run()
print(",".join(order))
print(",".join(engine.compilation.order))
"""


def test_serial_order_is_the_compilation_order_whatever_the_hash_seed():
    outputs = set()
    for seed in ("1", "2", "3"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        done = subprocess.run(
            [sys.executable, "-c", _ORDER_SCRIPT],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        outputs.add(done.stdout)

    assert len(outputs) == 1
    ran, compiled = outputs.pop().splitlines()
    assert ran == compiled
    assert ran.split(",")[:6] == [f"u{i}" for i in range(6)]
