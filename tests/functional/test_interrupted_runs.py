"""A run whose owner died is shown as interrupted, never as alive.

``kill -9`` leaves a run RUNNING in the store, and a second Ctrl-C leaves it
SUSPENDING: ``--history`` and ``--show`` name the owner that is gone and the
exact commands to resume or undo it (a field ``interrupted`` in JSON, the
other keys as they were). Signals that arrive before the first step end
the command with exit 3, however many.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import socket
import subprocess
import time

import pytest
import resumekit

#: fcntl command giving a pipe's capacity (Linux).
F_GETPIPE_SZ = 1032
HISTORY_KEYS = {"run_id", "flow", "state", "started_at", "updated_at"}


@pytest.fixture
def kit(cli, tmp_path):
    return resumekit.make_kit(cli, tmp_path)


def _start(kit, *store: str):
    args = ["crash-probe", "--store", f"journal={kit.journal}"]
    for item in store:
        args += ["--store", item]
    return kit.cli.popen(*args)


def _history(kit) -> list[dict]:
    result = kit.cli.run("--history", "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _assert_interrupted(kit, state: str, owner_pid: int) -> None:
    owner = f"{socket.gethostname()} pid {owner_pid}"
    # JSON --history: the same keys, plus what happened and what to do
    (row,) = _history(kit)
    run_id = row["run_id"]
    assert set(row) >= HISTORY_KEYS
    assert row["state"] == state
    assert row["interrupted"] == {
        "owner": owner,
        "resume_command": f"opsflow-run --resume {run_id}",
        "revert_command": f"opsflow-run --revert {run_id}",
    }
    # text --history: the row says so, with the commands
    text = kit.cli.run("--history").stdout
    assert (
        f"interrupted, its owner {owner} is gone: opsflow-run --resume {run_id} "
        f"(or opsflow-run --revert {run_id} to undo it)"
    ) in text
    # --show, text and JSON
    shown = kit.cli.run("--show", run_id).stdout
    assert shown.splitlines()[0] == (
        f"run {run_id} of flow crash-probe: {state} "
        f"(interrupted: its owner {owner} is gone)"
    )
    assert (
        f"resume with: opsflow-run --resume {run_id}, or undo it with: "
        f"opsflow-run --revert {run_id}"
    ) in shown
    document = json.loads(kit.cli.run("--show", run_id, "--format", "json").stdout)
    assert document["state"] == state
    assert document["interrupted"] == row["interrupted"]
    assert document["revert_command"] == f"opsflow-run --revert {run_id}"


def test_a_run_killed_with_sigkill_is_shown_interrupted_naming_its_dead_owner(kit):
    proc = _start(kit, "steps=2", "delay=5")
    resumekit.wait_for_line(kit, "S", "step-00")
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=10)
    _assert_interrupted(kit, "RUNNING", proc.pid)


def test_a_run_stopped_by_a_second_ctrl_c_is_shown_interrupted(kit):
    proc = _start(kit, "steps=2", "delay=5")
    resumekit.wait_for_line(kit, "S", "step-00")
    proc.send_signal(signal.SIGINT)
    deadline = time.monotonic() + 10
    while _history(kit)[0]["state"] != "SUSPENDING":
        assert time.monotonic() < deadline, "the run never started suspending"
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=10)
    assert proc.returncode == 3, err
    _assert_interrupted(kit, "SUSPENDING", proc.pid)


def test_a_run_being_run_is_shown_with_its_live_owner(kit):
    proc = _start(kit, "steps=1", "delay=3")
    resumekit.wait_for_line(kit, "S", "step-00")
    try:
        (row,) = _history(kit)
        assert row["interrupted"] is None
        shown = kit.cli.run("--show", row["run_id"]).stdout
        owner = f"{socket.gethostname()} pid {proc.pid}"
        assert f": RUNNING (being run by {owner})" in shown.splitlines()[0]
    finally:
        proc.communicate(timeout=30)
    assert proc.returncode == 0


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_two_signals_before_the_first_step_exit_3(kit, sig):
    # Given opsflow-run busy building its flow, before any step, its stderr
    # a pipe that is full (so it is still saying it was interrupted when
    # the second signal comes)
    read_end, write_end = os.pipe()
    proc = subprocess.Popen(
        kit.cli.cmd(
            "crash-probe",
            "--store",
            f"journal={kit.journal}",
            "--store",
            "build_delay=5",
        ),
        stdout=subprocess.DEVNULL,
        stderr=write_end,
        stdin=subprocess.DEVNULL,
        env=kit.cli.env,
    )
    try:
        resumekit.wait_for_line(kit, "B", "factory")
        # (filled to its capacity by blocking writes: a non-blocking one would
        # make the child's stderr non-blocking too, they share the file)
        os.write(write_end, b"." * fcntl.fcntl(write_end, F_GETPIPE_SZ))
        # When a signal arrives, and a second one while the first is handled
        proc.send_signal(sig)
        time.sleep(0.5)
        proc.send_signal(sig)
        time.sleep(0.2)
    finally:
        os.close(write_end)
        with os.fdopen(read_end, "rb") as reader:
            err = reader.read().decode().lstrip(".")
    # Then the command ends as interrupted, exit 3, not by the signal
    assert proc.wait(timeout=10) == 3, err
    assert "opsflow-run: interrupted before any step ran" in err
    assert "Traceback" not in err
