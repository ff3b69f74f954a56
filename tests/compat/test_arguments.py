"""Arguments, results and flow-definition errors match TaskFlow 6.5."""

from __future__ import annotations

import pytest

from .harness import load_engine, run_flow


@pytest.fixture
def xy(lib):
    """A task with one required and one optional argument."""

    class XY(lib.task.Task):
        def execute(self, x, y=3):
            return (x, y)

    return XY


def test_a_string_provides_stores_the_whole_result(kit, xy, engine_kind):
    flow = kit.linear("f", xy("t", provides="r"))
    outcome = run_flow(kit.lib, flow, engine_kind, store={"x": 1})
    # The optional argument was not required and kept its default
    assert outcome.results == {"x": 1, "r": (1, 3)}
    assert outcome.engine.storage.fetch("r") == (1, 3)


@pytest.mark.parametrize("provides", [("p", "q"), ["p", "q"]])
def test_a_sequence_provides_splits_the_result_by_index(kit, xy, engine_kind, provides):
    flow = kit.linear("f", xy("t", provides=provides))
    outcome = run_flow(kit.lib, flow, engine_kind, store={"x": 1, "y": 2})
    # The optional argument was filled from the store because it was there
    assert outcome.results == {"x": 1, "y": 2, "p": 1, "q": 2}


def test_a_set_provides_picks_keys_from_a_dict_result(kit, engine_kind):
    class Mapping(kit.lib.task.Task):
        def execute(self):
            return {"k1": 1, "k2": 2, "k3": 3}

    flow = kit.linear(
        "f",
        Mapping("m", provides={"k1", "k2"}),
        kit.task("use", requires=["k1", "k2"]),
    )
    outcome = run_flow(kit.lib, flow, engine_kind)
    assert outcome.results == {"k1": 1, "k2": 2}
    (call,) = kit.journal.of("execute", "use")
    assert call.args == (("k1", 1), ("k2", 2))


def test_default_provides_names_the_result_and_unnamed_tasks_get_a_class_name(
    kit, engine_kind
):
    class Out(kit.lib.task.Task):
        default_provides = "out"

        def execute(self):
            return "o"

    task = Out()
    assert task.name == f"{Out.__module__}.Out"
    outcome = run_flow(kit.lib, kit.linear("f", task), engine_kind)
    assert outcome.results == {"out": "o"}


def test_a_rebind_list_renames_required_arguments_in_order(kit, xy, engine_kind):
    flow = kit.linear("f", xy("t", provides="r", rebind=["a"]))
    outcome = run_flow(kit.lib, flow, engine_kind, store={"a": 1, "y": 2})
    assert outcome.results["r"] == (1, 2)


def test_a_rebind_dict_renames_an_optional_argument_and_makes_it_required(
    kit, xy, engine_kind
):
    # Given an optional argument rebound to another name
    flow = kit.linear("f", xy("t", provides="r", rebind={"y": "b"}))

    # When that name is available it is used
    outcome = run_flow(kit.lib, flow, engine_kind, store={"x": 1, "b": 2})
    assert outcome.results["r"] == (1, 2)

    # And when it is not, the flow cannot start
    flow = kit.linear("f2", xy("t", provides="r", rebind={"y": "b"}))
    outcome = run_flow(kit.lib, flow, engine_kind, store={"x": 1})
    assert outcome.raised[0] == "MissingDependencies"


def test_inject_beats_both_store_and_results(kit, engine_kind):
    flow = kit.linear(
        "f",
        kit.task("a", provides="x"),
        kit.task("b", requires=["x"], inject={"x": "injected"}),
        kit.task("c", requires=["x"]),
    )
    run_flow(kit.lib, flow, engine_kind, store={"x": "stored"})
    assert kit.journal.of("execute", "b")[0].args == (("x", "injected"),)
    # Then: an engine store value hides the task result of the same name
    assert kit.journal.of("execute", "c")[0].args == (("x", "stored"),)


def test_storage_inject_fills_a_requirement_before_run(kit, engine_kind):
    flow = kit.linear("f", kit.task("a", requires=["x"]))
    engine = load_engine(kit.lib, flow, engine=engine_kind)
    engine.storage.inject({"x": 42})
    engine.run()
    assert kit.journal.of("execute", "a")[0].args == (("x", 42),)


def test_the_nearest_earlier_provider_wins_and_fetch_all_lists_every_value(
    kit, engine_kind
):
    flow = kit.linear(
        "f",
        kit.task("a", provides="x"),
        kit.task("b", provides="x"),
        kit.task("c", requires=["x"]),
    )
    outcome = run_flow(kit.lib, flow, engine_kind)
    assert kit.journal.of("execute", "c")[0].args == (("x", "b-result"),)
    assert outcome.results == {"x": ["a-result", "b-result"]}


def test_store_values_and_results_of_one_name_are_both_listed(kit, engine_kind):
    flow = kit.linear("f", kit.task("a", provides="x"), kit.task("c", requires=["x"]))
    outcome = run_flow(kit.lib, flow, engine_kind, store={"x": "store"})
    assert kit.journal.of("execute", "c")[0].args == (("x", "store"),)
    assert outcome.results == {"x": ["store", "a-result"]}


def test_revert_requires_replaces_what_revert_receives(kit, engine_kind):
    flow = kit.linear(
        "f",
        kit.task("a", requires=["x"], revert_requires=["z"]),
        kit.task("b", fail=True),
    )
    run_flow(kit.lib, flow, engine_kind, store={"x": 1, "z": 2})
    assert kit.journal.of("execute", "a")[0].args == (("x", 1),)
    assert kit.journal.of("revert", "a")[0].args == (("z", 2),)


# --------------------------------------------------------------------------
# Errors found before anything runs


def test_a_missing_requirement_fails_validation_before_any_task_runs(kit):
    # Given a task needing a value nobody provides
    flow = kit.linear("f", kit.task("ok"), kit.task("a", requires=["nope"]))
    engine = load_engine(kit.lib, flow)

    # When the engine is compiled and prepared, nothing complains yet
    engine.compile()
    engine.prepare()

    # Then validate() names the missing dependency, and run() refuses too
    exc = kit.lib.exceptions
    with pytest.raises(exc.MissingDependencies, match="nope"):
        engine.validate()
    with pytest.raises(exc.MissingDependencies):
        engine.run()
    assert issubclass(exc.MissingDependencies, exc.DependencyFailure)
    assert kit.journal.calls == []


def test_a_missing_revert_requirement_also_fails_validation(kit):
    flow = kit.linear("f", kit.task("a", revert_requires=["nope"]))
    engine = load_engine(kit.lib, flow)
    engine.compile()
    engine.prepare()
    with pytest.raises(kit.lib.exceptions.MissingDependencies, match="nope"):
        engine.validate()
    assert kit.journal.calls == []


def test_duplicate_atom_names_are_refused_at_compile(kit):
    flow = kit.linear("f", kit.task("a"), kit.unordered("u", kit.task("a")))
    engine = load_engine(kit.lib, flow)
    with pytest.raises(kit.lib.exceptions.Duplicate, match="a"):
        engine.compile()
    with pytest.raises(kit.lib.exceptions.Duplicate):
        load_engine(kit.lib, flow).run()
    assert kit.journal.calls == []


def test_two_providers_for_one_requirement_in_a_graph_are_ambiguous(kit):
    # Given a graph with one provider of x
    graph = kit.graph("g", kit.task("a", provides="x"))

    # When a second provider and a consumer are added together
    exc = kit.lib.exceptions
    with pytest.raises(exc.AmbiguousDependency):
        graph.add(kit.task("b", provides="x"), kit.task("c", requires=["x"]))

    # Then the graph is left as it was
    assert [node.name for node, _ in graph.iter_nodes()] == ["a"]
    assert issubclass(exc.AmbiguousDependency, exc.DependencyFailure)


def test_a_dependency_cycle_is_refused_and_leaves_the_graph_unchanged(kit):
    graph = kit.graph("g", kit.task("a", provides="x", requires=["y"]))
    with pytest.raises(kit.lib.exceptions.DependencyFailure):
        graph.add(kit.task("b", provides="y", requires=["x"]))
    assert [node.name for node, _ in graph.iter_nodes()] == ["a"]


def test_a_cycle_made_by_link_is_refused(kit):
    a, b = kit.tasks("a", "b")
    graph = kit.graph("g", a, b)
    graph.link(a, b)
    with pytest.raises(kit.lib.exceptions.DependencyFailure):
        graph.link(b, a)
    # The refused edge was not kept: the flow still runs a before b
    run_flow(kit.lib, graph)
    assert kit.journal.executed() == ["a", "b"]


def test_a_provided_name_missing_from_the_result_is_left_out_of_fetch_all(
    kit, engine_kind
):
    # Given tasks whose results lack some of the names they provide
    class Mapping(kit.lib.task.Task):
        def execute(self):
            return {"k1": 1, "k2": 2}

    flow = kit.linear(
        "f",
        Mapping("m", provides={"k1", "k9"}),
        Mapping("n", provides=("a", "b", "c")),
    )

    # When the flow runs
    outcome = run_flow(kit.lib, flow, engine_kind)

    # Then only the names that could be extracted are listed
    assert outcome.flow_state == "SUCCESS"
    assert outcome.results == {"k1": 1}
    with pytest.raises(kit.lib.exceptions.NotFound):
        outcome.engine.storage.fetch("k9")


def test_adding_the_same_atom_twice_keeps_one_node(kit, engine_kind):
    # Given one task object added twice to linear and unordered flows
    a, b = kit.tasks("a", "b")
    linear = kit.lib.linear_flow.Flow("f").add(a, b, a)
    unordered = kit.lib.unordered_flow.Flow("u").add(a, a)

    # Then each flow holds it once, at its first position
    assert [node.name for node, _ in linear.iter_nodes()] == ["a", "b"]
    assert len(unordered) == 1

    # And the linear flow runs it once
    outcome = run_flow(kit.lib, linear, engine_kind)
    assert outcome.flow_state == "SUCCESS"
    assert kit.journal.executed() == ["a", "b"]


@pytest.mark.parametrize("names", [("a", "b"), ("b", "a"), ("zz", "mm", "qq")])
def test_of_equally_near_sibling_providers_the_last_declared_wins(
    kit, engine_kind, names
):
    # Given unordered siblings that all provide x, then a consumer of x
    providers = [kit.task(name, provides="x") for name in names]
    flow = kit.linear(
        "f", kit.unordered("u", *providers), kit.task("c", requires=["x"])
    )

    # When it runs
    outcome = run_flow(kit.lib, flow, engine_kind)

    # Then the consumer gets the last-declared provider's value (TaskFlow),
    # and fetch_all lists every value in declaration order
    assert kit.journal.of("execute", "c")[0].args == (("x", f"{names[-1]}-result"),)
    assert outcome.results == {"x": [f"{name}-result" for name in names]}


@pytest.mark.parametrize(
    "options",
    [
        {"revert_rebind": {"y": "yy"}},
        {"revert_rebind": ["yy"]},
        {"revert_requires": ["z"]},
        {},
    ],
)
def test_revert_arguments_follow_its_own_signature_and_rebinding(
    kit, engine_kind, options
):
    # Given a task whose revert() takes other arguments than execute()
    seen = []

    class Undo(kit.lib.task.Task):
        def execute(self, x):
            return x

        def revert(self, y, result, flow_failures, z=5):
            seen.append((y, z, result, sorted(flow_failures)))

    flow = kit.linear("f", Undo("undo", **options), kit.task("bad", fail=True))

    # When the flow fails and reverts
    outcome = run_flow(
        kit.lib, flow, engine_kind, store={"x": 1, "y": 2, "yy": 3, "z": 9}
    )

    # Then revert got its own (rebound) arguments, optional ones included
    expected_y = 3 if "revert_rebind" in options else 2
    assert seen == [(expected_y, 9, 1, ["bad"])]
    assert outcome.flow_state == "REVERTED"


def test_requires_and_provides_keep_declaration_order(lib):
    # Given a task with six arguments and six provided names
    class Six(lib.task.Task):
        def execute(self, f, b, e, a, d, c):
            return (f, b, e, a, d, c)

    task = Six("six", provides=("u", "z", "v", "y", "w", "x"))

    # Then iterating requires/provides follows the declarations (TaskFlow
    # keeps them in ordered sets; code that zips them with values relies on it)
    assert list(task.requires) == ["f", "b", "e", "a", "d", "c"]
    assert list(task.provides) == ["u", "z", "v", "y", "w", "x"]


def test_unknown_engine_and_executor_names_are_refused_at_load(kit):
    flow = kit.linear("f", kit.task("a"))
    with pytest.raises(kit.lib.exceptions.NotFound):
        kit.lib.engines.load(flow, engine="bogus")
    with pytest.raises(ValueError, match="bogus"):
        kit.lib.engines.load(flow, engine="parallel", executor="bogus")
    assert kit.journal.calls == []


def test_opsflow_provides_may_map_stored_names_to_result_keys(opsflow_lib, engine_kind):
    """opsflow extension ("provides" may be a dict of names): TaskFlow 6.5
    refuses a dict with TypeError; opsflow stores result[key] under each name."""
    from .harness import Kit

    class Mapping(opsflow_lib.task.Task):
        def execute(self):
            return {"k1": 1, "k2": 2}

    kit = Kit(opsflow_lib)
    flow = kit.linear(
        "f",
        Mapping("m", provides={"first": "k1", "second": "k2"}),
        kit.task("use", requires=["first", "second"]),
    )

    outcome = run_flow(opsflow_lib, flow, engine_kind)

    assert outcome.results == {"first": 1, "second": 2}
    assert kit.journal.of("execute", "use")[0].args == (("first", 1), ("second", 2))


def test_taskflow_refuses_a_dict_provides(taskflow_lib):
    class Mapping(taskflow_lib.task.Task):
        def execute(self):
            return {}

    with pytest.raises(TypeError):
        Mapping("m", provides={"first": "k1"})
