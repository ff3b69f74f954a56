"""Soak: SIGKILL ``opsflow-run`` at random instants, resume, check what happened.

A soak script, not a timed test: each *trial* starts a 50-step run of the
journaling ``crash-probe`` flow (``tests/functional/resumekit.py``) through
the installed ``opsflow-run``, kills it with SIGKILL at a random instant
(from process start on, so during the first-use migration too), resumes it
with ``--resume`` (killing some resumes as well) until it ends, and checks
that the trial is *consistent*:

* the run ends SUCCESS (or REVERTED when a step was made to fail), in the
  store and by its exit code;
* no completed step runs again: a step the store held SUCCESS when a kill
  came never journals another end of its execute afterwards, and a step it
  held REVERTED never journals another end of its revert (a step caught in
  flight runs again: that is the contract);
* no step ever ran twice at the same time: every journal line (fsync'd,
  with its pid) belongs to the latest run of its step (``overlaps``), and
  a process that was running a step of a killed owner is gone within 2 s
  of the kill (the ``process`` executor's workers die with their parent);
* a failed run reverted every step that ran, the failed one included, and
  started no step after it (after its block, when steps run in blocks).

Cases, each printing ``N/N consistent`` (and why any trial was not):

* ``sqlite``: the default store, synchronous executor (``--sqlite N``);
* ``postgresql``: a fresh schema per trial on 127.0.0.1:5432;
* ``mariadb``: a fresh database per trial on 127.0.0.1:3306; half the first
  kills are aimed at the first-use migration (within 60 ms of its first
  table), and the kills that left a half-made schema are counted;
* ``process``: SQLite with ``--executor process``;
* ``batched``: the same on the parallel engine, 200 steps that only
  journal, in unordered blocks of 50, so that kills land while a worker
  runs two waiting steps handed over at once;
* ``failover``: three procrastinate conductors; one is frozen (SIGSTOP)
  while its reaper holds the pass lock, a run is submitted, the conductor
  running it is killed, and the third must take the run over (its
  takeover time is printed).

    python benchmarks/crash_resume.py [--sqlite 100] [--postgresql 30]
        [--mariadb 30] [--process 30] [--batched 30] [--failover 5]
        [--jobs 2] [--seed S]

Run it with the virtualenv's python, ``opsflow-run`` beside it, and
``tests/fixtures/opsflow-fixture-jobboard`` installed (for ``failover``).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import dataclasses
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "functional"))

import resumekit  # noqa: E402  (the journaling plugin of the crash tests)

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
MARIADB_URL = "mysql://root@127.0.0.1:3306"
STEPS = 50
DELAY = 0.01
#: Largest number of extra kills of the resumes of one trial.
EXTRA_KILLS = 2
BIN = os.path.dirname(sys.executable)


# -- stores ---------------------------------------------------------------------
@contextlib.contextmanager
def sqlite_store(root: str) -> Iterator[str | None]:
    yield None  # the default: $state_path/opsflow.sqlite


@contextlib.contextmanager
def postgres_store(root: str) -> Iterator[str | None]:
    import psycopg

    name = f"opsflow_soak_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {name}")
        try:
            yield f"{PG_URL}?options=-csearch_path%3D{name}"
        finally:
            admin.execute(f"DROP SCHEMA {name} CASCADE")


@contextlib.contextmanager
def mariadb_store(root: str) -> Iterator[str | None]:
    import pymysql

    name = f"opsflow_soak_{uuid.uuid4().hex[:10]}"
    admin = pymysql.connect(host="127.0.0.1", port=3306, user="root")
    try:
        with admin.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE {name}")
        yield f"{MARIADB_URL}/{name}"
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {name}")
        admin.close()


def _sa_url(url: str | None, root: str) -> str:
    from opsflow.persistence.backends.sql_schema import make_url

    if url is None:
        return f"sqlite:///{root}/state/opsflow.sqlite"
    return make_url(url).render_as_string(hide_password=False)


class Store:
    """Reads the run's record straight from the database, without opsflow
    (which would complete a half-made schema and so hide it)."""

    def __init__(self, url: str | None, root: str) -> None:
        import sqlalchemy as sa

        self.sa = sa
        self.engine = sa.create_engine(_sa_url(url, root))

    def run(self) -> tuple[str, str, dict[str, str]] | None:
        """``(run id, flow state, {step: state})`` of the trial's run, if any."""
        sa = self.sa
        try:
            with self.engine.connect() as conn:
                row = conn.execute(
                    sa.text("SELECT uuid, state FROM opsflow_flowdetails")
                ).first()
                if row is None:
                    return None
                atoms = conn.execute(
                    sa.text(
                        "SELECT name, state FROM opsflow_atomdetails"
                        " WHERE parent_uuid = :run"
                    ),
                    {"run": row[0]},
                ).all()
        except sa.exc.SQLAlchemyError:  # no schema yet, or no file
            return None
        return row[0], str(row[1]), {name: str(state) for name, state in atoms}

    def half_made(self) -> bool:
        """Some opsflow tables, but no schema version (a killed migration)."""
        sa = self.sa
        try:
            names = set(sa.inspect(self.engine).get_table_names())
        except sa.exc.SQLAlchemyError:
            return False
        if not any(name.startswith("opsflow_") for name in names):
            return False
        if "opsflow_alembic_version" not in names:
            return True
        with self.engine.connect() as conn:
            version = conn.execute(
                sa.text("SELECT version_num FROM opsflow_alembic_version")
            ).first()
        return version is None

    def has_tables(self) -> bool:
        sa = self.sa
        try:
            return any(
                name.startswith("opsflow_")
                for name in sa.inspect(self.engine).get_table_names()
            )
        except sa.exc.SQLAlchemyError:
            return False

    def close(self) -> None:
        self.engine.dispose()


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    store: Callable[[str], contextlib.AbstractContextManager[str | None]]
    args: tuple[str, ...] = ()
    aim_at_migration: bool = False
    steps: int = STEPS
    #: Seconds each step's execute (and revert) takes.
    delay: float = DELAY
    #: Steps per unordered block of the flow (1: a plain line of steps).
    width: int = 1


CASES = {
    "sqlite": Case("sqlite", sqlite_store),
    "postgresql": Case("postgresql", postgres_store),
    "mariadb": Case("mariadb", mariadb_store, aim_at_migration=True),
    # Steps longer than a resume takes to start, so that a worker the kill
    # left behind would still be running its step when the resume starts it.
    "process": Case(
        "process",
        sqlite_store,
        ("--executor", "process", "--max-workers", "2"),
        steps=10,
        delay=1.0,
    ),
    # Blocks of steps that do nothing but journal (two fsyncs, about 1 ms),
    # side by side: the process driver hands a free worker two waiting steps
    # at once (about 110 submissions for the 200 steps), so kills land
    # between the two.
    "batched": Case(
        "batched",
        sqlite_store,
        ("--engine", "parallel", "--executor", "process", "--max-workers", "2"),
        steps=200,
        delay=0.0,
        width=50,
    ),
}


# -- one trial ------------------------------------------------------------------
#: (journal length, {step: state in the store}) each time a process was killed.
Snapshot = tuple[int, dict[str, str]]


@dataclasses.dataclass
class Trial:
    case: Case
    root: str
    seed: int
    site: str
    kills: int = 0
    migration_kills: int = 0
    takeovers_refused: int = 0
    code: int | None = None
    problems: list[str] = dataclasses.field(default_factory=list)
    snapshots: list[Snapshot] = dataclasses.field(default_factory=list)
    #: Seconds from the kill to another conductor's start (failover).
    takeover: float | None = None

    @property
    def journal(self) -> str:
        return os.path.join(self.root, "journal")


def _env(site: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([site, *filter(None, [env.get("PYTHONPATH")])])
    env["HOME"] = tempfile.gettempdir()
    return env


def _probes(journal: str) -> list[tuple[str, str, int]]:
    if not os.path.exists(journal):
        return []
    with open(journal) as handle:
        return [
            (event, name, int(pid))
            for event, name, pid in (line.split() for line in handle if line.strip())
        ]


def run_trial(case: Case, root: str, seed: int, site: str, estimate: float) -> Trial:
    rng = random.Random(seed)
    trial = Trial(case, root, seed, site)
    os.makedirs(root)
    fail_at = rng.randrange(case.steps // 5, case.steps) if rng.random() < 0.5 else -1
    with case.store(root) as url:
        config = os.path.join(root, "opsflow.conf")
        with open(config, "w") as handle:
            handle.write(f"[DEFAULT]\nstate_path = {root}/state\n")
            if url:
                handle.write(f"[persistence]\nconnection = {url}\n")
        store = Store(url, root)
        try:
            _drive(trial, store, config, rng, estimate, fail_at)
            _check(trial, store, fail_at)
        finally:
            store.close()
    return trial


def _popen(trial: Trial, config: str, *args: str) -> subprocess.Popen[bytes]:
    with open(os.path.join(trial.root, "stderr"), "ab") as err:
        return subprocess.Popen(
            [os.path.join(BIN, "opsflow-run"), "--config-file", config, *args],
            stdout=subprocess.DEVNULL,
            stderr=err,
            stdin=subprocess.DEVNULL,
            env=_env(trial.site),
        )


def _kill_at(proc: subprocess.Popen[bytes], delay: float) -> bool:
    """SIGKILL ``proc`` ``delay`` seconds from now unless it ended; True if killed."""
    deadline = time.monotonic() + delay
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        time.sleep(0.002)
    if proc.poll() is not None:
        return False
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return True


def _outliving(journal: str, owner: int, grace: float = 2.0) -> list[int]:
    """Processes that were running a step (started, not ended) of the killed
    ``owner`` and are still alive ``grace`` seconds after the kill."""
    running: dict[str, int] = {}
    for event, step, pid in _probes(journal):
        if event in ("S", "U"):
            running[step] = pid
        elif event in ("E", "V"):
            running.pop(step, None)
    pids = {pid for pid in running.values() if pid != owner}
    deadline = time.monotonic() + grace
    while pids and time.monotonic() < deadline:
        pids = {pid for pid in pids if resumekit.pid_alive(pid)}
        time.sleep(0.02)
    return sorted(pids)


def _wait_for_tables(store: Store, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and proc.poll() is None:
        if store.has_tables():
            return
        time.sleep(0.005)


def _drive(
    trial: Trial,
    store: Store,
    config: str,
    rng: random.Random,
    estimate: float,
    fail_at: int,
) -> None:
    """Start the run, kill it, resume it (killing some resumes) until it ends."""
    flow = [
        "crash-probe",
        "--store",
        f"journal={trial.journal}",
        "--store",
        f"steps={trial.case.steps}",
        "--store",
        f"delay={trial.case.delay}",
        "--store",
        f"fail_at={fail_at}",
        "--store",
        f"width={trial.case.width}",
        *trial.case.args,
    ]
    kills_left = 1 + rng.randint(0, EXTRA_KILLS)
    for _attempt in range(30):
        recorded = store.run()
        if recorded is None:  # nothing recorded yet: start the run (again)
            proc = _popen(trial, config, *flow)
        elif recorded[1] in ("SUCCESS", "REVERTED", "FAILURE"):
            trial.code = {"SUCCESS": 0, "REVERTED": 1, "FAILURE": 2}[recorded[1]]
            return
        else:
            proc = _popen(trial, config, "--resume", recorded[0], *trial.case.args)
        if kills_left:
            kills_left -= 1
            if trial.case.aim_at_migration and not trial.kills and rng.random() < 0.5:
                _wait_for_tables(store, proc)  # aim at the first-use migration
                delay = rng.uniform(0, 0.06)  # it takes some 50 ms
            else:
                delay = rng.uniform(0, estimate * 1.1)
            if _kill_at(proc, delay):
                trial.kills += 1
                for pid in _outliving(trial.journal, proc.pid):
                    trial.problems.append(
                        f"pid {pid} running a step outlived its owner"
                    )
                if store.half_made():
                    trial.migration_kills += 1
                state = store.run()
                trial.snapshots.append(
                    (len(_probes(trial.journal)), dict(state[2]) if state else {})
                )
                continue
        code = proc.wait()
        if code in (0, 1, 2):
            trial.code = code
            return
        if code == 69:  # the old owner's processes were still ending: again
            trial.takeovers_refused += 1
            time.sleep(0.5)
            continue
        if code != 3:
            trial.problems.append(f"exit {code}: {_last_error(trial)}")
            return
    trial.problems.append("never ended after 30 starts")


def _last_error(trial: Trial) -> str:
    with open(os.path.join(trial.root, "stderr"), errors="replace") as handle:
        lines = [line.strip() for line in handle if " INFO " not in line]
    return lines[-1] if lines else "(no stderr)"


def _check(trial: Trial, store: Store, fail_at: int) -> None:
    problems = trial.problems
    if problems:
        return
    names = [f"step-{i:02d}" for i in range(trial.case.steps)]
    expected = "SUCCESS" if fail_at < 0 else "REVERTED"
    recorded = store.run()
    state = recorded[1] if recorded else None
    if state != expected or trial.code != (0 if fail_at < 0 else 1):
        problems.append(f"ended {state} (exit {trial.code}), expected {expected}")
    probes = _probes(trial.journal)
    problems.extend(resumekit.overlaps(probes))
    for index, atoms in trial.snapshots:
        for event, step, _pid in probes[index:]:
            if event == "E" and atoms.get(step) == "SUCCESS":
                problems.append(f"{step} completed before a kill, ran again")
            if event == "V" and atoms.get(step) == "REVERTED":
                problems.append(f"{step} reverted before a kill, reverted again")
    ends = Counter(step for event, step, _ in probes if event == "E")
    reverts = Counter(step for event, step, _ in probes if event == "V")
    starts = {step for event, step, _ in probes if event == "S"}
    if fail_at < 0:
        missing = [name for name in names if not ends[name]]
        if missing:
            problems.append(f"never completed: {', '.join(missing)}")
    else:
        ran = set(ends) | {names[fail_at]}
        if set(reverts) != ran:
            problems.append(f"reverted {sorted(reverts)} but ran {sorted(ran)}")
        # Steps of the failed one's own block may run beside it.
        width = trial.case.width
        late = sorted(
            name for name in starts if names.index(name) // width > fail_at // width
        )
        if late:
            problems.append(f"started after the failed step's block: {', '.join(late)}")


# -- conductor failover with a frozen reaper ------------------------------------
def failover_trial(root: str, seed: int) -> Trial:
    """Three conductors: one frozen holding the reaper's lock, then a run
    submitted; kill the conductor that runs it: the third must take the run
    over and finish it."""
    import psycopg

    from opsflow.jobboards.pg import REAPER_LOCK

    trial = Trial(Case("failover", sqlite_store), root, seed, "")
    os.makedirs(root)
    markers = os.path.join(root, "markers")
    os.makedirs(markers)
    name = f"opsflow_soak_{uuid.uuid4().hex[:10]}"
    url = f"{PG_URL}?options=-csearch_path%3D{name}"
    config = os.path.join(root, "opsflow.conf")
    with open(config, "w") as handle:
        handle.write(
            f"[DEFAULT]\nstate_path = {root}/state\nflow_dirs =\n"
            f"[persistence]\nconnection = {url}\n[jobboard]\ndriver = procrastinate\n"
            "[procrastinate_jobboard]\nheartbeat_interval = 1\nstalled_after = 3\n"
            "reaper_interval = 1\nmax_attempts = 5\npoll_interval = 0.5\n"
            "concurrency = 2\n"
        )
    env = dict(os.environ, HOME=root)
    conductors: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        log = open(os.path.join(root, f"conductor-{len(conductors)}.log"), "wb")  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, "-m", "opsflow.cmd.conductor", "--config-file", config],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        log.close()
        conductors.append(proc)
        _until(lambda: b"on queue" in _read(log.name), 30)
        return proc

    def lines() -> list[str]:
        path = os.path.join(markers, "markers")
        return open(path).read().splitlines() if os.path.exists(path) else []

    with psycopg.connect(PG_URL, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {name}")
    try:
        conductors_up = [start() for _ in range(3)]
        frozen = _freeze_reaper(name, conductors_up, REAPER_LOCK)
        done = subprocess.run(
            [os.path.join(BIN, "opsflow-run"), "--config-file", config, "--format"]
            + ["json", "--submit", "jobboard-steps", "--store", f"marker_dir={markers}"]
            + ["--store", "steps=4", "--store", "pause=2"],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        run_id = json.loads(done.stdout)["run_id"]
        _until(lambda: any(m.startswith("started") for m in lines()), 30)
        first = next(m for m in lines() if m.startswith("started"))
        a = next(c for c in conductors_up if first.endswith(f" {c.pid}"))
        (other,) = [proc for proc in conductors_up if proc not in (a, frozen)]
        time.sleep(random.Random(seed).uniform(0, 1.0))
        os.killpg(a.pid, signal.SIGKILL)
        a.wait()
        trial.kills = 1
        killed = time.monotonic()
        if f"done step_4 {a.pid}" in lines():
            trial.problems.append("void: the run ended before its conductor was killed")
            return trial
        took = _until(
            lambda: any(
                m.startswith("started") and m.endswith(f" {other.pid}") for m in lines()
            ),
            30,
        )
        trial.takeover = time.monotonic() - killed if took else None
        if not took:
            trial.problems.append(
                f"not taken over within 30 s (markers: {', '.join(lines())})"
            )
        from opsflow.persistence import backends

        backend = backends.fetch({"connection": url})
        try:
            ended = _until(
                lambda: (
                    str(
                        backend.get_connection()
                        .get_flow_details(run_id, lazy=True)
                        .state
                    )
                    == "SUCCESS"
                ),
                60,
            )
        finally:
            backend.close()
        if not ended:
            trial.problems.append("run did not end SUCCESS")
        done_steps = Counter(m.split()[1] for m in lines() if m.startswith("done"))
        twice = [step for step, count in done_steps.items() if count > 1]
        # A step the killed conductor finished may finish again only if it
        # was in flight at the kill (its result not recorded): at most one.
        if len(twice) > 1:
            trial.problems.append(f"completed twice: {twice}")
        if frozen.poll() is not None:
            trial.problems.append("the frozen conductor was not frozen all along")
    finally:
        for proc in conductors:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGCONT)
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        with psycopg.connect(PG_URL, autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA {name} CASCADE")
    return trial


def _read(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


def _until(check: Callable[[], Any], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


def _freeze_reaper(
    schema: str, candidates: list[subprocess.Popen[bytes]], key: int
) -> subprocess.Popen[bytes]:
    """SIGSTOP a candidate while its reaper holds the pass lock (the job
    table held locked so that the pass waits in its first query)."""
    import psycopg

    by_pid = {proc.pid: proc for proc in candidates}
    query = (
        "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a"
        " ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted"
        " AND l.classid = %s AND l.objid = %s"
    )
    with psycopg.connect(PG_URL) as admin:
        for _attempt in range(20):
            admin.execute(
                f"LOCK TABLE {schema}.procrastinate_jobs IN ACCESS EXCLUSIVE MODE"
            )
            holder = None
            deadline = time.monotonic() + 10
            while holder is None and time.monotonic() < deadline:
                row = admin.execute(query, (key >> 32, key & 0xFFFFFFFF)).fetchone()
                holder = int(row[0].rsplit(" ", 1)[1]) if row else None
                time.sleep(0.02)
            if holder in by_pid:
                os.killpg(holder, signal.SIGSTOP)
                admin.rollback()
                return by_pid[holder]
            admin.rollback()
            time.sleep(0.5)
    raise RuntimeError("no candidate's reaper took the pass lock")


# -- running the cases ----------------------------------------------------------
def estimate_run(case: Case, site: str, base: str) -> float:
    """Seconds one unkilled run of the case takes, process start to end."""
    root = os.path.join(base, f"{case.name}-estimate")
    os.makedirs(root)
    with case.store(root) as url:
        config = os.path.join(root, "opsflow.conf")
        with open(config, "w") as handle:
            handle.write(f"[DEFAULT]\nstate_path = {root}/state\n")
            if url:
                handle.write(f"[persistence]\nconnection = {url}\n")
        started = time.monotonic()
        subprocess.run(
            [os.path.join(BIN, "opsflow-run"), "--config-file", config, "crash-probe"]
            + ["--store", f"journal={root}/journal", "--store", f"steps={case.steps}"]
            + ["--store", f"delay={case.delay}", "--store", f"width={case.width}"]
            + list(case.args),
            capture_output=True,
            env=_env(site),
            check=True,
        )
        return time.monotonic() - started


def run_case(
    case: Case, trials: int, jobs: int, seed: int, base: str, site: str
) -> bool:
    estimate = estimate_run(case, site, base)
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
        results = list(
            pool.map(
                lambda i: run_trial(
                    case,
                    os.path.join(base, f"{case.name}-{i}"),
                    seed + i,
                    site,
                    estimate,
                ),
                range(trials),
            )
        )
    good = [t for t in results if not t.problems]
    kills = sum(t.kills for t in results)
    extra = ""
    if case.aim_at_migration:
        extra = f", {sum(t.migration_kills for t in results)} left a half-made schema"
    refused = sum(t.takeovers_refused for t in results)
    print(
        f"{case.name:<10} {len(good)}/{trials} consistent  ({case.steps} steps of "
        f"{case.delay}s, {kills} kills{extra}; {refused} resumes waited out; "
        f"one run {estimate:.1f}s; {time.monotonic() - started:.0f}s)",
        flush=True,
    )
    for trial in results:
        if trial.problems:
            print(f"    seed {trial.seed}: {'; '.join(trial.problems)}", flush=True)
    return len(good) == trials


def run_failover(trials: int, seed: int, base: str) -> bool:
    started = time.monotonic()
    results = [
        failover_trial(os.path.join(base, f"failover-{i}"), seed + i)
        for i in range(trials)
    ]
    good = [t for t in results if not t.problems]
    times = sorted(t.takeover for t in results if t.takeover is not None)
    spread = f"takeover {times[0]:.1f}-{times[-1]:.1f}s" if times else "no takeover"
    print(
        f"{'failover':<10} {len(good)}/{trials} consistent  (a reaper frozen in its "
        f"pass, the running conductor killed; {spread}; "
        f"{time.monotonic() - started:.0f}s)",
        flush=True,
    )
    for trial in results:
        if trial.problems:
            print(f"    seed {trial.seed}: {'; '.join(trial.problems)}", flush=True)
    return len(good) == trials


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for name, default in (
        ("sqlite", 100),
        ("postgresql", 30),
        ("mariadb", 30),
        ("process", 30),
        ("batched", 30),
    ):
        parser.add_argument(f"--{name}", type=int, default=default, metavar="N")
    parser.add_argument("--failover", type=int, default=5, metavar="N")
    parser.add_argument("--jobs", type=int, default=2, help="trials at a time")
    parser.add_argument("--seed", type=int, default=random.randrange(1 << 30))
    parser.add_argument("--keep", action="store_true", help="keep the trial dirs")
    args = parser.parse_args()
    with open("/proc/loadavg") as handle:
        load = handle.read().split()[:3]
    print(
        f"seed {args.seed}; load average before: {' '.join(load)}; "
        f"{os.cpu_count()} CPUs",
        flush=True,
    )
    base = tempfile.mkdtemp(prefix="opsflow-soak-")
    site = resumekit.install_plugin(os.path.join(base, "plugin"))
    ok = True
    try:
        for name, case in CASES.items():
            count = getattr(args, name)
            if count:
                ok &= run_case(case, count, args.jobs, args.seed, base, site)
        if args.failover:
            ok &= run_failover(args.failover, args.seed, base)
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
        else:
            print(f"trials kept in {base}")
    with open("/proc/loadavg") as handle:
        print(f"load average after: {' '.join(handle.read().split()[:3])}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
