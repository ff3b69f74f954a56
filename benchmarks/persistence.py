"""Linear flows of no-op tasks written through a SQL persistence backend.

opsflow and TaskFlow 6.5.0 run the same flow (300 no-op tasks, serial
engine) with their SQLAlchemy backends, side by side in one invocation, on
a fresh store each run: a SQLite file (opsflow with ``synchronous`` NORMAL,
its default, and FULL), and PostgreSQL (a fresh schema, dropped after)
when ``--postgresql`` names one. The run time is the whole
``engines.load(...).run()`` (compile, prepare, every write) divided by the
task count; the store's schema is made before the timing starts.

* cold: the first run in a fresh Python process (``--cold`` processes,
  median), and that process's whole wall time (start to exit: imports,
  schema creation, the run);
* warm: the median of ``--repeat`` runs in this process after one
  unmeasured run (TaskFlow's runs take seconds each: ``--taskflow-repeat``);
* CPU: the process CPU time of the warm runs (median), less noisy than the
  wall clock on a shared machine;
* statements and commits per task, as SQLite itself reports them (its
  trace callback, on every connection either library opens; an
  ``executemany`` counts one statement per row).

The load average is printed before and after.

``--startup N`` also times ``opsflow-run demo`` (the installed command, the
``opsflow-demo`` plugin's flow) as whole processes, N of each: *cold* on a
new state directory (the store is created: alembic runs its migrations),
*warm* on a store that exists and is current; wall and CPU time (the
child's user + system) and whether the process imported alembic.

    python benchmarks/persistence.py [--tasks 300] [--repeat 7] [--cold 3]
        [--taskflow-repeat 3] [--startup 5]
        [--postgresql postgresql://postgres@127.0.0.1:5432/test]

Prints Markdown tables (the ones in docs/performance.md).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

SQLITE_TARGET_US = 150.0
PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"


def _flow(library: str, size: int) -> Any:
    task = importlib.import_module(f"{library}.task")
    linear_flow = importlib.import_module(f"{library}.patterns.linear_flow")

    class Noop(task.Task):
        def execute(self) -> None:
            return None

    return linear_flow.Flow("bench").add(*(Noop(f"t{i}") for i in range(size)))


def _backend(library: str, url: str, synchronous: str | None) -> Any:
    backends = importlib.import_module(f"{library}.persistence.backends")
    conf: dict[str, Any] = {"connection": url}
    if synchronous:
        conf["sqlite_synchronous"] = synchronous
    backend = backends.fetch(conf)
    with contextlib.closing(backend.get_connection()) as conn:
        conn.upgrade()
    return backend


@dataclasses.dataclass
class Run:
    wall: float
    cpu: float
    statements: Counter[str]


class SQLiteTrace:
    """Counts the statements SQLite runs on every pooled connection."""

    def __init__(self) -> None:
        import sqlalchemy as sa

        self.counts: Counter[str] = Counter()
        self._on = False

        def trace(statement: str) -> None:
            self.counts[statement.split(None, 1)[0].upper()] += 1

        def checkout(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
            # Set on the connections of counted runs only: a callback per
            # statement would be timed too.
            if hasattr(dbapi_conn, "set_trace_callback"):
                dbapi_conn.set_trace_callback(trace if self._on else None)

        sa.event.listen(sa.pool.Pool, "checkout", checkout)

    @contextlib.contextmanager
    def counting(self) -> Iterator[Counter[str]]:
        self.counts = Counter()
        self._on = True
        try:
            yield self.counts
        finally:
            self._on = False


def _run(
    library: str,
    url: str,
    size: int,
    synchronous: str | None,
    trace: SQLiteTrace | None = None,
) -> Run:
    engines = importlib.import_module(f"{library}.engines")
    backend = _backend(library, url, synchronous)
    flow = _flow(library, size)
    counts: Counter[str] = Counter()
    with trace.counting() if trace else contextlib.nullcontext(counts) as counts:
        cpu = time.process_time()
        started = time.perf_counter()
        engine = engines.load(flow, backend=backend)
        engine.run()
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu
    state = engine.storage.get_flow_state()
    backend.close()
    if str(state) != "SUCCESS":
        raise RuntimeError(f"{library} ended {state}")
    return Run(elapsed, cpu, counts)


@contextlib.contextmanager
def sqlite_url() -> Iterator[Callable[[], str]]:
    directory = tempfile.mkdtemp(prefix="opsflow-bench-")

    def fresh() -> str:
        return f"sqlite:///{directory}/{uuid.uuid4().hex}.sqlite"

    try:
        yield fresh
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@contextlib.contextmanager
def postgresql_url(base: str) -> Iterator[Callable[[], str]]:
    import sqlalchemy as sa

    from opsflow.persistence.backends.impl_sqlalchemy import make_url

    admin = sa.create_engine(make_url(base))
    schemas: list[str] = []

    def fresh() -> str:
        schema = f"opsflow_bench_{uuid.uuid4().hex[:10]}"
        with admin.begin() as conn:
            conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
        schemas.append(schema)
        # Both libraries get psycopg 3 (TaskFlow's default would be psycopg2).
        url = make_url(base).render_as_string(hide_password=False)
        return f"{url}?options=-csearch_path%3D{schema}"

    try:
        yield fresh
    finally:
        with admin.begin() as conn:
            for schema in schemas:
                conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def _child(library: str, url: str, size: int, synchronous: str | None) -> None:
    """The cold case: one run, the first of this fresh process."""
    run = _run(library, url, size, synchronous)
    print(json.dumps({"wall": run.wall, "cpu": run.cpu}))


def cold(
    library: str, url: str, size: int, synchronous: str | None
) -> tuple[float, float]:
    """(first-run wall seconds, whole-process wall seconds) of a fresh process."""
    command = [sys.executable, __file__, "--child", library, url, str(size)]
    if synchronous:
        command.append(synchronous)
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    whole = time.perf_counter() - started
    if done.returncode:
        raise RuntimeError(done.stderr.strip().splitlines()[-1])
    return json.loads(done.stdout.strip().splitlines()[-1])["wall"], whole


@dataclasses.dataclass
class Row:
    label: str
    library: str
    cold_us: float | None = None
    process_s: float | None = None
    warm_us: float | None = None
    cpu_us: float | None = None
    statements: float | None = None
    commits: float | None = None
    error: str = ""


def measure(
    label: str,
    library: str,
    fresh: Callable[[], str],
    size: int,
    repeat: int,
    colds: int,
    synchronous: str | None,
    trace: SQLiteTrace,
) -> Row:
    row = Row(label, library)
    try:
        if colds:
            pairs = [cold(library, fresh(), size, synchronous) for _ in range(colds)]
            row.cold_us = statistics.median(p[0] for p in pairs) / size * 1e6
            row.process_s = statistics.median(p[1] for p in pairs)
        # The warm-up run (not timed) is the one whose statements are counted.
        counts = _run(library, fresh(), size, synchronous, trace).statements
        runs = [_run(library, fresh(), size, synchronous) for _ in range(repeat)]
        row.warm_us = statistics.median(r.wall for r in runs) / size * 1e6
        row.cpu_us = statistics.median(r.cpu for r in runs) / size * 1e6
        if counts:
            row.statements = sum(counts.values()) / size
            row.commits = counts["COMMIT"] / size
    except Exception as exc:  # shown in the table rather than hiding the row
        row.error = f"failed: {type(exc).__name__}: {str(exc).splitlines()[0][:80]}"
    return row


def _opsflow_run(state: str, *args: str) -> tuple[float, float, bool]:
    """(wall s, CPU s, imported alembic) of one ``opsflow-run`` process."""
    config = os.path.join(state, "opsflow.conf")
    if not os.path.exists(config):
        with open(config, "w") as handle:
            handle.write(f"[DEFAULT]\nstate_path = {state}/state\n")
    exe = os.path.join(os.path.dirname(sys.executable), "opsflow-run")
    env = {**os.environ, "PYTHONPROFILEIMPORTTIME": "1"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        [exe, "--config-file", config, *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode:
        raise RuntimeError(f"opsflow-run {' '.join(args)} exited {done.returncode}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    alembic = any(
        line.rsplit("|", 1)[-1].strip().split(".")[0] == "alembic"
        for line in done.stderr.splitlines()
        if line.startswith("import time:")
    )
    return wall, cpu, alembic


def startup(count: int) -> list[tuple[str, float, float, bool]]:
    """``opsflow-run demo`` on a new store (cold) and on a current one (warm)."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="opsflow-bench-") as root:
        colds = []
        for i in range(count):
            state = os.path.join(root, f"cold{i}")
            os.mkdir(state)
            colds.append(_opsflow_run(state, "demo"))
        warm_state = os.path.join(root, "warm")
        os.mkdir(warm_state)
        _opsflow_run(warm_state, "demo")  # creates the store
        warms = [_opsflow_run(warm_state, "demo") for _ in range(count)]
    for label, runs in (
        ("cold (store created)", colds),
        ("warm (store current)", warms),
    ):
        rows.append(
            (
                label,
                statistics.median(r[0] for r in runs),
                statistics.median(r[1] for r in runs),
                all(r[2] for r in runs),
            )
        )
    return rows


def _loadavg() -> str:
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "unknown"


def _cell(value: float | None, digits: int = 0) -> str:
    return "" if value is None else f"{value:,.{digits}f}"


def print_startup(
    rows: list[tuple[str, float, float, bool]], count: int, load_before: str
) -> None:
    print(
        f"opsflow-run demo, whole process, median of {count}; load average "
        f"before {load_before}, after {_loadavg()}\n"
    )
    print("| opsflow-run demo | wall s | CPU s | imports alembic |")
    print("| --- | ---: | ---: | --- |")
    for label, wall, cpu, alembic in rows:
        print(f"| {label} | {wall:.2f} | {cpu:.2f} | {'yes' if alembic else 'no'} |")
    print()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--cold", type=int, default=3)
    parser.add_argument("--taskflow-repeat", type=int, default=3)
    parser.add_argument("--postgresql", default="", help=f"e.g. {PG_DEFAULT}")
    parser.add_argument("--skip-taskflow", action="store_true")
    parser.add_argument("--startup", type=int, default=0, metavar="N")
    parser.add_argument(
        "--startup-only", action="store_true", help="only the opsflow-run timings"
    )
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        library, url, size, *synchronous = args.child
        _child(library, url, int(size), synchronous[0] if synchronous else None)
        return 0

    load_before = _loadavg()
    if args.startup:
        print_startup(startup(args.startup), args.startup, load_before)
        if args.startup_only:
            return 0
        load_before = _loadavg()
    trace = SQLiteTrace()
    size = args.tasks
    rows: list[Row] = []
    with sqlite_url() as fresh:
        for sync in ("normal", "full"):
            rows.append(
                measure(
                    f"SQLite, synchronous={sync.upper()}",
                    "opsflow",
                    fresh,
                    size,
                    args.repeat,
                    args.cold,
                    sync,
                    trace,
                )
            )
        if not args.skip_taskflow:
            rows.append(
                measure(
                    "SQLite (TaskFlow's defaults)",
                    "taskflow",
                    fresh,
                    size,
                    args.taskflow_repeat,
                    1,
                    None,
                    trace,
                )
            )
    if args.postgresql:
        try:
            with postgresql_url(args.postgresql) as fresh:
                for library in ("opsflow",) + (
                    () if args.skip_taskflow else ("taskflow",)
                ):
                    repeat = args.repeat if library == "opsflow" else 1
                    rows.append(
                        measure(
                            "PostgreSQL", library, fresh, size, repeat, 0, None, trace
                        )
                    )
        except Exception as exc:
            rows.append(Row("PostgreSQL", "opsflow", error=f"unavailable: {exc}"))

    print(
        f"linear {size} no-op tasks, serial engine; warm: median of {args.repeat} "
        f"(opsflow) / {args.taskflow_repeat} (TaskFlow) after one unmeasured run; "
        f"cold: median of {args.cold} fresh processes (TaskFlow: 1); Python "
        f"{platform.python_version()}, {os.cpu_count()} CPUs; load average "
        f"before {load_before}, after {_loadavg()}\n"
    )
    print(
        "| store | library | cold us/task | cold process s | warm us/task "
        "| warm CPU us/task | statements/task | commits/task |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for row in rows:
        if row.error:
            print(f"| {row.label} | {row.library} | {row.error} | | | | | |")
            continue
        print(
            f"| {row.label} | {row.library} | {_cell(row.cold_us)} "
            f"| {_cell(row.process_s, 2)} | {_cell(row.warm_us)} "
            f"| {_cell(row.cpu_us)} | {_cell(row.statements, 2)} "
            f"| {_cell(row.commits, 2)} |"
        )
    ours = {r.label: r for r in rows if r.library == "opsflow" and not r.error}
    theirs = next(
        (r for r in rows if r.library == "taskflow" and r.label.startswith("SQLite")),
        None,
    )
    normal = ours.get("SQLite, synchronous=NORMAL")
    full = ours.get("SQLite, synchronous=FULL")
    if normal and theirs and not theirs.error:
        assert theirs.warm_us and normal.warm_us and theirs.cold_us and normal.cold_us
        warm, cold_ratio = (
            theirs.warm_us / normal.warm_us,
            theirs.cold_us / normal.cold_us,
        )
        print(
            f"\nTaskFlow / opsflow on SQLite: warm {warm:,.0f}x, "
            f"cold {cold_ratio:,.0f}x"
        )
    if normal and full and normal.warm_us and full.warm_us:
        print(
            f"synchronous=FULL costs {full.warm_us - normal.warm_us:,.0f} us/task warm "
            f"({full.warm_us / normal.warm_us:.2f}x NORMAL)"
        )
    if normal and normal.warm_us is not None:
        verdict = "met" if normal.warm_us <= SQLITE_TARGET_US else "NOT met"
        print(
            f"SQLite target <= {SQLITE_TARGET_US:.0f} us/task (warm, NORMAL): {verdict}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
