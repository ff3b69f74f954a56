"""Workers of the ``process`` executor die with ``opsflow-run``, and a resume
never starts a step while a process of the killed owner still runs it.

The ``crash-probe`` steps journal the start and end of each run with their
pid (``resumekit``); ``overlaps`` reads from it whether two runs of one step
were ever alive at the same time.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import time

import pytest
import resumekit

PROCESS = ["--executor", "process", "--max-workers", "2"]


@pytest.fixture
def kit(cli, tmp_path):
    return resumekit.make_kit(cli, tmp_path)


def _start(kit, *store: str) -> subprocess.Popen[str]:
    args = ["crash-probe", "--store", f"journal={kit.journal}"]
    for item in store:
        args += ["--store", item]
    return kit.cli.popen(*args, *PROCESS)


def _run_id(kit) -> str:
    with sqlite3.connect(f"{kit.cli.state}/opsflow.sqlite") as db:
        (run_id,) = db.execute("SELECT uuid FROM opsflow_flowdetails").fetchone()
    return run_id


def _kill(proc: subprocess.Popen[str]) -> None:
    """SIGKILL ``proc`` and reap it (not reading its pipes: processes it
    forked may hold them open)."""
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    proc.stdout.close()
    proc.stderr.close()


def _gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not resumekit.pid_alive(pid):
            return True
        time.sleep(0.01)
    return False


def test_a_worker_dies_with_opsflow_run_killed_mid_step(kit):
    # Given a run on the process executor whose first step is running
    proc = _start(kit, "steps=2", "delay=3")
    worker = resumekit.wait_for_line(kit, "S", "step-00")
    assert worker != proc.pid
    # When opsflow-run is killed with SIGKILL
    _kill(proc)
    # Then its worker dies with it, and the step it ran never ends
    assert _gone_within(worker, 2.0), f"worker {worker} outlived opsflow-run"
    time.sleep(3.2)
    assert ("E", "step-00", worker) not in kit.probes()


def test_a_resume_right_after_a_kill_never_runs_a_step_twice_at_once(kit):
    # Given a run killed with SIGKILL while its worker runs a step
    proc = _start(kit, "steps=2", "delay=1.5")
    resumekit.wait_for_line(kit, "S", "step-00")
    _kill(proc)
    # When it is resumed at once
    resumed = kit.cli.run("--resume", _run_id(kit), *PROCESS)
    # Then every step ends once, and no two runs of a step overlapped
    assert resumed.returncode == 0, resumed.stderr
    probes = kit.probes()
    assert resumekit.overlaps(probes) == []
    ends = [step for event, step, _pid in probes if event == "E"]
    assert ends == ["step-00", "step-01"]


def test_a_resume_waits_for_a_helper_process_of_the_killed_owner(kit):
    # Given a run killed while a helper process forked by its step works
    proc = _start(kit, "steps=1", "delay=0", "helper=2")
    helper = resumekit.wait_for_line(kit, "H", "step-00")
    _kill(proc)
    assert resumekit.pid_alive(helper)
    # When it is resumed at once
    started = time.monotonic()
    resumed = kit.cli.run("--resume", _run_id(kit), *PROCESS)
    # Then the resume waited for the helper to end before running the step
    assert resumed.returncode == 0, resumed.stderr
    assert (
        f"waiting up to 10s for processes of its previous owner to end (pid {helper}"
        in resumed.stderr
    )
    assert time.monotonic() - started >= 1.0
    probes = kit.probes()
    assert resumekit.overlaps(probes) == [], probes
    assert [e for e, _s, _p in probes] == ["S", "H", "h", "S", "H", "h", "E"]
