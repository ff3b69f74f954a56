"""The recap's counts and the 'changed nothing' test a task's result goes through."""

from __future__ import annotations

from opsflow.cli import report
from opsflow.cli.progress import StepRecord
from opsflow.task import CHANGED_KEY, made_changes


def test_only_a_mapping_saying_changed_false_is_unchanged():
    assert not made_changes({"path": "/x", CHANGED_KEY: False})
    assert made_changes({"path": "/x", CHANGED_KEY: True})
    assert made_changes({"path": "/x"})
    # Falsy values other than False say nothing: the step counts as a change.
    assert made_changes({CHANGED_KEY: 0})
    assert made_changes({CHANGED_KEY: None})
    for result in (None, 8080, "done", [False], ("changed", False)):
        assert made_changes(result)


def run_report(states: dict[str, str], **fields) -> report.RunReport:
    steps = [StepRecord(name, state=state) for name, state in states.items()]
    return report.RunReport("r", "f", "SUCCESS", 0.0, steps, **fields)


def test_the_recap_counts_each_final_state():
    counts = report.recap(
        run_report(
            {"a": "SUCCESS", "b": "SUCCESS", "c": "IGNORE", "d": "REVERTED"},
            unchanged={"b"},
        )
    )
    assert counts == {"ok": 2, "changed": 1, "skipped": 1, "reverted": 1, "failed": 0}


def test_a_step_that_failed_and_was_undone_counts_as_both():
    failure = report.FailureReport("b", "execute", "E: x", "")
    revert = report.FailureReport("a", "revert", "E: y", "")
    counts = report.recap(
        run_report({"a": "REVERT_FAILURE", "b": "REVERTED"}, failures=[failure, revert])
    )
    assert counts == {"ok": 0, "changed": 0, "skipped": 0, "reverted": 1, "failed": 2}
