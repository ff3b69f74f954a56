"""The host lock of a run: held by its owner and every process it forks."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from opsflow.persistence import runlock

HOLDER = textwrap.dedent(
    """
    import os, sys, time
    from opsflow.persistence import runlock

    lock = runlock.RunLock.acquire(sys.argv[1], "run-1")
    child = os.fork()
    if child == 0:  # a forked process keeps the lock after its parent exits
        os.write(1, b"%d\\n" % os.getpid())
        os.close(1)
        os.close(2)
        time.sleep(60)
        os._exit(0)
    os._exit(0)
    """
)


@pytest.fixture
def forked_holder(tmp_path):
    """A process that took the lock and exited, leaving a forked child."""
    proc = subprocess.run(
        [sys.executable, "-c", HOLDER, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    child = int(proc.stdout.split()[0])
    yield child
    with contextlib.suppress(ProcessLookupError):
        os.kill(child, signal.SIGKILL)


def test_a_fresh_run_takes_its_lock_at_once_and_forgets_it_when_done(tmp_path):
    lock = runlock.RunLock.acquire(str(tmp_path), "run-1")
    assert os.path.exists(lock.path)
    lock.release(forget=True)
    assert not os.path.exists(lock.path)
    assert not os.path.exists(tmp_path / "locks")  # nothing left behind


def test_a_process_forked_by_the_owner_keeps_the_lock_after_the_owner_died(
    tmp_path, forked_holder
):
    # Given an owner that exited while a process it forked lives on
    # When another process wants the run
    with pytest.raises(runlock.ProcessesAlive) as caught:
        runlock.RunLock.acquire(str(tmp_path), "run-1", wait=0.2)
    # Then it is refused, naming that process
    assert caught.value.pids == [forked_holder]
    assert f"pid {forked_holder}" in str(caught.value)


def test_the_lock_is_free_once_the_last_forked_process_is_gone(tmp_path, forked_holder):
    os.kill(forked_holder, signal.SIGKILL)
    lock = runlock.RunLock.acquire(str(tmp_path), "run-1", wait=5.0)
    lock.release()
