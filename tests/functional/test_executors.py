"""Executor drivers through ``opsflow-run``: a third-party driver installed as
its own distribution, the process driver's workers killed with real signals,
and ``[engine] task_timeout`` from opsflow.conf.

The ``functional`` tox environment installs ``tests/fixtures/
opsflow-fixture-executor``, which registers the ``counting`` driver.
"""

from __future__ import annotations

import json
import os
import signal
import time
from importlib import metadata
from pathlib import Path

import pytest

from opsflow import engines, states
from opsflow.patterns import linear_flow

LOG_ENV = "OPSFLOW_FIXTURE_EXECUTOR_LOG"


@pytest.fixture
def counting_log(cli, tmp_path) -> Path:
    """The file the ``counting`` driver writes each submission to."""
    names = {ep.name for ep in metadata.entry_points(group="opsflow.executors")}
    if "counting" not in names:
        pytest.fail(
            "the counting driver is not installed: run these tests with "
            "tox -e functional (it installs tests/fixtures/opsflow-fixture-executor)"
        )
    path = tmp_path / "counting.log"
    cli.env[LOG_ENV] = str(path)
    return path


def _children(pid: int) -> list[int]:
    found = []
    for thread in Path(f"/proc/{pid}/task").iterdir():
        text = (thread / "children").read_text().split()
        found.extend(int(child) for child in text)
    return found


def _wait_for_children(pid: int, timeout: float = 10.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = _children(pid)
        if found:
            return found
        time.sleep(0.02)
    raise AssertionError(f"opsflow-run (pid {pid}) never started a worker process")


def test_a_third_party_driver_is_chosen_by_name_in_engines_load(counting_log):
    from opsflow_fixture_executor import CountingDriver
    from opsflow_fixture_good import tasks

    flow = linear_flow.Flow("f").add(tasks.Typed(name="one"), tasks.Typed(name="two"))
    before = len(CountingDriver.submissions)

    engine = engines.load(flow, engine="parallel", executor="counting", max_workers=3)
    engine.run()

    assert engine.storage.get_flow_state() == states.SUCCESS
    assert CountingDriver.submissions[before:] == [
        ("execute", "one", 3),
        ("execute", "two", 3),
    ]


def test_opsflow_run_uses_a_third_party_driver_given_with_executor(cli, counting_log):
    proc = cli.run(
        "fixture-fail", "--executor", "counting", "--max-workers", "2",
        "--format", "json",
    )  # fmt: skip

    assert proc.returncode == 1, proc.stderr
    assert json.loads(proc.stdout)["state"] == "REVERTED"
    assert counting_log.read_text().splitlines() == [
        "execute typed 2",
        "execute boom 2",
        "revert boom 2",
        "revert typed 2",
    ]


def test_opsflow_run_uses_the_driver_named_in_opsflow_conf(cli, counting_log):
    with open(cli.config, "a", encoding="utf-8") as handle:
        handle.write("[engine]\nexecutor = counting\nmax_workers = 5\n")

    proc = cli.run("fixture-ok")

    assert proc.returncode == 0, proc.stderr
    assert counting_log.read_text().splitlines() == ["execute typed 5"]


def test_an_unknown_driver_is_refused_listing_the_installed_ones(cli, counting_log):
    proc = cli.run("fixture-ok", "--executor", "nosuch")

    assert proc.returncode in (64, 78), proc.stderr
    assert "'nosuch'" in proc.stderr
    for name in ("counting", "process", "thread", "synchronous"):
        assert name in proc.stderr
    assert not counting_log.exists()


def test_killing_a_process_worker_of_opsflow_run_reverts_and_names_the_signal(cli):
    # Given a slow flow running on the process driver with one worker
    run = cli.popen(
        "fixture-slow", "--executor", "process", "--max-workers", "1",
        "--store", "steps=3", "--store", "delay=3", "--format", "json",
    )  # fmt: skip
    try:
        [worker] = _wait_for_children(run.pid)
        time.sleep(0.2)
        # When its worker process is killed
        os.kill(worker, signal.SIGKILL)
        stdout, stderr = run.communicate(timeout=20)
    finally:
        if run.poll() is None:
            run.kill()
            run.communicate()

    # Then the run ends REVERTED (exit 1) and the failure names SIGKILL
    assert run.returncode == 1, stderr
    document = json.loads(stdout)
    assert document["state"] == "REVERTED"
    assert document["atoms"]["slow_1"]["state"] == "REVERTED"
    assert document["atoms"]["slow_3"]["state"] == "PENDING"
    [failure] = document["failures"]
    assert failure["atom"] == "slow_1"
    assert "WorkerDied" in failure["exception"]
    assert "SIGKILL" in failure["exception"]


def test_the_task_timeout_of_opsflow_conf_stops_a_process_task_at_its_deadline(cli):
    with open(cli.config, "a", encoding="utf-8") as handle:
        handle.write("[engine]\nexecutor = process\ntask_timeout = 0.3\n")

    started = time.monotonic()
    proc = cli.run("fixture-slow", "--store", "delay=10", "--format", "json")
    elapsed = time.monotonic() - started

    assert proc.returncode == 1, proc.stderr
    assert elapsed < 8, "the worker was not killed at its deadline"
    [failure] = json.loads(proc.stdout)["failures"]
    assert failure["atom"] == "slow_1"
    assert "Timeout" in failure["exception"]


def test_with_the_thread_driver_a_timed_out_run_ends_once_the_task_returns(cli):
    with open(cli.config, "a", encoding="utf-8") as handle:
        handle.write("[engine]\nexecutor = thread\ntask_timeout = 0.2\n")

    started = time.monotonic()
    proc = cli.run(
        "fixture-slow", "--store", "steps=2", "--store", "delay=1",
        "--format", "json",
    )  # fmt: skip
    elapsed = time.monotonic() - started

    assert proc.returncode == 1, proc.stderr
    assert elapsed >= 1.0
    document = json.loads(proc.stdout)
    assert document["atoms"]["slow_1"]["state"] == "REVERTED"
    assert "Timeout" in document["failures"][0]["exception"]


def _overlap(document) -> bool:
    spans = [atom["result"] for atom in document["atoms"].values()]
    return max(start for start, _ in spans) < min(end for _, end in spans)


def test_opsflow_run_with_the_thread_driver_runs_branches_at_the_same_time(cli):
    with open(cli.config, "a", encoding="utf-8") as handle:
        handle.write("[engine]\nengine = parallel\nexecutor = thread\n")

    proc = cli.run("fixture-executor-parallel", "--format", "json")

    assert proc.returncode == 0, proc.stderr
    assert _overlap(json.loads(proc.stdout))


def test_a_parallel_engine_in_opsflow_conf_runs_branches_on_threads_by_default(cli):
    # Given only "engine = parallel" (no executor line): the documented default
    # and engines.load's own make that the thread driver
    with open(cli.config, "a", encoding="utf-8") as handle:
        handle.write("[engine]\nengine = parallel\n")

    proc = cli.run("fixture-executor-parallel", "--format", "json")

    assert proc.returncode == 0, proc.stderr
    assert _overlap(json.loads(proc.stdout)), "the branches ran one at a time"
