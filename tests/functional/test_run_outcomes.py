"""Each final state of a run has its exit code, summary and JSON document."""

from __future__ import annotations

import json
import os
import pathlib
import re
import stat


def test_a_successful_run_exits_0_and_reports_typed_store_values_as_json(cli):
    # When a flow runs with a JSON-looking --store value
    proc = cli.run("fixture-ok", "--store", "count=3", "--format", "json")
    # Then it succeeds and stdout is one JSON document
    assert proc.returncode == 0, proc.stderr
    document = json.loads(proc.stdout)
    assert document["flow"] == "fixture-ok"
    assert document["state"] == "SUCCESS"
    assert document["run_id"]
    assert document["failures"] == []
    assert document["atoms"]["typed"]["state"] == "SUCCESS"
    assert document["atoms"]["typed"]["result"] == {"count": 3, "type": "int"}


def test_a_store_value_that_is_not_json_stays_a_string(cli):
    proc = cli.run("fixture-ok", "--store", "count=three", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)["atoms"]["typed"]["result"]
    assert result == {"count": "three", "type": "str"}


def test_a_factory_taking_kwargs_receives_the_whole_store(cli):
    proc = cli.run(
        "fixture-kwargs", "--store", "b=2", "--store", "a=1", "--format", "json"
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["atoms"]["report"]["result"] == ["a", "b"]


def test_a_text_summary_lists_each_step_with_state_and_duration(cli):
    proc = cli.run("fixture-ok")
    assert proc.returncode == 0, proc.stderr
    assert "flow fixture-ok: SUCCESS" in proc.stdout
    step_line = next(line for line in proc.stdout.splitlines() if "typed" in line)
    assert re.fullmatch(
        r"  typed +SUCCESS +\d+\.\d\ds  \{\"count\": 1, \"type\": \"int\"\}",
        step_line,
    ), step_line
    # A pipe gets log lines, not a progress bar
    assert "step typed RUNNING" in proc.stderr
    assert "\r" not in proc.stderr


def test_a_failed_step_reverts_everything_and_exits_1(cli, marker_dir):
    # When the second step of a flow fails
    proc = cli.run(
        "fixture-fail", "--store", f"marker_dir={marker_dir}", "--format", "json"
    )
    # Then the run ends REVERTED, the first step's change is undone
    assert proc.returncode == 1, proc.stderr
    document = json.loads(proc.stdout)
    assert document["state"] == "REVERTED"
    assert {name: atom["state"] for name, atom in document["atoms"].items()} == {
        "typed": "REVERTED",
        "boom": "REVERTED",
    }
    assert os.listdir(marker_dir) == []
    # And the failure names the step, its exception and traceback
    [failure] = document["failures"]
    assert failure["atom"] == "boom"
    assert failure["exception"] == "RuntimeError: boom exploded on purpose"
    assert "Traceback" in failure["traceback"]


def test_the_text_summary_of_a_failure_says_where_the_traceback_is(cli):
    proc = cli.run("fixture-fail")
    assert proc.returncode == 1, proc.stderr
    assert "step boom failed: RuntimeError: boom exploded on purpose" in proc.stdout
    where = proc.stdout.split("traceback: ", 1)[1].splitlines()[0]
    assert where.startswith(cli.state)
    assert "boom exploded on purpose" in pathlib.Path(where).read_text()
    assert stat.S_IMODE(os.stat(where).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(where)).st_mode) == 0o700


def test_a_failed_revert_ends_in_failure_and_exits_2(cli, marker_dir):
    proc = cli.run(
        "fixture-revert-fails",
        "--store",
        f"marker_dir={marker_dir}",
        "--format",
        "json",
    )
    assert proc.returncode == 2, proc.stderr
    document = json.loads(proc.stdout)
    assert document["state"] == "FAILURE"
    assert document["atoms"]["stubborn"]["state"] == "REVERT_FAILURE"
    phases = {(f["atom"], f["phase"]) for f in document["failures"]}
    assert ("stubborn", "revert") in phases
    # The step that could not be undone left its change for a person
    assert os.listdir(marker_dir) == ["stubborn.ran"]


def test_the_text_summary_of_a_failed_revert_names_what_needs_a_person(cli):
    proc = cli.run("fixture-revert-fails")
    assert proc.returncode == 2
    assert "step stubborn could not be reverted: RuntimeError" in proc.stdout


def test_the_demo_flow_runs_and_a_failure_at_a_step_leaves_nothing(cli, tmp_path):
    workdir = tmp_path / "work"
    ok = cli.run("demo", "--store", f"workdir={workdir}", "--store", "delay=0")
    assert ok.returncode == 0, ok.stderr
    assert sorted(os.listdir(workdir)) == [
        "hello.txt",
        "report.txt",
        "step_1.txt",
        "step_2.txt",
        "step_3.txt",
    ]
    other = tmp_path / "other"
    failed = cli.run("demo", "--store", f"workdir={other}", "--store", "fail_at=step_2")
    assert failed.returncode == 1, failed.stderr
    assert "step step_2 failed: InjectedFailure" in failed.stdout
    assert not other.exists()
