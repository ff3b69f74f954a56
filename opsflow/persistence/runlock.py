"""A run's host lock: held by its owner and by every process the owner forks.

The lease (:mod:`opsflow.persistence.leases`) says which process owns a run,
and a resume on the same host takes over the lease of an owner killed with
``kill -9`` at once. Processes that owner forked may still be running a step
of the run, though: a worker of the ``process`` executor caught between the
kill and its own death, or a helper a task forked. A resume must not start
steps while they run, or a step runs twice at the same time.

So the owner of a run also holds an exclusive ``flock`` on
``<state_path>/locks/<run id>.lock`` while it runs. A ``flock`` belongs to the
open file, which forked children share: the lock stays held until the owner
*and every process forked from it* have exited, whatever killed them, with
nothing to record or clean up. Whoever takes the run over waits for the lock
(up to :data:`TAKEOVER_WAIT` seconds) and otherwise refuses, naming the
processes that hold it. Programs a task executes (``subprocess``) do not
inherit the file, which is close-on-exec.

The lock is host-local: runs of a shared store are resumed on one host with
the same ``state_path``. Across hosts the lease's expiry is the guard.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import time
from typing import Any

from opsflow import exceptions

__all__ = ["TAKEOVER_WAIT", "ProcessesAlive", "RunLock", "lock_path"]

LOG = logging.getLogger(__name__)

#: Seconds a take-over waits for the previous owner's processes to end.
#: Workers of the ``process`` executor die within milliseconds of their
#: parent; a step's own helper processes may take longer.
TAKEOVER_WAIT = 10.0
_POLL = 0.05


class ProcessesAlive(exceptions.Unavailable):
    """Processes of a run's previous owner still run; the run is not taken over."""

    def __init__(self, run_id: str, pids: list[int]) -> None:
        self.run_id = run_id
        self.pids = pids
        who = f"pid {', '.join(map(str, pids))}" if pids else "pids unknown"
        super().__init__(
            f"run {run_id}: processes forked by its previous owner still run its "
            f"steps ({who}); resuming now could run a step twice at the same "
            "time: wait for them to end (or stop them), then resume"
        )


def lock_path(state_path: str, run_id: str) -> str:
    """Where the host lock of run ``run_id`` lives."""
    return os.path.join(os.path.expanduser(state_path), "locks", f"{run_id}.lock")


class RunLock:
    """The exclusive ``flock`` of one run, held by this process (and its forks)."""

    def __init__(self, path: str, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, state_path: str, run_id: str, wait: float = 0.0) -> RunLock:
        """Take the lock of ``run_id``, waiting up to ``wait`` seconds for it.

        :raises ProcessesAlive: processes of the run's previous owner hold it.
        """
        path = lock_path(state_path, run_id)
        fd = _open(path)
        deadline = time.monotonic() + wait
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return cls(path, fd)
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise ProcessesAlive(run_id, holders(path)) from None
                if not told:
                    told = True
                    LOG.warning(
                        "run %s: waiting up to %gs for processes of its previous "
                        "owner to end (pid %s)",
                        run_id,
                        wait,
                        ", ".join(map(str, holders(path))) or "unknown",
                    )
                time.sleep(_POLL)

    def release(self, forget: bool = False) -> None:
        """Let go of the lock; ``forget`` also removes its file (a run that
        ended for good, which nothing will take over again)."""
        if self._fd is None:
            return
        if forget:
            with contextlib.suppress(OSError):
                os.unlink(self.path)
            with contextlib.suppress(OSError):  # not empty: other runs' locks
                os.rmdir(os.path.dirname(self.path))
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.release()


def _open(path: str) -> int:
    """Open (creating) the lock file and its 0700 directory."""
    for _attempt in range(5):
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        try:
            return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except FileNotFoundError:  # the directory was just removed, empty
            continue
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)


def holders(path: str) -> list[int]:
    """Pids of the other processes that have ``path`` open (Linux ``/proc``)."""
    found = []
    target = os.path.realpath(path)
    try:
        pids = [int(name) for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return []
    for pid in pids:
        if pid != os.getpid() and target in _open_files(pid):
            found.append(pid)
    return sorted(found)


def _open_files(pid: int) -> set[str]:
    directory = f"/proc/{pid}/fd"
    try:
        fds = os.listdir(directory)
    except OSError:  # gone meanwhile, or another user's
        return set()
    paths = set()
    for fd in fds:
        with contextlib.suppress(OSError):  # closed meanwhile
            paths.add(os.readlink(os.path.join(directory, fd)))
    return paths
