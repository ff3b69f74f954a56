"""--list shows every plugin (broken ones too); --dry-run and --graph run nothing."""

from __future__ import annotations

import json
import os


def test_list_shows_flows_tasks_and_broken_plugins_with_their_error(cli):
    proc = cli.run("--list")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert "opsflow.flows:" in lines and "opsflow.tasks:" in lines
    assert any(line.split()[0] == "demo" for line in lines if line.startswith("  "))
    assert any(line.startswith("  fixture-ok") for line in lines)
    broken = next(line for line in lines if line.startswith("  fixture-broken"))
    assert "BROKEN: ModuleNotFoundError" in broken
    not_a_task = next(line for line in lines if line.startswith("  fixture.not_a_task"))
    assert (
        "BROKEN:" in not_a_task and "not a subclass of opsflow.task.Task" in not_a_task
    )


def test_list_as_json_separates_plugins_from_broken_ones(cli):
    proc = cli.run("--list", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    flows = json.loads(proc.stdout)["opsflow.flows"]
    names = {plugin["name"]: plugin for plugin in flows["plugins"]}
    assert names["demo"]["distribution"] == "opsflow-demo"
    assert [b["name"] for b in flows["broken"]] == ["fixture-broken"]


def test_a_broken_plugin_does_not_stop_others_from_running(cli):
    proc = cli.run("fixture-ok")
    assert proc.returncode == 0, proc.stderr


def test_dry_run_prints_the_order_and_what_each_failure_reverts(cli, marker_dir):
    proc = cli.run("fixture-fail", "--dry-run", "--store", f"marker_dir={marker_dir}")
    assert proc.returncode == 0, proc.stderr
    assert "1. typed" in proc.stdout and "2. boom" in proc.stdout
    assert "if it fails, reverts: boom, typed" in proc.stdout
    assert os.listdir(marker_dir) == []


def test_dry_run_as_json(cli):
    proc = cli.run("demo", "--dry-run", "--format", "json", "--store", "steps=2")
    assert proc.returncode == 0, proc.stderr
    document = json.loads(proc.stdout)
    assert document["order"] == [
        "create_workdir",
        "write_file",
        "step_1",
        "step_2",
        "write_report",
    ]
    assert document["steps"][1]["reverted_on_failure"] == [
        "write_file",
        "create_workdir",
    ]


def test_graph_writes_a_dot_file_and_runs_nothing(cli, tmp_path, marker_dir):
    dot = tmp_path / "flow.dot"
    proc = cli.run(
        "fixture-fail", "--graph", str(dot), "--store", f"marker_dir={marker_dir}"
    )
    assert proc.returncode == 0, proc.stderr
    text = dot.read_text()
    assert text.startswith('digraph "fixture-fail"')
    assert '"typed" -> "boom";' in text
    assert os.listdir(marker_dir) == []


def test_help_exits_0_and_lists_the_exit_codes(cli):
    proc = cli.run("--help")
    assert proc.returncode == 0
    assert "usage: opsflow-run" in proc.stdout
    assert "78 configuration error" in proc.stdout
