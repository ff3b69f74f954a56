"""Long-running services: start detached, stop on revert, check over HTTP.

* :class:`FreePort` picks a TCP port nobody listens on.
* :class:`Service` starts a program detached (new session, adopted by init)
  with a pidfile and a log file; its revert stops it (SIGTERM to its process
  group, SIGKILL after ``grace`` seconds) and removes the pidfile and the
  log it created. The process is identified by pid *and* start time, so a
  recycled pid is never signalled.
* :class:`StopService` (deprovisioning) stops what a pidfile names.
* :class:`HttpHealthCheck` polls a URL until it answers as expected.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

from opsflow import task
from opsflow_linux.commands import tail
from opsflow_linux.fill import fill, fill_argv

__all__ = [
    "FreePort",
    "HealthCheckFailed",
    "HttpHealthCheck",
    "Service",
    "ServiceFailed",
    "StopService",
    "process_start_time",
    "stop_process",
]

#: How long a new service must stay up before it counts as started.
SETTLE_SECONDS = 0.3


class ServiceFailed(RuntimeError):
    """A service did not start, died at once, or would not stop."""


class HealthCheckFailed(RuntimeError):
    """A health check did not see the expected answer in time."""


class FreePort(task.Task):
    """Provide a TCP port on ``host`` that nothing listens on right now."""

    default_provides = "port"
    changes_nothing = True  # it only looks

    def __init__(self, host: str = "127.0.0.1", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.host = host

    def execute(self, **values: Any) -> int:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind((fill(self.host, values), 0))
            return int(probe.getsockname()[1])


class Service(task.Task):
    """Start ``argv`` detached, writing ``pidfile`` and logging to ``logfile``.

    ``netns`` runs the program inside that network namespace (through
    ``ip netns exec``). The result is ``{"pid", "start_time", "pidfile",
    "logfile", "log_size_before"}``; ``log_size_before`` is ``None`` when the
    log file was created.
    """

    def __init__(
        self,
        argv: Sequence[str],
        pidfile: str,
        logfile: str,
        cwd: str | None = None,
        netns: str | None = None,
        grace: float = 5.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        fill_argv(argv, {})
        self.argv = list(argv)
        self.pidfile = pidfile
        self.logfile = logfile
        self.cwd = cwd
        self.netns = netns
        self.grace = grace

    def execute(self, **values: Any) -> dict[str, Any]:
        argv = fill_argv(self.argv, values)
        if self.netns:
            argv = ["ip", "netns", "exec", fill(self.netns, values), *argv]
        pidfile = os.path.abspath(fill(self.pidfile, values))
        logfile = os.path.abspath(fill(self.logfile, values))
        cwd = fill(self.cwd, values) if self.cwd else ""
        if os.path.lexists(pidfile):
            raise ServiceFailed(
                f"{pidfile} already exists: is the service running already?"
            )
        log_size_before = os.path.getsize(logfile) if os.path.exists(logfile) else None
        started = {
            "pid": None,
            "start_time": None,
            "pidfile": pidfile,
            "logfile": logfile,
            "log_size_before": log_size_before,
        }
        try:
            pid = _launch(argv, logfile, cwd)
            started.update(pid=pid, start_time=process_start_time(pid))
            _write_pidfile(pidfile, pid)
            time.sleep(SETTLE_SECONDS)
            if not _is_running(pid, started["start_time"]):
                raise ServiceFailed(
                    f"{argv[0]} exited at once; its log ({logfile}) ends with:\n"
                    + tail(_read_text(logfile, log_size_before or 0))
                )
        except BaseException:
            _undo_start(started, self.grace)
            raise
        return started

    def revert(self, result: Any = None, **values: Any) -> None:
        if isinstance(result, dict):
            _undo_start(result, self.grace)


class StopService(task.Task):
    """Stop the process named in ``pidfile`` and remove the pidfile.

    For deprovisioning: a missing pidfile or a process already gone is fine.
    Nothing to give back on revert.
    """

    def __init__(self, pidfile: str, grace: float = 5.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pidfile = pidfile
        self.grace = grace

    def execute(self, **values: Any) -> dict[str, Any]:
        pidfile = os.path.abspath(fill(self.pidfile, values))
        try:
            with open(pidfile, encoding="ascii") as handle:
                pid = int(handle.read().strip())
        except FileNotFoundError:
            return {
                "pidfile": pidfile,
                "pid": None,
                "stopped": "no pidfile",
                "changed": False,
            }
        how = stop_process(pid, process_start_time(pid), self.grace)
        with contextlib.suppress(FileNotFoundError):
            os.remove(pidfile)
        return {"pidfile": pidfile, "pid": pid, "stopped": how, "changed": True}


class HttpHealthCheck(task.Task):
    """GET ``url`` every ``interval`` seconds until it answers ``status``.

    With ``expect_text``, the body must contain it too. Gives up after
    ``deadline`` seconds. Proxies from the environment are ignored: a health
    check talks to the service directly. The result is ``{"url", "status",
    "seconds"}``.
    """

    changes_nothing = True  # it only asks

    def __init__(
        self,
        url: str,
        deadline: float = 10.0,
        interval: float = 0.1,
        status: int = 200,
        expect_text: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.url = url
        self.deadline = deadline
        self.interval = interval
        self.status = status
        self.expect_text = expect_text

    def execute(self, **values: Any) -> dict[str, Any]:
        url = fill(self.url, values)
        expect = fill(self.expect_text, values) if self.expect_text else None
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        started = time.monotonic()
        last = "no answer yet"
        while True:
            left = self.deadline - (time.monotonic() - started)
            try:
                with opener.open(url, timeout=max(0.2, min(2.0, left))) as answer:
                    status, body = answer.status, answer.read(65536)
            except urllib.error.HTTPError as exc:
                status, body = exc.code, b""
            except (OSError, ValueError) as exc:
                status, body, last = None, b"", f"{type(exc).__name__}: {exc}"
            if status is not None:
                text = body.decode(errors="replace")
                if status == self.status and (expect is None or expect in text):
                    seconds = round(time.monotonic() - started, 3)
                    return {"url": url, "status": status, "seconds": seconds}
                last = f"HTTP {status}" + (
                    f", body without {expect!r}" if status == self.status else ""
                )
            if time.monotonic() - started + self.interval > self.deadline:
                raise HealthCheckFailed(
                    f"{url} not healthy after {self.deadline:g}s (last: {last})"
                )
            time.sleep(self.interval)


def process_start_time(pid: int) -> int | None:
    """The start time of ``pid`` (clock ticks since boot), or None if gone."""
    fields = _stat_fields(pid)
    return int(fields[19]) if fields else None


def stop_process(pid: int, start_time: int | None, grace: float) -> str:
    """Stop ``pid``: SIGTERM, then SIGKILL after ``grace`` seconds.

    Returns how it ended: ``"not running"``, ``"terminated"`` or ``"killed"``.
    The signals go to the process group when the process leads one (a
    detached service does), so its children stop with it.
    """
    if start_time is None or not _is_running(pid, start_time):
        return "not running"
    _signal(pid, signal.SIGTERM)
    if _wait_gone(pid, start_time, grace):
        return "terminated"
    _signal(pid, signal.SIGKILL)
    if _wait_gone(pid, start_time, 10.0):
        return "killed"
    raise ServiceFailed(f"process {pid} is still running after SIGKILL")


def _launch(argv: list[str], logfile: str, cwd: str) -> int:
    launcher = [sys.executable, "-m", "opsflow_linux.detach", logfile, cwd, "--"]
    proc = subprocess.run(
        [*launcher, *argv],
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    if proc.returncode != 0:
        raise ServiceFailed(f"could not start {argv[0]}: {tail(proc.stderr)}")
    return int(proc.stdout.strip())


def _undo_start(started: dict[str, Any], grace: float) -> None:
    """Stop the service and remove its pidfile and the log lines it wrote."""
    if started["pid"] is not None:
        stop_process(started["pid"], started["start_time"], grace)
    pidfile = started["pidfile"]
    if started["pid"] is not None and _pidfile_names(pidfile, started["pid"]):
        os.remove(pidfile)
    logfile, size_before = started["logfile"], started["log_size_before"]
    if size_before is None:
        with contextlib.suppress(FileNotFoundError):
            os.remove(logfile)
    elif os.path.exists(logfile) and os.path.getsize(logfile) > size_before:
        os.truncate(logfile, size_before)


def _write_pidfile(pidfile: str, pid: int) -> None:
    fd = os.open(pidfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(f"{pid}\n")


def _pidfile_names(pidfile: str, pid: int) -> bool:
    try:
        with open(pidfile, encoding="ascii") as handle:
            return handle.read().strip() == str(pid)
    except (FileNotFoundError, ValueError):
        return False


def _read_text(path: str, offset: int) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(offset)
            return handle.read().decode(errors="replace")
    except FileNotFoundError:
        return ""


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name, or None if gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            line = handle.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return line.rsplit(")", 1)[1].split()


def _is_running(pid: int, start_time: int | None) -> bool:
    """``pid`` is alive (not a zombie) and is the process started then."""
    fields = _stat_fields(pid)
    if not fields or fields[0] in ("Z", "X"):
        return False  # a zombie has exited: init reaps it in its own time
    return start_time is None or int(fields[19]) == start_time


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        if os.getpgid(pid) == pid:
            os.killpg(pid, signum)
        else:
            os.kill(pid, signum)


def _wait_gone(pid: int, start_time: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while _is_running(pid, start_time):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return True
