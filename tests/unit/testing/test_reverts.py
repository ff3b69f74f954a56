"""The revert kit catches leaky and non-idempotent reverts, and passes good ones."""

from __future__ import annotations

import os

import pytest

from opsflow import task
from opsflow.patterns import linear_flow
from opsflow.testing import (
    RevertCheckFailed,
    check_reverts,
    describe_difference,
    snapshots,
)


class MakeFile(task.Task):
    """Creates a file; its revert removes it (or, when leaky, forgets to)."""

    def __init__(self, path, leaky=False, strict_revert=False, **kwargs):
        super().__init__(**kwargs)
        self.path, self.leaky, self.strict_revert = path, leaky, strict_revert

    def execute(self):
        with open(self.path, "w") as handle:
            handle.write(self.name)
        return self.path

    def revert(self, result=None, **kwargs):
        if self.leaky or not isinstance(result, str):
            return
        if self.strict_revert:
            os.remove(result)  # fails when run a second time
        elif os.path.exists(result):
            os.remove(result)


def _flow(root, **options):
    def make():
        flow = linear_flow.Flow("files")
        flow.add(MakeFile(str(root / "a"), name="a"))
        flow.add(MakeFile(str(root / "b"), name="b", **options))
        flow.add(MakeFile(str(root / "c"), name="c"))
        return flow

    return make


def test_a_flow_whose_reverts_undo_everything_passes_for_every_step(tmp_path):
    # When the kit injects a failure after each of the three steps
    report = check_reverts(
        _flow(tmp_path), lambda: snapshots.files(str(tmp_path)), revert_twice=True
    )
    # Then each run was reverted and left the directory as it was
    assert [(o.step, o.state, o.ok) for o in report.outcomes] == [
        ("a", "REVERTED", True),
        ("b", "REVERTED", True),
        ("c", "REVERTED", True),
    ]


def test_a_revert_that_forgets_its_work_is_reported_with_what_was_left(tmp_path):
    with pytest.raises(RevertCheckFailed) as caught:
        check_reverts(_flow(tmp_path, leaky=True), lambda: sorted(os.listdir(tmp_path)))
    message = str(caught.value)
    # b leaks whenever it ran: after b and after c, never after a
    assert "failure after step b: the system differs" in message
    assert "failure after step c: the system differs" in message
    assert "failure after step a" not in message
    assert "added 'b'" in message


def test_a_revert_that_fails_when_run_twice_is_reported(tmp_path):
    report = check_reverts(
        _flow(tmp_path, strict_revert=True),
        lambda: snapshots.files(str(tmp_path)),
        revert_twice=True,
        raise_on_problems=False,
    )
    assert not report.ok
    problems = report.outcomes[1].problems
    assert any(p.startswith("the revert of b failed: ") for p in problems), problems


def test_the_cleanup_callback_runs_after_a_leaky_run(tmp_path):
    cleaned = []

    def cleanup():
        cleaned.append(sorted(os.listdir(tmp_path)))
        for name in os.listdir(tmp_path):
            os.remove(tmp_path / name)

    report = check_reverts(
        _flow(tmp_path, leaky=True),
        lambda: sorted(os.listdir(tmp_path)),
        cleanup=cleanup,
        raise_on_problems=False,
    )
    assert cleaned == [["b"], ["b"]]
    assert [o.ok for o in report.outcomes] == [True, False, False]


def test_a_step_that_is_not_a_task_of_the_flow_is_refused(tmp_path):
    with pytest.raises(ValueError, match="not tasks of the flow: zz"):
        check_reverts(_flow(tmp_path), lambda: None, steps=["zz"])


def test_a_real_failure_before_the_injected_one_is_reported(tmp_path):
    def make():
        flow = linear_flow.Flow("broken")
        flow.add(task.FunctorTask(_boom, name="boom"))
        flow.add(MakeFile(str(tmp_path / "x"), name="x"))
        return flow

    report = check_reverts(
        make, lambda: sorted(os.listdir(tmp_path)), raise_on_problems=False
    )
    assert "failed instead: boom" in report.outcomes[1].problems[0]


def _boom():
    raise RuntimeError("real failure")


def test_differences_are_described_by_key_and_by_item():
    assert describe_difference({"a": 1, "b": {1}}, {"b": {1, 2}, "c": 3}) == (
        "added 'c'; removed 'a'; 'b': added 2"
    )
    assert describe_difference(1, 2) == "before 1, after 2"
