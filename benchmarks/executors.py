"""Executor driver benchmarks: opsflow's drivers beside TaskFlow 6.5.0's
parallel engine with its thread executor, in one run.

* ``sleep``: 200 tasks sleeping 20 ms each, 20 workers; the ideal wall time
  is 200 x 20 ms / 20 = 0.2 s and the target is within 1.15x of it.
* ``noop``: 200 tasks doing nothing; wall time per task is the driver's own
  overhead (the ``process`` driver pickles each task and its arguments to a
  worker process and relays the result back).

Every row is the best of ``--repeat`` runs (default 5). TaskFlow is used only
through its public API (``taskflow.engines.load``); TaskFlow 6.x has no
process executor, so the process driver is compared with its threads.

    python benchmarks/executors.py
    python benchmarks/executors.py --repeat 3 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

from opsflow import task as ops_task

TASKS = 200
SLEEP_S = 0.02
SLEEP_WORKERS = 20
IDEAL_S = TASKS * SLEEP_S / SLEEP_WORKERS
TARGET_RATIO = 1.15


# -- opsflow ---------------------------------------------------------------
# Module-level classes, so the process driver pickles them by reference.
class OpsNap(ops_task.Task):
    def execute(self) -> None:
        time.sleep(SLEEP_S)


class OpsNothing(ops_task.Task):
    def execute(self) -> None:
        return None


def opsflow_run(kind: str, executor: str, workers: int) -> Callable[[], float]:
    from opsflow import engines
    from opsflow.patterns import unordered_flow

    cls = OpsNap if kind == "sleep" else OpsNothing

    def run() -> float:
        flow = unordered_flow.Flow("bench").add(
            *(cls(name=f"t{i}") for i in range(TASKS))
        )
        engine = engines.load(
            flow, engine="parallel", executor=executor, max_workers=workers
        )
        engine.compile()
        engine.prepare()
        started = time.perf_counter()
        engine.run()
        return time.perf_counter() - started

    return run


# -- TaskFlow (public API only) -------------------------------------------
def taskflow_run(kind: str, workers: int) -> Callable[[], float]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from taskflow import engines, task
        from taskflow.patterns import unordered_flow

    class Nap(task.Task):
        def execute(self) -> None:
            time.sleep(SLEEP_S)

    class Nothing(task.Task):
        def execute(self) -> None:
            return None

    cls = Nap if kind == "sleep" else Nothing

    def run() -> float:
        flow = unordered_flow.Flow("bench").add(
            *(cls(name=f"t{i}") for i in range(TASKS))
        )
        engine = engines.load(
            flow, engine="parallel", executor="threaded", max_workers=workers
        )
        engine.compile()
        engine.prepare()
        started = time.perf_counter()
        engine.run()
        return time.perf_counter() - started

    return run


def best_of(run: Callable[[], float], repeat: int) -> float:
    run()  # warm-up: imports, first pool
    return min(run() for _ in range(repeat))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", metavar="FILE", help="also write the rows here")
    args = parser.parse_args(argv)
    cpus = os.cpu_count() or 1

    try:
        import taskflow  # noqa: F401

        have_taskflow = True
    except ImportError:
        have_taskflow = False

    cases: list[tuple[str, str, str, int, Callable[[], float]]] = [
        ("sleep", "opsflow", "thread", SLEEP_WORKERS,
         opsflow_run("sleep", "thread", SLEEP_WORKERS)),
        ("noop", "opsflow", "thread", cpus, opsflow_run("noop", "thread", cpus)),
        ("noop", "opsflow", "process", cpus, opsflow_run("noop", "process", cpus)),
    ]  # fmt: skip
    if have_taskflow:
        cases[1:1] = [
            ("sleep", "taskflow", "threaded", SLEEP_WORKERS,
             taskflow_run("sleep", SLEEP_WORKERS)),
        ]  # fmt: skip
        cases.append(("noop", "taskflow", "threaded", cpus, taskflow_run("noop", cpus)))

    rows: list[dict[str, Any]] = []
    for kind, library, executor, workers, run in cases:
        seconds = best_of(run, args.repeat)
        row = {
            "workload": kind,
            "library": library,
            "executor": executor,
            "workers": workers,
            "seconds": round(seconds, 4),
            "us_per_task": round(seconds / TASKS * 1e6, 1),
        }
        if kind == "sleep":
            row["x_ideal"] = round(seconds / IDEAL_S, 3)
        rows.append(row)

    print(
        f"# {TASKS} tasks, best of {args.repeat}; python {platform.python_version()},"
        f" {cpus} CPUs"
    )
    header = f"{'workload':<28}{'library':<10}{'executor':<10}{'workers':>8}"
    print(header + f"{'wall s':>9}{'us/task':>10}  vs ideal / target")
    for row in rows:
        title = (
            f"{TASKS} x {SLEEP_S * 1000:g} ms sleep"
            if row["workload"] == "sleep"
            else f"{TASKS} no-op"
        )
        verdict = ""
        if "x_ideal" in row:
            verdict = f"{row['x_ideal']:.2f}x of {IDEAL_S:g} s"
            if row["library"] == "opsflow":
                ok = row["x_ideal"] <= TARGET_RATIO
                verdict += f" ({'meets' if ok else 'misses'} <= {TARGET_RATIO}x)"
        print(
            f"{title:<28}{row['library']:<10}{row['executor']:<10}"
            f"{row['workers']:>8}{row['seconds']:>9.3f}{row['us_per_task']:>10.1f}"
            f"  {verdict}"
        )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(rows, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
