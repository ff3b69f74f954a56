"""Progress events around a task's own values."""

from __future__ import annotations

import logging

import pytest

from opsflow import task
from opsflow.patterns import linear_flow


class Reporting(task.Task):
    def __init__(self, values, fail=False, **kwargs):
        super().__init__(**kwargs)
        self.values = values
        self.fail = fail

    def execute(self):
        for value in self.values:
            self.update_progress(value)
        if self.fail:
            raise RuntimeError("nope")

    def revert(self, **kwargs):
        self.update_progress(0.5)


class Failing(task.Task):
    def execute(self):
        raise RuntimeError("later failure")


def _progress_via_engine(engine):
    """Progress values as the engine's atom notifier reports them."""
    seen = []

    def on_progress(event, details):
        seen.append(details["progress"])

    engine.atom_notifier.register(task.EVENT_UPDATE_PROGRESS, on_progress)
    return seen


def _progress_via_task(t):
    """Progress values as the task's own notifier reports them (TaskFlow API)."""
    seen = []
    t.notifier.register(
        task.EVENT_UPDATE_PROGRESS, lambda event, details: seen.append(details)
    )
    return seen


def test_engine_sends_zero_and_one_around_the_task_values(load):
    engine = load(Reporting([0.25, 0.5], name="t"))
    seen = _progress_via_engine(engine)

    engine.run()

    assert seen == [0.0, 0.25, 0.5, 1.0]


def test_the_task_notifier_gets_the_same_progress_values(load):
    t = Reporting([0.25, 0.5], name="t")
    seen = _progress_via_task(t)

    load(t).run()

    assert [d["progress"] for d in seen] == [0.0, 0.25, 0.5, 1.0]


def test_reverting_repeats_the_zero_and_one_pattern(load):
    t = Reporting([], name="t")
    seen = _progress_via_task(t)
    flow = linear_flow.Flow("f").add(t, Failing("later"))
    engine = load(flow)

    with pytest.raises(RuntimeError, match="later failure"):
        engine.run()

    assert [d["progress"] for d in seen] == [0.0, 1.0, 0.0, 0.5, 1.0]


def test_out_of_range_progress_is_clamped_with_a_logged_warning(load, caplog):
    # Like TaskFlow, the warning goes through logging (warnings would be
    # errors under pytest): one WARNING per clamped value, naming it.
    t = Reporting([1.7, -0.2], name="t")
    seen = _progress_via_task(t)
    engine = load(t)

    with caplog.at_level(logging.WARNING, logger="opsflow"):
        engine.run()

    assert [d["progress"] for d in seen] == [0.0, 1.0, 0.0, 1.0]
    warned = [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and r.name.startswith("opsflow")
    ]
    assert len(warned) == 2, warned
    assert "1.7" in warned[0]
    assert "-0.2" in warned[1]
