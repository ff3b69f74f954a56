"""opsflow.cli: arguments, store inputs, masking, exit codes, plans, progress."""

from __future__ import annotations

import io
import json
import logging

import pytest

from opsflow.cli import args, exits, inputs, plan, progress, report
from opsflow.cli.masking import MASK, Masker


def test_usage_errors_raise_instead_of_exiting_with_argparse_status_2():
    with pytest.raises(exits.UsageError, match="unrecognized arguments: --nope"):
        args.parse(["demo", "--nope"])


def test_a_flow_name_or_a_mode_is_required_but_not_both():
    with pytest.raises(exits.UsageError, match="missing flow name"):
        args.parse([])
    with pytest.raises(exits.UsageError, match="give a flow name or one of"):
        args.parse(["demo", "--list"])
    assert args.parse(["--list"]).list is True


def test_modes_exclude_each_other():
    with pytest.raises(exits.UsageError, match="not allowed with"):
        args.parse(["--list", "--history"])


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ("steps=30", ("steps", 30)),
        ("ratio=0.5", ("ratio", 0.5)),
        ("on=true", ("on", True)),
        ('hosts=["a", "b"]', ("hosts", ["a", "b"])),
        ("name=web-1", ("name", "web-1")),
        ("empty=", ("empty", "")),
        ("eq=a=b", ("eq", "a=b")),
    ],
)
def test_store_values_are_json_when_they_parse_else_strings(item, expected):
    assert inputs.parse_store_item(item) == expected


@pytest.mark.parametrize("item", ["novalue", "=3", "two words=1"])
def test_a_store_item_without_a_key_is_a_usage_error(item):
    with pytest.raises(exits.UsageError, match="expected KEY=VALUE"):
        inputs.parse_store_item(item)


def test_a_bad_secret_item_never_echoes_its_value():
    with pytest.raises(exits.UsageError) as caught:
        inputs.parse_inputs(secret_items=["no key=hunter2"])
    assert "hunter2" not in str(caught.value)


def test_store_file_yaml_with_secrets_then_flags_win(tmp_path):
    path = tmp_path / "in.yaml"
    path.write_text("region: eu\nsize: 2\npassword: pw1\nsecrets: [password]\n")
    got = inputs.parse_inputs(["size=3"], str(path), ["token=abc"])
    assert got.store == {"region": "eu", "size": 3, "password": "pw1", "token": "abc"}
    assert got.secret_keys == {"password", "token"}


def test_store_file_json_is_read(tmp_path):
    path = tmp_path / "in.json"
    path.write_text('{"steps": 2}')
    assert inputs.parse_inputs(store_file=str(path)).store == {"steps": 2}


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("bad.json", "{nope", "not valid JSON"),
        ("bad.yaml", "a: [1, 2", "not valid YAML"),
        ("list.yaml", "- 1\n- 2\n", "expected a mapping"),
        ("sec.yaml", "a: 1\nsecrets: a\n", "must be a list of key names"),
        ("sec2.yaml", "a: 1\nsecrets: [b]\n", "not in the file: b"),
        ("unsafe.yaml", "a: !!python/object/apply:os.system ['true']\n", "YAML"),
    ],
)
def test_a_bad_store_file_is_a_usage_error_naming_it(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(exits.UsageError, match=message) as caught:
        inputs.parse_inputs(store_file=str(path))
    assert str(path) in str(caught.value)


def test_a_missing_store_file_is_a_usage_error(tmp_path):
    with pytest.raises(exits.UsageError, match="No such file"):
        inputs.parse_inputs(store_file=str(tmp_path / "none.yaml"))


def test_masker_hides_secret_keys_values_and_substrings():
    masker = Masker({"password": "hunter2", "pin": 1234})
    assert masker.text("login hunter2 failed") == f"login {MASK} failed"
    assert masker.value({"password": "x", "out": ["a hunter2", 1234, 5]}) == {
        "password": MASK,
        "out": [f"a {MASK}", MASK, 5],
    }
    assert masker.store({"password": "hunter2", "x": 1}) == {"password": MASK, "x": 1}


def test_masker_without_secrets_changes_nothing():
    masker = Masker({})
    assert not masker
    assert masker.value({"a": "b"}) == {"a": "b"}


def test_masking_filter_hides_secrets_in_log_records_and_tracebacks():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    Masker({"password": "hunter2"}).install([handler])
    logger = logging.getLogger("test_cli.masking")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("using %s", "hunter2")
        try:
            raise RuntimeError("bad hunter2")
        except RuntimeError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    assert "hunter2" not in stream.getvalue()
    assert f"using {MASK}" in stream.getvalue()
    assert f"RuntimeError: bad {MASK}" in stream.getvalue()


@pytest.mark.parametrize(
    ("state", "code"),
    [("SUCCESS", 0), ("REVERTED", 1), ("FAILURE", 2), ("SUSPENDED", 3), ("RUNNING", 2)],
)
def test_each_final_state_has_its_exit_code(state, code):
    assert exits.for_state(state) == code


def compiled_flow():
    """a, b, then c in a subflow retried by r1 (two attempts)."""
    from opsflow import engines, retry, task
    from opsflow.patterns import linear_flow

    class Noop(task.Task):
        def execute(self):
            return None

    inner = linear_flow.Flow("inner", retry=retry.Times(2, name="r1"))
    flow = linear_flow.Flow("f").add(
        Noop(name="a"), Noop(name="b"), inner.add(Noop(name="c"))
    )
    return engines.load(flow).compilation


def test_the_plan_lists_what_each_failure_would_revert_newest_first():
    steps = plan.plan(compiled_flow())
    assert [(s.name, s.reverted_on_failure) for s in steps] == [
        ("a", ("a",)),
        ("b", ("b", "a")),
        ("r1", ("r1", "b", "a")),
        ("c", ("c", "r1", "b", "a")),
    ]
    assert steps[3].retry == "r1"
    assert [(r.retry, r.attempts, r.reverts) for r in steps[3].retried_by] == [
        ("r1", 2, ("c",))
    ]


def test_the_plan_prints_as_text_and_as_json():
    steps = plan.plan(compiled_flow())
    text, data = io.StringIO(), io.StringIO()
    report.print_plan("f", steps, text, as_json=False)
    report.print_plan("f", steps, data, as_json=True)
    assert "if it fails, reverts: b, a" in text.getvalue()
    assert "when retries run out, reverts: c, r1, b, a" in text.getvalue()
    assert json.loads(data.getvalue())["order"] == ["a", "b", "r1", "c"]


def test_the_dot_graph_has_every_step_and_edge():
    from opsflow.views import pictures

    dot = pictures.to_dot(pictures.picture_of('my "flow"', compiled_flow()))
    assert dot.startswith('digraph "my \\"flow\\"" {')
    assert '"a" -> "b";' in dot and '"b" -> "r1";' in dot and '"r1" -> "c";' in dot
    assert '"c" [label="4. c"' in dot


def test_the_recorder_times_steps_and_the_bar_shows_them():
    bar = progress.ProgressBar(io.StringIO(), width=10)
    recorder = progress.StepRecorder("f", ["a", "b"], bar)
    recorder._on_atom_event("RUNNING", {"task_name": "a"})
    recorder._on_atom_event("update_progress", {"task_name": "a", "progress": 0.5})
    assert bar.render(recorder) == "f [##--------] 0/2 done  running: a 50%"
    recorder._on_atom_event("SUCCESS", {"task_name": "a"})
    recorder._on_atom_event("REVERTING", {"task_name": "a"})
    assert bar.render(recorder) == "f revert [----------] 0/1 undone  reverting: a"
    recorder.finish()
    assert recorder.steps["a"].duration > 0
    assert recorder.steps["b"].state == "PENDING"


def test_json_document_masks_results_and_failures():
    record = progress.StepRecord("a", state="FAILURE", duration=0.5)
    run = report.RunReport(
        run_id="r",
        flow="f",
        state="REVERTED",
        duration=1.0,
        steps=[record],
        results={"a": {"token": "hunter2"}},
        failures=[report.FailureReport("a", "execute", "E: hunter2", "tb hunter2")],
    )
    document = report.json_document(run, Masker({"pw": "hunter2"}))
    assert "hunter2" not in json.dumps(document)
    assert document["atoms"]["a"] == {
        "state": "FAILURE",
        "result": {"token": MASK},
        "duration": 0.5,
        "started_at": None,
        "attempts": 0,
        "run_duration": 0.0,
        "revert_duration": 0.0,
        "changed": None,
    }
    assert document["failures"][0]["exception"] == f"E: {MASK}"


def test_secrets_reach_the_engine_but_not_the_saved_flow_detail(tmp_path):
    from opsflow import task
    from opsflow.conf import loader
    from opsflow.patterns import linear_flow
    from opsflow.plugins.catalog import Catalog
    from opsflow.runs import FlowSource, RunInputs, RunService

    class Login(task.Task):
        def execute(self, password, user):
            return f"{user}:{len(password)}"

    def factory():
        return linear_flow.Flow("f").add(Login(name="login"))

    conf = loader.load(overrides={})
    source = FlowSource("f", factory, entry_point=None, declared_secrets=frozenset())
    inputs = RunInputs(
        store={"password": "hunter2", "user": "ops"},
        secret_keys=frozenset({"password"}),
    )
    prepared = RunService(conf, Catalog()).prepare(source, inputs)
    assert prepared.record.secrets == ("password",)
    engine = prepared.engine
    engine.run()
    assert engine.storage.get("login") == "ops:7"
    assert engine.storage.fetch("password") == "hunter2"
    assert "hunter2" not in repr(engine.storage.flow_detail.meta)
    assert "ops" in repr(engine.storage.flow_detail.meta)
