"""Benchmark workloads, run one library and one workload per process.

``benchmarks/engine.py`` starts this script in a fresh interpreter for every
(library, workload) pair so that peak memory belongs to that pair alone and
nothing one library allocated lingers into the other's figures.  The flows
are built only through the public API that opsflow and TaskFlow share, so
the same code measures both: the library is picked by its top-level package
name (``opsflow`` or ``taskflow``).

Usage (normally only called by ``engine.py``)::

    python benchmarks/workloads.py LIBRARY WORKLOAD SIZE REPEAT

It prints one JSON object on stdout: the best and every wall time, the
per-task cost of the best run, the flow's final state and the process's peak
resident set size.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import json
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

#: Seconds each task of the parallel workload sleeps.
SLEEP_SECONDS = 0.02
#: Threads the parallel workload runs on, for both libraries.
PARALLEL_WORKERS = 20
#: Threads the unordered no-op workload runs on.
UNORDERED_WORKERS = 4


class BenchmarkError(Exception):
    """A workload ended in a state other than the one it is built to reach."""


@dataclass(frozen=True)
class Library:
    """The modules of one TaskFlow-compatible library."""

    name: str
    task: ModuleType
    engines: ModuleType
    states: ModuleType
    linear_flow: ModuleType
    unordered_flow: ModuleType
    graph_flow: ModuleType


def import_library(name: str) -> Library:
    """Import the shared public API of ``opsflow`` or ``taskflow``."""

    def sub(module: str) -> ModuleType:
        return importlib.import_module(f"{name}.{module}")

    return Library(
        name=name,
        task=sub("task"),
        engines=sub("engines"),
        states=sub("states"),
        linear_flow=sub("patterns.linear_flow"),
        unordered_flow=sub("patterns.unordered_flow"),
        graph_flow=sub("patterns.graph_flow"),
    )


class Tasks:
    """Task classes defined on one library's ``Task`` base class."""

    def __init__(self, lib: Library) -> None:
        base = lib.task.Task

        class NoOp(base):  # type: ignore[misc, valid-type]
            def execute(self) -> None:
                return None

        class Boom(base):  # type: ignore[misc, valid-type]
            def execute(self) -> None:
                raise RuntimeError("planned failure")

        class Increment(base):  # type: ignore[misc, valid-type]
            def execute(self, value: int) -> int:
                return value + 1

        class Sleep(base):  # type: ignore[misc, valid-type]
            def execute(self) -> None:
                time.sleep(SLEEP_SECONDS)

        self.noop = NoOp
        self.boom = Boom
        self.increment = Increment
        self.sleep = Sleep


@dataclass(frozen=True)
class Prepared:
    """One ready-to-time run: the engine is built and run inside the timing."""

    flow: Any
    store: dict[str, Any] | None
    options: dict[str, Any]
    expected_state: str
    check: Callable[[Any], None] | None = None
    #: Called after the run and its check (closes backends, removes files).
    cleanup: Callable[[], None] | None = None


def _linear(lib: Library, tasks: Tasks, size: int) -> Prepared:
    flow = lib.linear_flow.Flow("linear")
    flow.add(*(tasks.noop(name=f"t{i}") for i in range(size)))
    return Prepared(flow, None, {}, lib.states.SUCCESS)


def _revert(lib: Library, tasks: Tasks, size: int) -> Prepared:
    flow = lib.linear_flow.Flow("revert")
    flow.add(*(tasks.noop(name=f"t{i}") for i in range(size - 1)))
    flow.add(tasks.boom(name=f"t{size - 1}"))

    def check(engine: Any) -> None:
        first = engine.storage.get_atom_state("t0")
        if first != lib.states.REVERTED:
            raise BenchmarkError(f"first task ended {first}, expected REVERTED")

    return Prepared(flow, None, {}, lib.states.REVERTED, check)


def _graph_chain(lib: Library, tasks: Tasks, size: int) -> Prepared:
    # Each task requires what the previous one provides; the graph flow has to
    # find the chain from the symbol names alone (no explicit links).
    flow = lib.graph_flow.Flow("chain")
    items = []
    for i in range(size):
        source = "seed" if i == 0 else f"v{i - 1}"
        items.append(
            tasks.increment(name=f"t{i}", provides=f"v{i}", rebind={"value": source})
        )
    # Added in reverse so that declaration order cannot stand in for the chain.
    flow.add(*reversed(items))

    def check(engine: Any) -> None:
        last = engine.storage.fetch(f"v{size - 1}")
        if last != size:
            raise BenchmarkError(f"chain produced {last}, expected {size}")

    return Prepared(flow, {"seed": 0}, {}, lib.states.SUCCESS, check)


def _parallel(lib: Library, tasks: Tasks, size: int) -> Prepared:
    flow = lib.unordered_flow.Flow("parallel")
    flow.add(*(tasks.sleep(name=f"t{i}") for i in range(size)))
    options = {"engine": "parallel", "max_workers": PARALLEL_WORKERS}
    return Prepared(flow, None, options, lib.states.SUCCESS)


def _unordered(lib: Library, tasks: Tasks, size: int) -> Prepared:
    # No-op tasks with no order between them, on 4 threads: the engine's own
    # cost of handing tasks to a pool and collecting their futures.
    flow = lib.unordered_flow.Flow("unordered")
    flow.add(*(tasks.noop(name=f"t{i}") for i in range(size)))
    options = {"engine": "parallel", "max_workers": UNORDERED_WORKERS}
    return Prepared(flow, None, options, lib.states.SUCCESS)


def _driver(executor: str) -> Callable[[Library, Tasks, int], Prepared]:
    """No-op tasks on ``executor`` (opsflow's drivers), 2 workers."""

    def build(lib: Library, tasks: Tasks, size: int) -> Prepared:
        if lib.name != "opsflow":
            raise BenchmarkError("the executor drivers are opsflow's")
        from driver_tasks import NoOp

        flow = lib.unordered_flow.Flow(f"on-{executor}")
        flow.add(*(NoOp(name=f"t{i}") for i in range(size)))
        options = {"engine": "parallel", "executor": executor, "max_workers": 2}
        return Prepared(flow, None, options, lib.states.SUCCESS)

    return build


def _persistence(lib: Library, tasks: Tasks, size: int) -> Prepared:
    # A fresh SQLite file per run, its schema made before the timing starts;
    # the engine then writes every state change through to it.
    backends = importlib.import_module(f"{lib.name}.persistence.backends")
    folder = tempfile.mkdtemp(prefix=f"bench-{lib.name}-")
    backend = backends.fetch({"connection": f"sqlite:///{folder}/runs.db"})
    with contextlib.closing(backend.get_connection()) as connection:
        connection.upgrade()
    flow = lib.linear_flow.Flow("persisted")
    flow.add(*(tasks.noop(name=f"t{i}") for i in range(size)))

    def check(engine: Any) -> None:
        # Read back through a new connection: the run must be on disk.
        with contextlib.closing(backend.get_connection()) as connection:
            saved = [
                atom
                for book in connection.get_logbooks()
                for flow_detail in book
                for atom in flow_detail
                if atom.state == lib.states.SUCCESS
            ]
        if len(saved) != size:
            raise BenchmarkError(f"{len(saved)} atoms saved as SUCCESS, not {size}")

    def cleanup() -> None:
        backend.close()
        shutil.rmtree(folder, ignore_errors=True)

    return Prepared(
        flow, None, {"backend": backend}, lib.states.SUCCESS, check, cleanup
    )


#: Workload kind -> builder of one run.
BUILDERS: dict[str, Callable[[Library, Tasks, int], Prepared]] = {
    "linear": _linear,
    "revert": _revert,
    "graph-chain": _graph_chain,
    "parallel": _parallel,
    "persistence": _persistence,
    "unordered": _unordered,
    "thread-driver": _driver("thread"),
    "process-driver": _driver("process"),
}


def _children_cpu() -> float:
    """CPU seconds of this process's children that have exited and been reaped."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_once(lib: Library, prepared: Prepared) -> tuple[float, float, float]:
    """Load and run one engine; return its wall, CPU and workers' CPU seconds.

    The CPU time is this process's (every thread), so it is only a fair
    stand-in for the wall time of serial runs that do not wait on I/O; it is
    recorded because it hardly moves when other programs load the machine.
    The workers' CPU time is that of the child processes the run started
    and reaped (the process driver's workers, joined when the run ends).
    """
    children_started = _children_cpu()
    cpu_started = time.process_time()
    started = time.perf_counter()
    engine = lib.engines.load(prepared.flow, store=prepared.store, **prepared.options)
    try:
        engine.run()
    except RuntimeError as exc:
        if prepared.expected_state != lib.states.REVERTED:
            raise
        if str(exc) != "planned failure":
            raise BenchmarkError(f"unexpected error {exc!r}") from exc
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    children = _children_cpu() - children_started
    state = engine.storage.get_flow_state()
    if state != prepared.expected_state:
        raise BenchmarkError(f"flow ended {state}, expected {prepared.expected_state}")
    if prepared.check is not None:
        prepared.check(engine)
    return elapsed, cpu, children


def peak_rss_bytes() -> int:
    """Peak resident set size of this process.

    ``VmHWM`` belongs to this process's own address space, so it is not
    inflated by the parent that spawned us; ``ru_maxrss`` is the fallback
    on systems without ``/proc``.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports kilobytes, macOS bytes.
    return maxrss if sys.platform == "darwin" else maxrss * 1024


def measure(library: str, kind: str, size: int, repeat: int) -> dict[str, Any]:
    """Run one workload ``repeat`` times and return its figures."""
    lib = import_library(library)
    tasks = Tasks(lib)
    builder = BUILDERS[kind]
    baseline_rss = peak_rss_bytes()
    times: list[float] = []
    cpu_times: list[float] = []
    worker_cpu_times: list[float] = []
    for _ in range(repeat):
        prepared = builder(lib, tasks, size)
        gc.collect()
        try:
            wall, cpu, workers_cpu = run_once(lib, prepared)
            times.append(wall)
            cpu_times.append(cpu)
            worker_cpu_times.append(workers_cpu)
        finally:
            if prepared.cleanup is not None:
                prepared.cleanup()
        del prepared
    best = min(times)
    warm, warm_cpu = times[1:] or times, cpu_times[1:] or cpu_times
    warm_workers_cpu = worker_cpu_times[1:] or worker_cpu_times
    return {
        "library": library,
        "workload": kind,
        "size": size,
        "repeat": repeat,
        "times_s": times,
        "best_s": best,
        "us_per_task": best / size * 1e6,
        "cpu_times_s": cpu_times,
        "cpu_us_per_task": min(cpu_times) / size * 1e6,
        # The first run of this fresh process (imports, first-use caches and
        # all) beside the median of the runs after it.
        "cold_us_per_task": times[0] / size * 1e6,
        "warm_us_per_task": statistics.median(warm) / size * 1e6,
        "cold_cpu_us_per_task": cpu_times[0] / size * 1e6,
        "warm_cpu_us_per_task": statistics.median(warm_cpu) / size * 1e6,
        # Child processes' CPU (the process driver's workers; 0 elsewhere).
        "worker_cpu_times_s": worker_cpu_times,
        "cold_worker_cpu_us_per_task": worker_cpu_times[0] / size * 1e6,
        "warm_worker_cpu_us_per_task": statistics.median(warm_workers_cpu) / size * 1e6,
        "warm_spread_us_per_task": (max(warm) - min(warm)) / size * 1e6,
        "baseline_rss_bytes": baseline_rss,
        "peak_rss_bytes": peak_rss_bytes(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("library", choices=("opsflow", "taskflow"))
    parser.add_argument("workload", choices=sorted(BUILDERS))
    parser.add_argument("size", type=int)
    parser.add_argument("repeat", type=int)
    args = parser.parse_args(argv)
    try:
        result = measure(args.library, args.workload, args.size, args.repeat)
    except ImportError as exc:
        result = {"error": f"not importable: {exc}"}
    except Exception as exc:  # reported to the driver, which prints it
        result = {"error": f"{type(exc).__name__}: {exc}"}
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0 if "error" not in result else 1


if __name__ == "__main__":
    sys.exit(main())
