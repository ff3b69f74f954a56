"""The demo flow does its work, and a failure anywhere leaves nothing behind."""

from __future__ import annotations

import os

import pytest
from opsflow_demo.flows import demo_flow
from opsflow_demo.tasks import InjectedFailure

from opsflow import engines


def test_demo_flow_writes_its_files_and_succeeds(tmp_path):
    # Given a work dir that does not exist yet
    workdir = tmp_path / "work"
    # When the demo runs to the end
    engine = engines.load(
        demo_flow(steps=2), store={"workdir": str(workdir), "delay": 0}
    )
    engine.run()
    # Then every step's file is there and the report lists them
    assert engine.storage.get_flow_state() == "SUCCESS"
    assert sorted(os.listdir(workdir)) == [
        "hello.txt",
        "report.txt",
        "step_1.txt",
        "step_2.txt",
    ]
    assert (workdir / "report.txt").read_text().split() == [
        "hello.txt",
        "step_1.txt",
        "step_2.txt",
    ]


@pytest.mark.parametrize(
    "fail_at", ["create_workdir", "write_file", "step_1", "step_2", "write_report"]
)
def test_a_failure_at_any_step_reverts_everything(tmp_path, fail_at):
    # Given the demo asked to fail at one step
    workdir = tmp_path / "work"
    store = {"workdir": str(workdir), "delay": 0, "fail_at": fail_at}
    engine = engines.load(demo_flow(steps=2), store=store)
    # When it runs, the injected failure comes back out of run()
    with pytest.raises(InjectedFailure, match=fail_at):
        engine.run()
    # Then the flow is reverted and nothing is left on disk
    assert engine.storage.get_flow_state() == "REVERTED"
    assert not workdir.exists()


def test_demo_flow_refuses_a_step_count_that_is_not_a_positive_integer():
    with pytest.raises(ValueError, match="steps"):
        demo_flow(steps="three")
