"""Detached services stop on revert (SIGTERM, then SIGKILL); health checks poll."""

from __future__ import annotations

import os
import sys
import time

import pytest
from opsflow_linux.services import (
    FreePort,
    HealthCheckFailed,
    HttpHealthCheck,
    Service,
    ServiceFailed,
    StopService,
)

from opsflow.testing import snapshots

STUBBORN = (
    "import signal, time\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "print('ignoring SIGTERM', flush=True)\n"
    "time.sleep(60)\n"
)


def test_a_service_outlives_its_starter_and_its_revert_stops_it(tmp_path):
    task = Service(
        [sys.executable, "-m", "http.server", "{port}", "--bind", "127.0.0.1"],
        pidfile=str(tmp_path / "svc.pid"),
        logfile=str(tmp_path / "svc.log"),
        cwd=str(tmp_path),
        requires=["port"],
        name="svc",
    )
    port = FreePort().execute()
    result = task.execute(port=port)
    pid = result["pid"]
    assert (tmp_path / "svc.pid").read_text() == f"{pid}\n"
    assert os.getsid(pid) == pid  # a session of its own
    HttpHealthCheck(f"http://127.0.0.1:{port}/", deadline=5).execute()
    assert ("127.0.0.1", port) in snapshots.listening_ports()
    task.revert(result=result)
    task.revert(result=result)
    assert not snapshots.processes(f"http.server {port}")
    assert ("127.0.0.1", port) not in snapshots.listening_ports()
    assert os.listdir(tmp_path) == []


def test_a_service_that_ignores_sigterm_is_killed_after_the_grace_period(tmp_path):
    task = Service(
        [sys.executable, "-c", STUBBORN],
        pidfile=str(tmp_path / "pid"),
        logfile=str(tmp_path / "log"),
        grace=0.5,
        name="stubborn",
    )
    result = task.execute()
    started = time.monotonic()
    task.revert(result=result)
    assert 0.5 <= time.monotonic() - started < 5
    assert not snapshots.processes(STUBBORN)


def test_a_service_that_exits_at_once_fails_with_its_log_and_leaves_nothing(tmp_path):
    task = Service(
        [sys.executable, "-c", "import sys; sys.exit('cannot bind: port in use')"],
        pidfile=str(tmp_path / "pid"),
        logfile=str(tmp_path / "log"),
        name="dies",
    )
    with pytest.raises(ServiceFailed, match="cannot bind: port in use"):
        task.execute()
    assert os.listdir(tmp_path) == []


def test_a_log_that_existed_is_cut_back_to_its_old_size(tmp_path):
    log = tmp_path / "log"
    log.write_text("earlier run\n")
    task = Service(
        [sys.executable, "-c", STUBBORN],
        pidfile=str(tmp_path / "pid"),
        logfile=str(log),
        grace=0.1,
    )
    result = task.execute()
    task.revert(result=result)
    assert log.read_text() == "earlier run\n"
    assert os.listdir(tmp_path) == ["log"]


def test_a_missing_program_fails_before_any_pidfile_is_written(tmp_path):
    task = Service(["no-such-program"], str(tmp_path / "p"), str(tmp_path / "l"))
    with pytest.raises(ServiceFailed, match="no-such-program"):
        task.execute()
    assert os.listdir(tmp_path) == []


def test_stop_service_stops_what_the_pidfile_names_and_accepts_none(tmp_path):
    start = Service(
        [sys.executable, "-c", STUBBORN],
        pidfile=str(tmp_path / "pid"),
        logfile=str(tmp_path / "log"),
    )
    start.execute()
    stop = StopService(str(tmp_path / "pid"), grace=0.2)
    assert stop.execute()["stopped"] == "killed"
    assert stop.execute()["stopped"] == "no pidfile"
    assert not snapshots.processes(STUBBORN)


def test_a_health_check_gives_up_after_its_deadline_naming_the_last_error():
    port = FreePort().execute()  # nothing listens there
    task = HttpHealthCheck(f"http://127.0.0.1:{port}/", deadline=0.5)
    started = time.monotonic()
    with pytest.raises(HealthCheckFailed, match="not healthy after 0.5s .*Connection"):
        task.execute()
    assert time.monotonic() - started < 3
