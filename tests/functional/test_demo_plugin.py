"""The demo plugin through ``opsflow-run``: its runs keep out of the temp dir."""

from __future__ import annotations

import json
import os


def _demo_dirs(path) -> list[str]:
    return sorted(name for name in os.listdir(path) if name.startswith("opsflow-demo-"))


def test_demo_runs_leave_nothing_in_the_temporary_directory(cli, tmp_path):
    # Given a temporary directory of the run's own
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    cli.env["TMPDIR"] = str(tmp)
    # When the demo succeeds, then a drill of it reverts
    done = cli.run("demo", "--store", "delay=0", "--format", "json")
    drilled = cli.run("demo", "--store", "delay=0", "--fail-at", "write_report")
    # Then neither left a work directory in the temporary directory
    assert done.returncode == 0, done.stderr
    assert drilled.returncode == 1, drilled.stderr
    assert _demo_dirs(tmp) == []
    # And the successful run's files are under opsflow's state_path
    workdir = json.loads(done.stdout)["atoms"]["create_workdir"]["result"]
    assert os.path.dirname(workdir) == os.path.join(cli.state, "demo-runs")
    assert sorted(os.listdir(workdir)) == [
        "hello.txt",
        "report.txt",
        "step_1.txt",
        "step_2.txt",
        "step_3.txt",
    ]
    assert _demo_dirs(os.path.join(cli.state, "demo-runs")) == [
        os.path.basename(workdir)
    ]
