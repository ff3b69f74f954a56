"""opsflow.yamlflows: marks, schema and checks, building, conditions, lookup."""

from __future__ import annotations

import json
import os
import textwrap

import jsonschema
import pytest

from opsflow import engines, retry, task
from opsflow.patterns import graph_flow, linear_flow, unordered_flow
from opsflow.plugins import flows
from opsflow.plugins.loader import Namespace, PluginNotFound
from opsflow.yamlflows import build, document, marks
from opsflow.yamlflows.conditions import Condition
from opsflow.yamlflows.errors import FlowFileError, FlowNameClash, MissingInputs

CALLS: list[str] = []


class Echo(task.Task):
    """Return ``value`` (or the step's name); journal the call."""

    def execute(self, value=None, **kwargs):
        CALLS.append(f"execute {self.name}")
        return self.name if value is None else value

    def revert(self, *args, **kwargs):
        CALLS.append(f"revert {self.name}")


class Needs(task.Task):
    def execute(self, target):
        CALLS.append(f"execute {self.name} {target}")
        return target


class Boom(task.Task):
    def execute(self):
        CALLS.append(f"execute {self.name}")
        raise RuntimeError("boom")


TASKS = {"t.echo": Echo, "t.needs": Needs, "t.boom": Boom}


def load_task(name):
    try:
        return TASKS[name]
    except KeyError:
        raise PluginNotFound("opsflow.tasks", name, sorted(TASKS)) from None


@pytest.fixture(autouse=True)
def clear_calls():
    CALLS.clear()


def write(tmp_path, text, name="flow.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


def read(tmp_path, text):
    return document.read(write(tmp_path, text), task_names=TASKS)


def make(tmp_path, text, store=None):
    return build.build(read(tmp_path, text), load_task, store=store or {})


def error_of(tmp_path, text, store=None):
    with pytest.raises(FlowFileError) as caught:
        make(tmp_path, text, store)
    return caught.value


# -- marks --------------------------------------------------------------------
def test_every_key_and_item_keeps_its_line_and_column(tmp_path):
    data = marks.load("a:\n  - x\n  - {b: 1}\n", "f.yaml")
    assert data.key_marks["a"] == marks.Mark("f.yaml", 1, 1)
    assert data["a"].item_marks[1] == marks.Mark("f.yaml", 3, 5)
    assert marks.mark_of(data, ["a", 1, "b"]) == marks.Mark("f.yaml", 3, 9)


def test_anchors_and_merge_keys_work_and_own_keys_win():
    data = marks.load("base: &b {x: 1, y: 2}\nuse: {<<: *b, y: 3}\n", "f.yaml")
    assert data["use"] == {"x": 1, "y": 3}


def test_a_repeated_key_is_a_syntax_error_naming_both_lines():
    with pytest.raises(marks.YamlSyntaxError) as caught:
        marks.load("a: 1\nb: 2\na: 3\n", "f.yaml")
    assert str(caught.value).startswith("f.yaml:3:1: key 'a' is repeated")


def test_python_tags_are_refused_nothing_in_the_file_runs():
    with pytest.raises(marks.YamlSyntaxError):
        marks.load("a: !!python/object/apply:os.system ['true']\n", "f.yaml")


# -- schema and checks ----------------------------------------------------------
def test_the_published_schema_is_a_valid_json_schema():
    with open(document.SCHEMA_PATH, encoding="utf-8") as handle:
        jsonschema.Draft202012Validator.check_schema(json.load(handle))


def test_the_shipped_example_flows_pass_the_schema():
    here = os.path.dirname(__file__)
    repo = os.path.dirname(os.path.dirname(os.path.dirname(here)))
    examples = [
        os.path.join(repo, "etc", "opsflow", "flows.d"),
        os.path.join(repo, "tests", "functional", "yamlkit", "flows.d"),
    ]
    paths = [os.path.join(d, n) for d in examples for n in os.listdir(d) if ".y" in n]
    assert len(paths) >= 7
    for path in paths:
        assert document.read(path).flow.steps


@pytest.mark.parametrize(
    ("text", "where", "words"),
    [
        ("name: x\nstepz: []\n", (2, 1), "unknown key 'stepz'"),
        ("name: x\nsteps:\n  - task: t.echo\n    timeout: -1\n", (4, 14), "timeout"),
        ("name: x\npattern: tree\nsteps: [{task: t.echo}]\n", (2, 10), "'tree'"),
        ("name: x\nsteps: [{task: t.nope}]\n", (2, 16), "unknown task plugin"),
        ("name: x\nsteps: [{name: a}]\n", (2, 9), "either 'task'"),
        (
            "name: x\nsteps:\n  - {task: t.echo}\n  - {task: t.echo}\n",
            (4, 5),
            "duplicate name 't.echo'",
        ),
        (
            "name: x\nsteps: [{task: t.echo}]\nlinks: [{from: t.echo, to: t.echo}]\n",
            (3, 9),
            "graph flows only",
        ),
        (
            "name: x\nretry: {kind: for_each}\nsteps: [{task: t.echo}]\n",
            (2, 8),
            "missing key 'values'",
        ),
    ],
)
def test_a_bad_file_is_reported_at_its_line_and_column(tmp_path, text, where, words):
    path = write(tmp_path, text)
    with pytest.raises(FlowFileError) as caught:
        document.read(path, task_names=TASKS)
    assert (caught.value.mark.line, caught.value.mark.column) == where
    assert str(caught.value).startswith(f"{path}:{where[0]}:{where[1]}: ")
    assert words in str(caught.value)


def test_a_nested_duplicate_name_is_found(tmp_path):
    with pytest.raises(FlowFileError, match="duplicate name 'a'"):
        read(
            tmp_path,
            """\
            name: x
            steps:
              - {name: a, task: t.echo}
              - name: inner
                flow:
                  steps: [{name: a, task: t.echo}]
            """,
        )


# -- building -----------------------------------------------------------------
def test_patterns_nesting_and_step_settings_are_built(tmp_path):
    flow = make(
        tmp_path,
        """\
        name: x
        inputs: {target: {default: here}}
        steps:
          - {name: a, task: t.echo, provides: [first], inject: {value: [1]}}
          - name: inner
            flow:
              pattern: unordered
              steps:
                - {name: b, task: t.needs, timeout: 5}
                - name: g
                  flow:
                    pattern: graph
                    steps: [{name: c, task: t.echo, rebind: {value: first}}]
        """,
    )
    assert isinstance(flow, linear_flow.Flow)
    a, inner = list(flow)
    assert a.save_as == {"first": 0} and a.inject == {"value": [1]}
    assert isinstance(inner, unordered_flow.Flow)
    b, g = list(inner)
    assert b.timeout == 5 and b.inject == {"target": "here"}
    assert isinstance(g, graph_flow.Flow)
    assert engines.run(flow)["first"] == 1
    assert CALLS == ["execute a", "execute b here", "execute c"]


def test_a_default_is_not_injected_when_the_store_has_the_input(tmp_path):
    text = "name: x\ninputs: {target: {default: d}}\nsteps: [{task: t.needs}]\n"
    (step,) = list(make(tmp_path, text, store={"target": "given"}))
    assert not step.inject


def test_retries_of_each_kind_are_built_with_their_settings(tmp_path):
    def controller(body):
        text = f"name: x\nretry: {body}\nsteps: [{{task: t.echo}}]\n"
        return make(tmp_path, text + "inputs: {hosts: {}}\n").retry

    times = controller("{kind: times, attempts: 4, delay: 0.5, backoff: 2}")
    assert isinstance(times, retry.Times) and times.delay_before(3) == 1.0
    for_each = controller("{kind: for_each, values: [a, b], provides: item}")
    assert isinstance(for_each, retry.ForEach) and for_each.provides == {"item"}
    param = controller("{kind: parameterized_for_each, values: hosts}")
    assert isinstance(param, retry.ParameterizedForEach)
    assert param.requires == {"hosts"}
    assert isinstance(controller("{kind: always_revert}"), retry.AlwaysRevert)
    assert isinstance(controller("{kind: always_revert_all}"), retry.AlwaysRevertAll)


def test_a_conditional_link_skips_its_target_when_false(tmp_path):
    text = """\
        name: x
        pattern: graph
        inputs: {answer: {}}
        steps:
          - {name: ask, task: t.echo, rebind: {value: answer}, provides: reply}
          - {name: act, task: t.echo}
        links:
          - {from: ask, to: act, when: {value: reply, in: [yes, y]}}
        """
    engines.run(make(tmp_path, text), store={"answer": "no"})
    assert CALLS == ["execute ask"]
    CALLS.clear()
    engines.run(make(tmp_path, text), store={"answer": "y"})
    assert CALLS == ["execute ask", "execute act"]


@pytest.mark.parametrize(
    ("op", "operand", "value", "expected"),
    [
        ("equals", 1, 1, True),
        ("equals", 1, True, False),
        ("equals", "1", 1, False),
        ("not_equals", "a", "b", True),
        ("in", ["a", "b"], "b", True),
        ("not_in", ["a", "b"], "b", False),
        ("equals", {"k": [1]}, {"k": [1]}, True),
    ],
)
def test_conditions_compare_like_yaml_values(op, operand, value, expected):
    assert Condition("s", op, operand)({"s": value}) is expected


def test_a_condition_reads_the_item_a_step_provides():
    condition = Condition("s", "equals", "ok", whole=False, key="status")
    assert condition({"s": {"status": "ok"}})
    assert not condition({"s": {}})


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        (
            "name: x\npattern: graph\nsteps:\n"
            "  - {name: a, task: t.echo, provides: p, requires: q}\n"
            "  - {name: b, task: t.echo, provides: q, requires: p}\n",
            5,
            "closes a cycle",
        ),
        (
            "name: x\nsteps:\n  - {name: a, task: t.echo, with: {name: z}}\n",
            3,
            "'with' cannot set name",
        ),
        (
            "name: x\nsteps:\n  - {name: a, task: t.echo, with: {colour: red}}\n",
            3,
            "does not accept these settings",
        ),
        ("name: x\nsteps:\n  - {name: a, task: t.needs}\n", 3, "'target'"),
        (
            "name: x\ninputs: {p: {}}\nsteps:\n  - {task: t.echo, provides: p}\n",
            2,
            "also provided",
        ),
        (
            "name: x\npattern: graph\nsteps:\n  - {name: a, task: t.echo}\n"
            "  - {name: b, task: t.echo}\n"
            "links:\n  - from: a\n    to: b\n    when: {value: zz, equals: 1}\n",
            9,
            "not stored by 'a'",
        ),
    ],
)
def test_what_only_building_reveals_is_reported_at_its_line(
    tmp_path, text, line, words
):
    error = error_of(tmp_path, text)
    assert error.mark.line == line
    assert words in str(error)


def test_a_missing_input_names_where_it_is_declared(tmp_path):
    flow_file = read(
        tmp_path, "name: x\ninputs:\n  target: {}\nsteps: [{task: t.needs}]\n"
    )
    with pytest.raises(MissingInputs) as caught:
        build.missing_inputs(flow_file, {})
    assert caught.value.inputs == ["target"]
    assert f"{flow_file.path}:3:3" in str(caught.value)


# -- lookup through opsflow.flows -------------------------------------------------
class ModuleTasks(Namespace[type]):
    """The task classes of this module as the ``opsflow.tasks`` namespace."""

    def __init__(self) -> None:
        super().__init__("opsflow.tasks")

    def names(self) -> list[str]:
        return sorted(TASKS)

    def load(self, name: str) -> type:
        return load_task(name)


@pytest.fixture
def flow_dir(tmp_path):
    directory = tmp_path / "flows.d"
    directory.mkdir()
    return directory


def flows_of(directory):
    """The flows a program configured with ``flow_dirs = directory`` sees."""
    return flows.FlowNamespace(tasks=ModuleTasks(), flow_dirs=[str(directory)])


def test_a_yaml_flow_is_found_by_name_and_records_its_source(flow_dir):
    path = write(flow_dir, "name: hello\nsteps: [{task: t.echo}]\n", "hello.yaml")
    found = flows_of(flow_dir)
    assert "hello" in found.names()
    factory = found.load("hello")
    flow = flows.build_flow(factory, "hello", {})
    assert [atom.name for atom in flow] == ["t.echo"]
    source = flows.source_of(factory)
    assert source["path"] == path and source["kind"] == "yaml"
    assert len(source["sha256"]) == 64


def test_two_files_with_one_flow_name_are_a_clash_naming_both(flow_dir):
    first = write(flow_dir, "name: twin\nsteps: [{task: t.echo}]\n", "a.yaml")
    second = write(flow_dir, "name: twin\nsteps: [{task: t.echo}]\n", "b.yml")
    with pytest.raises(FlowNameClash) as caught:
        flows_of(flow_dir).load("twin")
    assert first in str(caught.value) and second in str(caught.value)
    loaded, broken = flows_of(flow_dir).scan()
    assert "twin" not in {item.name for item in loaded}
    # Listed once, naming both sources
    [twin] = [item for item in broken if item.name == "twin"]
    assert first in twin.error and second in twin.error
    assert "neither runs" in twin.error


def test_a_bad_file_is_listed_as_broken_and_never_hides_the_others(flow_dir):
    write(flow_dir, "name: good\nsteps: [{task: t.echo}]\n", "good.yaml")
    bad = write(flow_dir, "name: bad\nsteps: [{task: t.nope}]\n", "bad.yaml")
    loaded, broken = flows_of(flow_dir).scan()
    assert "good" in {item.name for item in loaded}
    (item,) = [item for item in broken if item.name == "bad"]
    assert item.target == bad and f"{bad}:2:16" in item.error


def test_an_unknown_name_points_at_a_file_that_cannot_be_read(flow_dir):
    bad = write(flow_dir, "name: [oops\n", "broken.yaml")
    with pytest.raises(FlowFileError) as caught:
        flows_of(flow_dir).load("nowhere")
    assert str(caught.value).startswith(f"{bad}:")


def test_an_unknown_name_with_readable_files_is_not_found(flow_dir):
    write(flow_dir, "name: good\nsteps: [{task: t.echo}]\n", "good.yaml")
    with pytest.raises(PluginNotFound):
        flows_of(flow_dir).load("nowhere")


def test_resume_refuses_a_changed_file_unless_forced(flow_dir):
    path = write(flow_dir, "name: hello\nsteps: [{task: t.echo}]\n", "hello.yaml")
    factory = flows_of(flow_dir).load("hello")
    flows.build_flow(factory, "hello", {})
    recorded = flows.source_of(factory)
    flows.check_source("run-1", factory, "hello", recorded, force=False)  # unchanged
    with open(path, "a", encoding="utf-8") as handle:
        handle.write("# changed\n")
    with pytest.raises(Exception, match="changed since the run began"):
        flows.check_source("run-1", factory, "hello", recorded, force=False)
    flows.check_source("run-1", factory, "hello", recorded, force=True)
    flows.check_source("run-1", factory, "hello", None, force=False)  # entry point


def test_declared_secrets_are_named_for_yaml_flows_only(flow_dir):
    write(
        flow_dir,
        "name: s\ninputs: {pw: {secret: true}, user: {}}\n"
        "steps: [{task: t.echo, rebind: {value: pw}, requires: [user]}]\n",
        "s.yaml",
    )
    assert flows.declared_secrets(flows_of(flow_dir).load("s")) == {"pw"}
    assert flows.declared_secrets(lambda pw=None: None) == frozenset()


def test_the_examples_of_the_docs_pass_the_schema_and_checks(tmp_path):
    here = os.path.dirname(__file__)
    repo = os.path.dirname(os.path.dirname(os.path.dirname(here)))
    with open(os.path.join(repo, "docs", "flows-yaml.md"), encoding="utf-8") as doc:
        text = doc.read()
    blocks = [b.split("```", 1)[0] for b in text.split("```yaml\n")[1:]]
    examples = [b for b in blocks if b.lstrip().startswith("name:")]
    assert len(examples) == 3
    for index, block in enumerate(examples):
        path = write(tmp_path, block, f"example-{index}.yaml")
        assert document.read(path).flow.steps
