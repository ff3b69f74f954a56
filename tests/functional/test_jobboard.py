"""The procrastinate jobboard with real conductors on the local PostgreSQL.

Conductors run as ``python -m opsflow.cmd.conductor`` subprocesses in their
own process groups, against a schema made for the test and dropped after.
Timeouts are short (heartbeat 1 s, stalled after 3 s, reaper every 1 s), so
a dead conductor's run moves on within about 5 s. Flows come from
``tests/fixtures/opsflow-fixture-jobboard``; their steps leave
``started``/``done`` markers naming the conductor's pid.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

PG = "postgresql://postgres@127.0.0.1:5432/test"
pytestmark = pytest.mark.integration


def _unavailable(reason: str) -> None:
    if os.environ.get("OPSFLOW_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} (OPSFLOW_REQUIRE_SERVICES=1)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def schema() -> Iterator[str]:
    try:
        import procrastinate  # noqa: F401
        import psycopg
    except ImportError as exc:
        _unavailable(f"procrastinate jobboard not installed: {exc}")
    try:
        admin = psycopg.connect(PG, autocommit=True, connect_timeout=3)
    except psycopg.Error as exc:
        _unavailable(f"PostgreSQL not reachable at 127.0.0.1:5432: {exc}")
    name = f"opsflow_jb_{uuid.uuid4().hex[:8]}"
    with admin:
        admin.execute(f"CREATE SCHEMA {name}")
        try:
            yield name
        finally:
            admin.execute(f"DROP SCHEMA {name} CASCADE")


class Board:
    """A config file on the test schema, conductors, and looks at the store."""

    def __init__(self, tmp_path: Any, schema: str, max_attempts: int = 5) -> None:
        self.tmp = tmp_path
        self.url = f"{PG}?options=-csearch_path%3D{schema}"
        self.markers_dir = tmp_path / "markers"
        self.markers_dir.mkdir()
        self.config = tmp_path / "opsflow.conf"
        self.config.write_text(
            f"[DEFAULT]\nstate_path = {tmp_path / 'state'}\nflow_dirs =\n"
            f"[persistence]\nconnection = {self.url}\n"
            "[jobboard]\ndriver = procrastinate\n"
            "[procrastinate_jobboard]\nheartbeat_interval = 1\nstalled_after = 3\n"
            f"reaper_interval = 1\nmax_attempts = {max_attempts}\n"
            "poll_interval = 0.5\nconcurrency = 2\n"
        )
        self.env = dict(os.environ, HOME=str(tmp_path))
        self.conductors: list[subprocess.Popen[bytes]] = []
        self._backend: Any = None

    # -- processes --------------------------------------------------------------
    def start_conductor(self) -> subprocess.Popen[bytes]:
        log = open(self.tmp / f"conductor-{len(self.conductors)}.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, "-m", "opsflow.cmd.conductor"]
            + ["--config-file", str(self.config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self.env,
            start_new_session=True,
        )
        log.close()
        self.conductors.append(proc)
        wait_for(
            lambda: b"on queue" in self.log_of(proc) or proc.poll() is not None,
            30,
            "conductor start",
        )
        assert proc.poll() is None, self.log_of(proc).decode()
        return proc

    def log_of(self, proc: subprocess.Popen[bytes]) -> bytes:
        index = self.conductors.index(proc)
        return (self.tmp / f"conductor-{index}.log").read_bytes()

    def stop_all(self) -> None:
        for proc in self.conductors:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGCONT)
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        if self._backend is not None:
            self._backend.close()

    def submit(self, flow: str, *store: str) -> str:
        args = [os.path.join(os.path.dirname(sys.executable), "opsflow-run")]
        args += ["--config-file", str(self.config), "--format", "json"]
        args += ["--submit", flow]
        for item in store:
            args += ["--store", item]
        done = subprocess.run(
            args, capture_output=True, text=True, env=self.env, timeout=60
        )
        assert done.returncode == 0, done.stderr
        posted = json.loads(done.stdout)
        assert posted["jobboard"] == "procrastinate"
        return str(posted["run_id"])

    # -- looking -------------------------------------------------------------------
    @property
    def connection(self) -> Any:
        from opsflow.persistence import backends

        if self._backend is None:
            self._backend = backends.fetch({"connection": self.url})
        return self._backend.get_connection()

    def run(self, run_id: str) -> Any:
        return self.connection.get_flow_details(run_id)

    def state(self, run_id: str) -> str:
        return str(self.connection.get_flow_details(run_id, lazy=True).state)

    def markers(self) -> list[str]:
        path = self.markers_dir / "markers"
        return path.read_text().splitlines() if path.exists() else []

    def history(self) -> list[dict[str, Any]]:
        args = [os.path.join(os.path.dirname(sys.executable), "opsflow-run")]
        args += ["--config-file", str(self.config), "--format", "json", "--history"]
        done = subprocess.run(
            args, capture_output=True, text=True, env=self.env, timeout=60
        )
        assert done.returncode == 0, done.stderr
        return list(json.loads(done.stdout))


def wait_for(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)


@pytest.fixture
def board(tmp_path: Any, schema: str) -> Iterator[Board]:
    made = Board(tmp_path, schema)
    try:
        yield made
    finally:
        made.stop_all()


def test_a_submitted_run_waits_queued_then_a_conductor_runs_it(board: Board):
    # Given a run submitted while no conductor is up
    run_id = board.submit(
        "jobboard-steps", f"marker_dir={board.markers_dir}", "steps=2", "pause=0.1"
    )
    # Then it waits PENDING, and --history says which jobboard holds it
    (row,) = [r for r in board.history() if r["run_id"] == run_id]
    assert row["state"] == "PENDING"
    assert row["jobboard"]["driver"] == "procrastinate"
    assert row["held_by"] is None
    # When a conductor starts
    conductor = board.start_conductor()
    # Then it claims and runs the run to the end
    wait_for(lambda: board.state(run_id) == "SUCCESS", 30, "SUCCESS")
    assert [m.split()[:2] for m in board.markers()] == [
        ["started", "step_1"],
        ["done", "step_1"],
        ["started", "step_2"],
        ["done", "step_2"],
    ]
    (row,) = [r for r in board.history() if r["run_id"] == run_id]
    assert row["jobboard"]["owner"].endswith(f"pid {conductor.pid}")
    assert row["jobboard"]["claims"] == 1


def _marked(board: Board, line: str) -> bool:
    return line in board.markers()


def test_a_killed_conductors_run_is_resumed_by_another_without_rerunning_steps(
    board: Board,
):
    # Given conductor A running step_2 of a run, and conductor B idle
    a = board.start_conductor()
    run_id = board.submit(
        "jobboard-steps", f"marker_dir={board.markers_dir}", "steps=3", "pause=1.5"
    )
    wait_for(lambda: _marked(board, f"started step_2 {a.pid}"), 30, "A on step_2")
    b = board.start_conductor()
    # When A's process group is killed like a lost host
    os.killpg(a.pid, signal.SIGKILL)
    a.wait(10)
    killed_at = time.monotonic()
    # Then B takes the run over within 10 s and finishes it
    wait_for(lambda: _marked(board, f"started step_2 {b.pid}"), 10, "B on step_2")
    takeover = time.monotonic() - killed_at
    wait_for(lambda: board.state(run_id) == "SUCCESS", 30, "SUCCESS")
    starts = [m for m in board.markers() if m.startswith("started")]
    # step_1 had finished under A: it is not run again
    assert starts == [
        f"started step_1 {a.pid}",
        f"started step_2 {a.pid}",
        f"started step_2 {b.pid}",
        f"started step_3 {b.pid}",
    ]
    run = board.run(run_id)
    assert run.meta["jobboard"]["claims"] == 2
    assert run.meta["jobboard"]["owner"].endswith(f"pid {b.pid}")
    print(f"takeover after SIGKILL: {takeover:.1f}s")


def test_a_frozen_conductor_that_comes_back_is_fenced_off(board: Board):
    # Given conductor A frozen (SIGSTOP) in the middle of step_2
    a = board.start_conductor()
    run_id = board.submit(
        "jobboard-steps", f"marker_dir={board.markers_dir}", "steps=3", "pause=2"
    )
    wait_for(lambda: _marked(board, f"started step_2 {a.pid}"), 30, "A on step_2")
    os.killpg(a.pid, signal.SIGSTOP)
    # When B takes the run over, and A wakes up (SIGCONT) while B runs it
    b = board.start_conductor()
    wait_for(lambda: _marked(board, f"started step_2 {b.pid}"), 15, "B on step_2")
    os.killpg(a.pid, signal.SIGCONT)
    # Then A finishes its step but its write is refused (LeaseLost)
    wait_for(lambda: _marked(board, f"done step_2 {a.pid}"), 15, "A's step_2 end")
    wait_for(
        lambda: (
            b"LeaseLost" in board.log_of(a) or b"no longer holds" in board.log_of(a)
        ),
        15,
        "A fenced",
    )
    wait_for(lambda: board.state(run_id) == "SUCCESS", 30, "SUCCESS")
    # and the stored run holds only B's results from step_2 on
    run = board.run(run_id)
    results = {d.name: d.results for d in run}
    assert results["step_1"]["pid"] == a.pid
    assert results["step_2"]["pid"] == b.pid
    assert results["step_3"]["pid"] == b.pid
    assert run.meta["jobboard"]["claims"] == 2
    assert not any(m.startswith(f"started step_3 {a.pid}") for m in board.markers())
    assert a.poll() is None  # A lives on, its job left to B


def _reaper_lock_holder(admin: Any) -> int | None:
    """The pid of the conductor whose reaper holds the pass lock, if any."""
    from opsflow.jobboards.pg import REAPER_LOCK

    row = admin.execute(
        "SELECT a.application_name FROM pg_locks l"
        " JOIN pg_stat_activity a ON a.pid = l.pid"
        " WHERE l.locktype = 'advisory' AND l.granted"
        " AND l.classid = %s AND l.objid = %s",
        (REAPER_LOCK >> 32, REAPER_LOCK & 0xFFFFFFFF),
    ).fetchone()
    return int(row[0].rsplit(" ", 1)[1]) if row else None


def _freeze_a_reaper_in_its_pass(
    board: Board, schema: str, candidates: list[subprocess.Popen[bytes]]
) -> subprocess.Popen[bytes]:
    """SIGSTOP one of ``candidates`` while its reaper holds the pass lock.

    A pass takes milliseconds: the test holds the job table locked, so that
    the pass that took the lock waits in its first query, freezes the
    conductor holding the lock, and lets the table go.
    """
    import psycopg

    by_pid = {proc.pid: proc for proc in candidates}
    with psycopg.connect(PG) as admin:
        for _attempt in range(10):
            admin.execute(
                f"LOCK TABLE {schema}.procrastinate_jobs IN ACCESS EXCLUSIVE MODE"
            )
            holder = wait_for(lambda: _reaper_lock_holder(admin), 10, "a reaper pass")
            if holder in by_pid:
                os.killpg(holder, signal.SIGSTOP)
                admin.rollback()
                return by_pid[holder]
            admin.rollback()  # another conductor's pass: let it end, try again
            time.sleep(0.5)
    raise AssertionError("no candidate's reaper ever took the pass lock")


def test_a_conductor_frozen_in_a_reaper_pass_does_not_stop_failover(
    board: Board, schema: str
):
    # Given three conductors, one frozen (SIGSTOP) in the middle of a reaper
    # pass, holding the pass lock
    conductors = [board.start_conductor() for _ in range(3)]
    frozen = _freeze_a_reaper_in_its_pass(board, schema, conductors)
    # And another one running a run
    run_id = board.submit(
        "jobboard-steps", f"marker_dir={board.markers_dir}", "steps=3", "pause=2"
    )
    first = wait_for(
        lambda: next((m for m in board.markers() if m.startswith("started")), None),
        30,
        "the run's first step",
    )
    victim = next(c for c in conductors if first.endswith(f" {c.pid}"))
    (other,) = [c for c in conductors if c is not victim and c is not frozen]
    # When that one is killed
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait(10)
    killed_at = time.monotonic()
    # Then the third takes the run over in normal time (stalled_after 3 s;
    # the frozen pass's session ends after 3 s idle, freeing the lock)
    wait_for(
        lambda: any(
            m.startswith("started") and m.endswith(f" {other.pid}")
            for m in board.markers()
        ),
        15,
        "takeover",
    )
    takeover = time.monotonic() - killed_at
    wait_for(lambda: board.state(run_id) == "SUCCESS", 30, "SUCCESS")
    assert frozen.poll() is None  # still frozen all along
    print(f"takeover with a frozen reaper: {takeover:.1f}s")


def test_a_run_that_kills_every_conductor_ends_failure_after_max_attempts(
    tmp_path: Any, schema: str
):
    board = Board(tmp_path, schema, max_attempts=2)
    try:
        # Given two conductors, restarted whenever they die (as systemd would)
        board.start_conductor()
        board.start_conductor()
        # When a run whose step kills its conductor is submitted
        run_id = board.submit("jobboard-poison", f"marker_dir={board.markers_dir}")

        def supervise() -> bool:
            alive = [p for p in board.conductors if p.poll() is None]
            for _ in range(2 - len(alive)):
                board.start_conductor()
            return board.state(run_id) == "FAILURE"

        # Then after 2 starts the run ends FAILURE with the reason
        wait_for(supervise, 60, "FAILURE")
        run = board.run(run_id)
        assert "max_attempts=2" in run.meta["jobboard"]["failed_reason"]
        assert len([m for m in board.markers() if m.startswith("started")]) == 2
        (row,) = [r for r in board.history() if r["run_id"] == run_id]
        assert row["state"] == "FAILURE"
        assert "2 starts" in row["jobboard"]["failed_reason"]
    finally:
        board.stop_all()


def test_the_local_jobboard_runs_a_submitted_run_at_once_on_sqlite(tmp_path: Any):
    # Given the default jobboard and store (no service at all)
    config = tmp_path / "opsflow.conf"
    config.write_text(f"[DEFAULT]\nstate_path = {tmp_path / 'state'}\nflow_dirs =\n")
    markers = tmp_path / "markers"
    markers.mkdir()
    exe = os.path.join(os.path.dirname(sys.executable), "opsflow-run")
    env = dict(os.environ, HOME=str(tmp_path))
    # When a run is submitted
    done = subprocess.run(
        [exe, "--config-file", str(config), "--format", "json", "--submit"]
        + ["jobboard-steps", "--store", f"marker_dir={markers}", "--store", "pause=0"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    # Then it has run to the end before the command returns
    assert done.returncode == 0, done.stderr
    posted = json.loads(done.stdout)
    assert posted["jobboard"] == "local"
    assert posted["state"] == "SUCCESS"
    assert len((markers / "markers").read_text().splitlines()) == 6
    # And --show tells which jobboard the run went through
    shown = subprocess.run(
        [exe, "--config-file", str(config), "--format", "json"]
        + ["--show", str(posted["run_id"])],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert shown.returncode == 0, shown.stderr
    document = json.loads(shown.stdout)
    assert document["state"] == "SUCCESS"
    assert document["jobboard"] and "held_by" in document
