"""Linear flows of no-op tasks written through a SQL persistence backend.

opsflow and TaskFlow 6.5.0 run the same flow (300 no-op tasks, serial
engine) with their SQLAlchemy backends, side by side in one process: on a
fresh SQLite file, and on PostgreSQL (a fresh schema, dropped after) when
it is reachable. The time is the whole ``engines.load(...).run()`` (compile,
prepare, every write) divided by the task count; the best of ``--repeat``
runs is kept (TaskFlow's runs take seconds each, so it gets one unless
``--taskflow-repeat`` says otherwise).

    python benchmarks/persistence.py [--tasks 300] [--repeat 5]
        [--postgresql postgresql://postgres@127.0.0.1:5432/test]

Prints a Markdown table (the one in docs/performance.md).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import platform
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

SQLITE_TARGET_US = 500.0


def _flow(library: str, size: int) -> Any:
    task = importlib.import_module(f"{library}.task")
    linear_flow = importlib.import_module(f"{library}.patterns.linear_flow")

    class Noop(task.Task):
        def execute(self) -> None:
            return None

    return linear_flow.Flow("bench").add(*(Noop(f"t{i}") for i in range(size)))


def _backend(library: str, url: str) -> Any:
    backends = importlib.import_module(f"{library}.persistence.backends")
    backend = backends.fetch({"connection": url})
    with contextlib.closing(backend.get_connection()) as conn:
        conn.upgrade()
    return backend


def _run(library: str, url: str, size: int) -> float:
    engines = importlib.import_module(f"{library}.engines")
    backend = _backend(library, url)
    flow = _flow(library, size)
    started = time.perf_counter()
    engine = engines.load(flow, backend=backend)
    engine.run()
    elapsed = time.perf_counter() - started
    state = engine.storage.get_flow_state()
    backend.close()
    if str(state) != "SUCCESS":
        raise RuntimeError(f"{library} ended {state}")
    return elapsed


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


def measure(
    library: str, fresh: Callable[[], str], size: int, repeat: int
) -> float | str:
    try:
        return min(_run(library, fresh(), size) for _ in range(repeat)) / size * 1e6
    except Exception as exc:  # shown in the table rather than hiding the row
        return f"failed: {type(exc).__name__}: {str(exc).splitlines()[0][:80]}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--taskflow-repeat", type=int, default=1)
    parser.add_argument(
        "--postgresql", default="postgresql://postgres@127.0.0.1:5432/test"
    )
    parser.add_argument("--skip-taskflow", action="store_true")
    args = parser.parse_args(argv)

    stores: list[tuple[str, Any]] = [("SQLite (file, WAL)", sqlite_url())]
    if args.postgresql:
        stores.append(("PostgreSQL", postgresql_url(args.postgresql)))
    rows = []
    for label, store in stores:
        try:
            with store as fresh:
                ours = measure("opsflow", fresh, args.tasks, args.repeat)
                theirs = (
                    "not run"
                    if args.skip_taskflow
                    else measure("taskflow", fresh, args.tasks, args.taskflow_repeat)
                )
        except Exception as exc:
            ours = theirs = f"unavailable: {type(exc).__name__}"
        rows.append((label, ours, theirs))

    def cell(value: float | str) -> str:
        return f"{value:,.0f}" if isinstance(value, float) else value

    print(
        f"linear {args.tasks} no-op tasks, serial engine, best of {args.repeat} "
        f"(opsflow) / {args.taskflow_repeat} (TaskFlow); Python "
        f"{platform.python_version()}, {os.cpu_count()} CPUs\n"
    )
    print("| store | opsflow us/task | TaskFlow 6.5.0 us/task | ratio |")
    print("| --- | ---: | ---: | ---: |")
    for label, ours, theirs in rows:
        ratio = (
            f"{theirs / ours:,.0f}x"
            if isinstance(ours, float) and isinstance(theirs, float)
            else ""
        )
        print(f"| {label} | {cell(ours)} | {cell(theirs)} | {ratio} |")
    sqlite = rows[0][1]
    if isinstance(sqlite, float):
        verdict = "met" if sqlite <= SQLITE_TARGET_US else "NOT met"
        print(f"\nSQLite target <= {SQLITE_TARGET_US:.0f} us/task: {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
