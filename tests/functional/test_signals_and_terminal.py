"""SIGINT/SIGTERM suspend a run (exit 3); a terminal gets a live progress bar."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import time

import pytest


def wait_for(proc, text, timeout=20.0):
    """Read stderr lines until one contains ``text``; the lines read."""
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        seen.append(line)
        if text in line:
            return seen
    proc.kill()
    pytest.fail(f"{text!r} never appeared on stderr: {''.join(seen)}")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_while_running_suspends_the_run_and_exits_3(cli, sig):
    # Given a slow flow whose first step is running
    proc = cli.popen("fixture-slow", "--store", "steps=4", "--store", "delay=0.6")
    wait_for(proc, "step slow_1 RUNNING")
    # When the operator interrupts it
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=30)
    # Then the running step finishes, nothing new starts, and it exits 3
    assert proc.returncode == 3, stderr
    assert "suspending" in stderr
    assert "flow fixture-slow: SUSPENDED" in stdout
    states = {
        line.split()[0]: line.split()[1]
        for line in stdout.splitlines()
        if line.startswith("  slow_")
    }
    assert states["slow_1"] == "SUCCESS"
    assert states["slow_4"] == "PENDING"


def test_a_second_sigint_stops_at_once(cli):
    proc = cli.popen("fixture-slow", "--store", "steps=2", "--store", "delay=20")
    wait_for(proc, "step slow_1 RUNNING")
    proc.send_signal(signal.SIGINT)
    wait_for(proc, "suspending")
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=10)
    assert proc.returncode == 3, stderr
    assert "stopped at once" in stderr
    assert time.monotonic() - started < 5  # the 20 s step was not waited for


def read_all(fd, proc, timeout=30.0):
    chunks = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                data = os.read(fd, 4096)
            except OSError:  # the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    return b"".join(chunks).decode("utf-8", "replace")


def test_a_terminal_gets_a_live_progress_bar(cli):
    # Given opsflow-run attached to a real pseudo-terminal
    main, child = pty.openpty()
    proc = subprocess.Popen(
        cli.cmd("fixture-slow", "--store", "steps=2", "--store", "delay=0.5"),
        stdin=child,
        stdout=child,
        stderr=child,
        env=cli.env,
        close_fds=True,
    )
    os.close(child)
    try:
        output = read_all(main, proc)
    finally:
        proc.wait(timeout=30)
        os.close(main)
    # Then the bar is redrawn in place and ends with every step done
    assert proc.returncode == 0, output
    assert output.count("\r\x1b[2K") > 3
    assert "fixture-slow [" in output
    assert "running: slow_1" in output
    assert "2/2 done" in output
    # and no log lines are mixed in
    assert "step slow_1 RUNNING" not in output
    assert "flow fixture-slow: SUCCESS" in output
