"""How atoms get their arguments, and failing before side effects."""

from __future__ import annotations

import pytest
from enginekit import Needs, Recorder, Step

from opsflow import exceptions, states, task
from opsflow.patterns import graph_flow, linear_flow, unordered_flow


class Add(task.Task):
    def execute(self, x, y=10):
        return x + y


class AddWithRevert(task.Task):
    def __init__(self, rec: Recorder, **kwargs):
        super().__init__(**kwargs)
        self.rec = rec

    def execute(self, x):
        return x

    def revert(self, undo_key, result, flow_failures, **kwargs):
        self.rec.add("revert", self.name, undo_key=undo_key, result=result)


class Explode(task.Task):
    def execute(self):
        raise RuntimeError("explode")


def test_requirements_come_from_the_execute_signature(load):
    engine = load(Add("add", provides="sum"), store={"x": 1, "y": 2})

    engine.run()

    assert engine.storage.fetch("sum") == 3


def test_optional_arguments_take_their_default_when_nothing_provides_them(load):
    engine = load(Add("add", provides="sum"), store={"x": 1})

    engine.run()

    assert engine.storage.fetch("sum") == 11


def test_rebind_as_a_list_maps_arguments_by_position(load):
    engine = load(
        Add("add", provides="sum", rebind=["alpha"]),
        store={"alpha": 1, "x": 100},
    )

    engine.run()

    assert engine.storage.fetch("sum") == 11


def test_rebind_as_a_dict_maps_arguments_by_name(load):
    engine = load(
        Add("add", provides="sum", rebind={"x": "alpha"}),
        store={"alpha": 1, "x": 100},
    )

    engine.run()

    assert engine.storage.fetch("sum") == 11


def test_rebinding_an_optional_argument_makes_the_new_name_required(load):
    engine = load(Add("add", rebind={"y": "beta"}), store={"x": 1})

    engine.compile()
    engine.prepare()
    with pytest.raises(exceptions.MissingDependencies):
        engine.validate()


def test_inject_supplies_arguments_without_the_store(load):
    engine = load(Add("add", provides="sum", inject={"x": 4, "y": 1}))

    engine.run()

    assert engine.storage.fetch("sum") == 5


def test_provides_a_single_name_stores_the_whole_result(load, rec):
    engine = load(Needs("t", rec, provides="out", value=(1, 2)))

    engine.run()

    assert engine.storage.fetch("out") == (1, 2)


def test_provides_a_tuple_of_names_maps_the_result_by_index(load, rec):
    engine = load(Needs("t", rec, provides=("first", "second"), value=[1, 2]))

    engine.run()

    assert engine.storage.fetch("first") == 1
    assert engine.storage.fetch("second") == 2


def test_provides_a_set_of_names_maps_a_dict_result_by_key(load, rec):
    engine = load(
        Needs("t", rec, provides={"host", "port"}, value={"host": "h", "port": 22})
    )

    engine.run()

    assert engine.storage.fetch("host") == "h"
    assert engine.storage.fetch("port") == 22


def test_default_provides_names_the_result_when_provides_is_omitted(load):
    class Hostname(task.Task):
        default_provides = "hostname"

        def execute(self):
            return "web1"

    engine = load(linear_flow.Flow("f").add(Hostname()))

    engine.run()

    assert engine.storage.fetch("hostname") == "web1"


def test_results_flow_from_provider_to_consumer(load, rec):
    flow = linear_flow.Flow("f").add(
        Needs("p", rec, provides="x", value=7),
        Add("add", provides="sum"),
    )
    engine = load(flow)

    engine.run()

    assert engine.storage.fetch("sum") == 17


def test_store_values_hide_task_results_of_the_same_name(load, rec):
    flow = linear_flow.Flow("f").add(
        Needs("p", rec, provides="x", value=7),
        Add("add", provides="sum"),
    )
    engine = load(flow, store={"x": 1})

    engine.run()

    assert engine.storage.fetch("sum") == 11


def test_atom_inject_beats_both_store_and_task_results(load, rec):
    flow = linear_flow.Flow("f").add(
        Needs("p", rec, provides="x", value=7),
        Add("add", provides="sum", inject={"x": 100}),
    )
    engine = load(flow, store={"x": 1})

    engine.run()

    assert engine.storage.fetch("sum") == 110


def test_the_nearest_provider_before_a_consumer_wins(load, rec):
    flow = linear_flow.Flow("f").add(
        Needs("p1", rec, provides="x", value=1),
        Needs("p2", rec, provides="x", value=2),
        Add("add", provides="sum"),
    )
    engine = load(flow)

    engine.run()

    assert engine.storage.fetch("sum") == 12
    # several providers of one name: fetch_all gives every value
    assert sorted(engine.storage.fetch_all()["x"]) == [1, 2]


def test_a_nested_flow_sees_the_nearest_enclosing_provider(load, rec):
    flow = linear_flow.Flow("f").add(
        Needs("outer_p", rec, provides="x", value=1),
        linear_flow.Flow("inner").add(
            Needs("inner_p", rec, provides="x", value=2),
            Add("inner_add", provides="inner_sum"),
        ),
        Add("outer_add", provides="outer_sum", rebind={"y": "inner_sum"}),
    )
    engine = load(flow)

    engine.run()

    assert engine.storage.fetch("inner_sum") == 12


def test_revert_requires_replaces_what_revert_receives(load, rec):
    t = AddWithRevert(rec, name="t", revert_requires=["undo_key"])
    flow = linear_flow.Flow("f").add(t, Explode("explode"))
    engine = load(flow, store={"x": 1, "undo_key": "k"})

    with pytest.raises(RuntimeError):
        engine.run()

    [event] = rec.find("revert", "t")
    assert event.info == {"undo_key": "k", "result": 1}


def test_revert_rebind_renames_a_revert_argument(load, rec):
    t = AddWithRevert(rec, name="t", revert_rebind={"undo_key": "ticket"})
    flow = linear_flow.Flow("f").add(t, Explode("explode"))
    engine = load(flow, store={"x": 1, "ticket": "T-1"})

    with pytest.raises(RuntimeError):
        engine.run()

    [event] = rec.find("revert", "t")
    assert event.info["undo_key"] == "T-1"


def test_missing_requirement_fails_validate_before_any_task_runs(load, rec):
    flow = linear_flow.Flow("f").add(Step("first", rec), Add("add"))
    engine = load(flow)

    engine.compile()
    engine.prepare()
    with pytest.raises(exceptions.MissingDependencies) as caught:
        engine.validate()

    assert "x" in str(caught.value)
    assert rec.events == []


def test_run_with_a_missing_requirement_raises_before_any_task_runs(load, rec):
    flow = linear_flow.Flow("f").add(Step("first", rec), Add("add"))

    with pytest.raises(exceptions.MissingDependencies):
        load(flow).run()

    assert rec.events == []


def test_a_missing_revert_requirement_fails_before_any_task_runs(load, rec):
    t = AddWithRevert(rec, name="t")
    flow = linear_flow.Flow("f").add(Step("first", rec), t)
    engine = load(flow, store={"x": 1})

    with pytest.raises(exceptions.MissingDependencies) as caught:
        engine.run()

    assert "undo_key" in str(caught.value)
    assert rec.events == []


def test_result_and_flow_failures_are_never_requirements(load, rec):
    def undo(x, result, flow_failures):
        rec.add("revert", "f", result=result, failures=sorted(flow_failures))

    flow = linear_flow.Flow("f").add(
        task.FunctorTask(lambda x: x * 2, name="f", revert=undo),
        Explode("explode"),
    )
    engine = load(flow, store={"x": 3})

    with pytest.raises(RuntimeError):
        engine.run()

    [event] = rec.find("revert", "f")
    assert event.info == {"result": 6, "failures": ["explode"]}


def test_duplicate_atom_names_fail_at_compile(load, rec):
    flow = linear_flow.Flow("f").add(
        Step("same", rec), unordered_flow.Flow("u").add(Step("same", rec))
    )
    engine = load(flow)

    with pytest.raises(exceptions.Duplicate):
        engine.compile()
    assert rec.events == []


def test_a_cycle_of_explicit_links_is_refused(rec):
    a, b = Step("a", rec), Step("b", rec)
    flow = graph_flow.Flow("g").add(a, b)
    flow.link(a, b)

    with pytest.raises(exceptions.DependencyFailure):
        flow.link(b, a)


def test_a_cycle_of_requirements_is_refused(rec):
    flow = graph_flow.Flow("g")

    with pytest.raises(exceptions.DependencyFailure):
        flow.add(
            Needs("a", rec, requires=["y"], provides="x"),
            Needs("b", rec, requires=["x"], provides="y"),
        )


def test_a_flow_that_validates_runs_to_success(load, rec):
    flow = linear_flow.Flow("f").add(Needs("p", rec, provides="x", value=1), Add("a"))
    engine = load(flow)
    engine.compile()
    engine.prepare()
    engine.validate()

    engine.run()

    assert engine.storage.get_flow_state() == states.SUCCESS


def test_a_linear_consumer_cannot_see_a_provider_that_comes_after_it(load, rec):
    flow = linear_flow.Flow("f").add(
        Needs("consumer", rec, requires=["x"]),
        Needs("provider", rec, provides="x", value=1),
    )

    with pytest.raises(exceptions.MissingDependencies):
        load(flow).run()

    assert rec.events == []


def test_unordered_siblings_cannot_see_each_other_results(load, rec):
    flow = unordered_flow.Flow("u").add(
        Needs("provider", rec, provides="x", value=1),
        Needs("consumer", rec, requires=["x"]),
    )

    with pytest.raises(exceptions.MissingDependencies):
        load(flow).run()

    assert rec.events == []


def test_a_later_subflow_sees_results_of_an_earlier_one(load, rec):
    flow = linear_flow.Flow("f").add(
        unordered_flow.Flow("first").add(
            Needs("p1", rec, provides="x", value=1),
            Needs("p2", rec, provides="y", value=2),
        ),
        Add("add", provides="sum"),
    )
    engine = load(flow)

    engine.run()

    assert engine.storage.fetch("sum") == 3


def test_an_optional_argument_is_filled_when_an_earlier_task_provides_it(load, rec):
    flow = linear_flow.Flow("f").add(
        Needs("py", rec, provides="y", value=5), Add("add", provides="sum")
    )
    engine = load(flow, store={"x": 1})

    engine.run()

    assert engine.storage.fetch("sum") == 6


def test_map_and_reduce_functor_tasks_run_in_a_flow(load):
    flow = linear_flow.Flow("f").add(
        task.MapFunctorTask(
            lambda n: n * n, name="squares", requires=["a", "b", "c"], provides="sq"
        ),
        task.ReduceFunctorTask(
            lambda x, y: x + y, name="sum", requires=["a", "b", "c"], provides="total"
        ),
    )
    engine = load(flow, store={"a": 1, "b": 2, "c": 3})

    engine.run()

    assert engine.storage.fetch("sq") == [1, 4, 9]
    assert engine.storage.fetch("total") == 6
