"""opsflow.runs.drill (--fail-at) and opsflow.runs.describe (FLOW --help)."""

from __future__ import annotations

import pytest

from opsflow import engines, exceptions, retry, task
from opsflow.patterns import graph_flow, linear_flow, unordered_flow
from opsflow.runs import RunRecord, drill
from opsflow.runs.describe import split_doc


class Journal(task.Task):
    def __init__(self, log, **kwargs):
        super().__init__(**kwargs)
        self.log = log

    def execute(self, **values):
        self.log.append(f"execute {self.name}")
        return self.name

    def revert(self, *args, **kwargs):
        self.log.append(f"revert {self.name}")


def run(flow):
    engine = engines.load(flow)
    with pytest.raises(drill.DrillFailure, match="revert drill"):
        engine.run()
    return engine.storage.get_flow_state()


def test_a_drill_fails_right_after_its_step_in_a_linear_flow():
    log = []
    flow = linear_flow.Flow("f").add(*(Journal(log, name=n) for n in "abc"))
    assert run(drill.fail_after(flow, "b")) == "REVERTED"
    assert log == ["execute a", "execute b", "revert b", "revert a"]


def test_a_drill_in_a_graph_flow_runs_before_what_needs_the_step():
    log = []
    first = Journal(log, name="first", provides="x")
    then = Journal(log, name="then", requires="x")
    other = Journal(log, name="other")
    flow = graph_flow.Flow("g").add(first, then, other)
    run(drill.fail_after(flow, "first"))
    assert "execute then" not in log
    assert log.index("execute first") < log.index("revert first")


def test_a_drill_under_a_retry_reverts_everything_without_retrying():
    log = []
    inner = linear_flow.Flow("inner", retry=retry.Times(5, name="again")).add(
        Journal(log, name="b")
    )
    flow = linear_flow.Flow("f").add(Journal(log, name="a"), inner)
    assert run(drill.fail_after(flow, "b")) == "REVERTED"
    assert log.count("execute b") == 1
    assert log[-1] == "revert a"


def test_a_drill_in_an_unordered_flow_names_its_steps_when_wrong():
    flow = unordered_flow.Flow("u").add(Journal([], name="x"), Journal([], name="y"))
    with pytest.raises(exceptions.UsageError) as caught:
        drill.fail_after(flow, "z")
    assert str(caught.value) == ("--fail-at z: flow u has no step 'z'; its steps: x, y")


def test_the_run_record_keeps_the_drill():
    record = RunRecord.create("f", (), (), {}, fail_at="b")
    assert RunRecord.from_meta({"run": record.to_meta()}).fail_at == "b"
    plain = RunRecord.create("f", (), (), {})
    assert "fail_at" not in plain.to_meta()


def test_a_docstring_gives_its_text_and_param_descriptions():
    text, params = split_doc(
        """Make ``things`` happen.

        More about it.

        :param count: how many
            things, at most
        :param str name: what to call them
        :raises ValueError: never shown
        """
    )
    assert text == "Make things happen. More about it."
    assert params == {"count": "how many things, at most", "name": "what to call them"}
