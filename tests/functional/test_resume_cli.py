"""``opsflow-run --resume/--history/--show``, run leases, secrets and versions."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from collections import Counter

import pytest
import resumekit

NAMES = [f"step-{i:02d}" for i in range(30)]


@pytest.fixture
def kit(cli, tmp_path):
    return resumekit.make_kit(cli, tmp_path)


def _suspended_run(kit, *extra: str) -> str:
    """Start the 30-step chain, SIGTERM it after a step: a SUSPENDED run's id."""
    proc = kit.cli.popen(
        "crash-chain",
        "--store",
        f"journal={kit.journal}",
        "--store",
        "delay=0.03",
        *extra,
    )
    deadline = time.monotonic() + 30
    while not kit.read_journal() and time.monotonic() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 3, err
    return _only_run(kit)


def _only_run(kit) -> str:
    result = kit.cli.run("--history", "--format", "json")
    assert result.returncode == 0, result.stderr
    (row,) = json.loads(result.stdout)
    return row["run_id"]


def _executed(kit) -> Counter[str]:
    return Counter(name for event, name in kit.read_journal() if event == "X")


def test_history_and_show_describe_past_runs_in_json(kit):
    # Given one finished run
    done = kit.cli.run(
        "crash-chain", "--store", f"journal={kit.journal}", "--store", "steps=3"
    )
    assert done.returncode == 0, done.stderr

    # When the history and that run are asked for as JSON
    history = kit.cli.run("--history", "--format", "json")
    (row,) = json.loads(history.stdout)
    shown = kit.cli.run("--show", row["run_id"], "--format", "json")

    # Then they follow the documented exit codes
    assert set(row) == {
        "run_id",
        "flow",
        "state",
        "started_at",
        "updated_at",
        "interrupted",  # None: only a run whose owner died is interrupted
    }
    assert row["interrupted"] is None
    assert row["flow"] == "crash-chain" and row["state"] == "SUCCESS"
    document = json.loads(shown.stdout)
    assert document["run_id"] == row["run_id"] and document["state"] == "SUCCESS"
    step = document["atoms"]["step-02"]
    assert step["state"] == "SUCCESS" and step["result"] == {"step": "step-02"}
    assert step["duration"] >= 0 and step["attempts"] == 1
    assert document["failures"] == []


def test_showing_an_unknown_run_is_a_usage_error(kit):
    result = kit.cli.run("--show", "no-such-run")
    assert result.returncode == 64
    assert "no run no-such-run" in result.stderr


def test_resuming_a_run_that_ended_prints_it_and_exits_with_its_code(kit):
    # Given a run that failed and was reverted
    failed = kit.cli.run(
        "crash-chain",
        "--store",
        f"journal={kit.journal}",
        "--store",
        "steps=3",
        "--store",
        "fail_at=1",
    )
    assert failed.returncode == 1
    journal_before = kit.read_journal()

    # When it is resumed
    result = kit.cli.run("--resume", _only_run(kit), "--format", "json")

    # Then it is reported as it ended, and nothing ran
    assert result.returncode == 1
    assert json.loads(result.stdout)["state"] == "REVERTED"
    assert kit.read_journal() == journal_before


def test_a_suspended_run_resumes_where_it_stopped(kit):
    run_id = _suspended_run(kit)
    before = _executed(kit)
    assert 0 < sum(before.values()) < 30

    result = kit.cli.run("--resume", run_id)

    assert result.returncode == 0, result.stderr
    assert "resuming run" in result.stderr
    assert _executed(kit) == Counter(NAMES)  # each step once, in all


def test_a_resumed_run_asks_for_its_secrets_again_and_never_stores_them(kit):
    # Given a run that was given a secret, then suspended
    run_id = _suspended_run(kit, "--secret", "token=s3cr3t-value")
    with open(os.path.join(kit.cli.state, "opsflow.sqlite"), "rb") as handle:
        assert b"s3cr3t-value" not in handle.read()

    # When it is resumed without the secret, then with it
    without = kit.cli.run("--resume", run_id)
    with_it = kit.cli.run("--resume", run_id, "--secret", "token=s3cr3t-value")

    # Then the first names the secret it needs; the second finishes
    assert without.returncode == 64
    assert "token" in without.stderr and "--secret" in without.stderr
    assert with_it.returncode == 0, with_it.stderr


def test_a_resume_with_other_plugin_versions_is_refused_unless_forced(kit):
    run_id = _suspended_run(kit)
    resumekit.set_plugin_version(kit.site, "2.0")

    refused = kit.cli.run("--resume", run_id)
    forced = kit.cli.run("--resume", run_id, "--force")

    assert refused.returncode == 69
    assert "opsflow-crashkit 1.0 -> 2.0" in refused.stderr
    assert "--force" in refused.stderr
    assert forced.returncode == 0, forced.stderr
    assert _executed(kit) == Counter(NAMES)


def test_a_run_being_run_is_refused_to_a_second_process_naming_its_owner(kit):
    # Given a run in progress
    proc = kit.cli.popen(
        "crash-chain", "--store", f"journal={kit.journal}", "--store", "delay=0.1"
    )
    deadline = time.monotonic() + 30
    while not kit.read_journal() and time.monotonic() < deadline:
        time.sleep(0.005)

    # When another process tries to resume it
    second = kit.cli.run("--resume", _only_run(kit))
    proc.kill()
    proc.communicate()

    # Then it exits 69 and says who runs it
    assert second.returncode == 69
    assert f"pid {proc.pid}" in second.stderr


def test_of_two_processes_resuming_the_same_run_exactly_one_runs_it(kit):
    run_id = _suspended_run(kit)
    first, second = (
        subprocess.Popen(
            kit.cli.cmd("--resume", run_id),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=kit.cli.env,
        )
        for _ in range(2)
    )
    outcomes = [(p.wait(timeout=60), p.stderr.read()) for p in (first, second)]
    for p in (first, second):
        p.stdout.close()
        p.stderr.close()

    ran = [err for code, err in outcomes if "resuming run" in err]
    assert len(ran) == 1, outcomes
    # The other either found it owned (69) or found it ended (0, ran nothing).
    codes = sorted(code for code, _ in outcomes)
    assert codes in ([0, 69], [0, 0]), outcomes
    assert _executed(kit) == Counter(NAMES)


def test_a_dead_owners_run_can_be_resumed_at_once(kit):
    # Given a run whose process was killed (its lease is still in the store)
    proc = kit.cli.popen(
        "crash-chain", "--store", f"journal={kit.journal}", "--store", "delay=0.05"
    )
    while not kit.read_journal():
        time.sleep(0.005)
    proc.kill()
    proc.communicate()
    run_id = _only_run(kit)
    with sqlite3.connect(os.path.join(kit.cli.state, "opsflow.sqlite")) as db:
        (pid,) = db.execute("SELECT pid FROM opsflow_run_leases").fetchone()
    assert pid == proc.pid

    # When it is resumed, it runs to the end
    result = kit.cli.run("--resume", run_id)
    assert result.returncode == 0, result.stderr
    assert sorted(_executed(kit)) == NAMES


def test_opsflow_manage_creates_the_store_ahead_of_time(kit):
    manage = os.path.join(os.path.dirname(kit.cli.exe), "opsflow-manage")
    result = subprocess.run(
        [manage, "--config-file", kit.cli.config, "db", "upgrade"],
        capture_output=True,
        text=True,
        env=kit.cli.env,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(os.path.join(kit.cli.state, "opsflow.sqlite")) as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    assert {"opsflow_flowdetails", "opsflow_run_leases"} <= tables
