"""A reader that closes its pipe never changes ``opsflow-run``'s exit code.

Real pipes: ``head -1`` that exits after one line, and ``tee`` that dies
of the Ctrl-C before ``opsflow-run`` has written that it suspends.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest


def _history(cli) -> list[str]:
    result = cli.run("--history", "--format", "json")
    return [row["state"] for row in json.loads(result.stdout)]


@pytest.mark.parametrize("streams", ["2>&1", "2>/dev/null"])
@pytest.mark.parametrize("output", ["text", "json"])
def test_a_successful_run_piped_into_head_exits_0(cli, streams, output):
    # Given a run whose output goes through a pipe to head -1
    command = " ".join(cli.cmd("demo", "--format", output))
    shell = subprocess.run(
        ["bash", "-c", f"{command} {streams} | head -1; exit ${{PIPESTATUS[0]}}"],
        capture_output=True,
        text=True,
        env=cli.env,
        timeout=60,
    )
    # Then opsflow-run exits with its run's code, 0, and the run is SUCCESS
    assert shell.returncode == 0, shell.stderr
    assert len(shell.stdout.splitlines()) == 1
    assert "Traceback" not in shell.stderr and "BrokenPipe" not in shell.stderr
    assert _history(cli) == ["SUCCESS"]


def test_ctrl_c_after_tee_died_suspends_the_run_and_exits_3(cli, tmp_path):
    # Given opsflow-run ... 2>&1 | tee log, with a step running
    log = tmp_path / "log"
    read_end, write_end = os.pipe()
    tee = subprocess.Popen(["tee", str(log)], stdin=read_end, stdout=subprocess.DEVNULL)
    run = subprocess.Popen(
        cli.cmd("fixture-slow", "--store", "steps=3", "--store", "delay=1"),
        stdout=write_end,
        stderr=write_end,
        stdin=subprocess.DEVNULL,
        env=cli.env,
    )
    os.close(read_end)
    os.close(write_end)
    deadline = time.monotonic() + 30
    while "step slow_1 RUNNING" not in (log.read_text() if log.exists() else ""):
        assert time.monotonic() < deadline, "the first step never started"
        time.sleep(0.02)
    # When Ctrl-C reaches tee first, then opsflow-run
    tee.send_signal(signal.SIGINT)
    tee.wait(timeout=10)
    run.send_signal(signal.SIGINT)
    # Then the run suspends as it would on a terminal: exit 3, SUSPENDED
    assert run.wait(timeout=60) == 3
    assert _history(cli) == ["SUSPENDED"]
