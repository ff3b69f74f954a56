"""The engine and start-up targets, measured side by side with TaskFlow.

One invocation measures every row of the target table of
docs/performance.md and prints it: the target, what was measured, whether
it is met and the ratio to TaskFlow 6.5.0 (installed next to opsflow, used
only through its public API) where TaskFlow has the same thing.

* Engine rows run ``benchmarks/workloads.py`` in a fresh interpreter per
  (library, workload): the first run of that process is the **cold** figure,
  the median of the runs after it the **warm** one. Serial rows are judged
  by the process's CPU time per task (the machine is shared; CPU time hardly
  moves with the load), threaded rows by CPU time too (every thread's), and
  the wall figures are printed beside them.
* Command-line rows are **whole processes** (``opsflow-run`` started,
  run, exited), timed from outside: the first start (cold caches) beside
  the median and spread of the starts after it, and their median CPU time.
  They start with opsflow's bytecode compiled, as an installed opsflow has
  it (an editable checkout under ``PYTHONDONTWRITEBYTECODE`` would compile
  its sources at every start).
* The machine's load average is printed before and after.

    python benchmarks/targets.py              # every row (a few minutes)
    python benchmarks/targets.py --quick      # small sizes, no TaskFlow
    python benchmarks/targets.py --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from engine import run_worker  # noqa: E402

KB = 1024


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


@dataclass
class Row:
    """One line of the table."""

    title: str
    target: str
    measured: str
    met: bool | None
    ratio: str = "n/a"
    raw: dict[str, Any] = field(default_factory=dict)


# -- engine rows ---------------------------------------------------------------
def engine_figures(
    kind: str, size: int, repeat: int, taskflow_repeat: int | None
) -> dict[str, dict[str, Any]]:
    """``{library: figures}`` of one workload (TaskFlow when asked)."""
    figures = {"opsflow": run_worker("opsflow", kind, size, repeat)}
    if taskflow_repeat:
        figures["taskflow"] = run_worker("taskflow", kind, size, taskflow_repeat)
    for library, result in figures.items():
        if "error" in result:
            print(f"  {kind} on {library}: {result['error']}", file=sys.stderr)
    return figures


def _ratio(figures: dict[str, dict[str, Any]], key: str) -> str:
    ops = figures["opsflow"].get(key)
    tf = figures.get("taskflow", {}).get(key)
    if not ops or not tf:
        return "n/a"
    return f"{tf / ops:,.0f}x faster"


def per_task_row(
    title: str, figures: dict[str, dict[str, Any]], limit: float, clock: str = "cpu"
) -> Row:
    """Judged by CPU time per task, or by wall time (``clock="wall"``) for a
    run that waits on I/O; the other clock is printed beside it."""
    ops = figures["opsflow"]
    judged, other = ("cpu_", "") if clock == "cpu" else ("", "cpu_")
    warm = ops.get(f"warm_{judged}us_per_task")
    if warm is None:
        return Row(title, f"<= {limit:g} us a task", "error", False, raw=figures)
    other_name = "wall" if clock == "cpu" else "CPU"
    measured = (
        f"{warm:.1f} us {clock.replace('cpu', 'CPU')} warm "
        f"({other_name} {ops[f'warm_{other}us_per_task']:.1f}); "
        f"cold {ops[f'cold_{judged}us_per_task']:.1f}"
    )
    return Row(
        title,
        f"<= {limit:g} us a task",
        measured,
        warm <= limit,
        _ratio(figures, f"warm_{judged}us_per_task"),
        figures,
    )


def engine_rows(quick: bool, with_taskflow: bool) -> list[Row]:
    n = 100 if quick else 1000
    huge = 10_000 if quick else 100_000
    tf = 1 if with_taskflow else None  # TaskFlow is quadratic: one run, cold
    rows = []

    linear = engine_figures("linear", n, 11, tf)
    rows.append(per_task_row(f"linear {n:,}, serial, warm", linear, 12))
    ops = linear["opsflow"]
    if "error" not in ops:
        cold_x = ops["cold_cpu_us_per_task"] / ops["warm_cpu_us_per_task"]
        rows.append(
            Row(
                f"linear {n:,}, first run in a fresh process (cold)",
                "<= 1.3x warm",
                f"{cold_x:.2f}x ({ops['cold_cpu_us_per_task']:.1f} us CPU cold, "
                f"wall {ops['cold_us_per_task']:.1f})",
                cold_x <= 1.3,
                _ratio(linear, "cold_cpu_us_per_task"),
            )
        )

    revert = engine_figures("revert", n, 11, tf)
    rows.append(per_task_row(f"revert {n:,} (last fails)", revert, 22))
    chain = engine_figures("graph-chain", n, 11, tf)
    rows.append(per_task_row(f"graph chain {n:,} (provides/requires)", chain, 15))
    unordered = engine_figures("unordered", n, 11, tf)
    rows.append(per_task_row(f"unordered {n:,}, 4 threads", unordered, 40))

    big = engine_figures("linear", huge, 2, None)["opsflow"]
    if "error" not in big and "error" not in ops:
        flat = big["warm_cpu_us_per_task"] / ops["warm_cpu_us_per_task"]
        rss = (big["peak_rss_bytes"] - big["baseline_rss_bytes"]) / huge / KB
        rows.append(
            Row(
                f"linear {huge:,}",
                f"within 1.3x of {n:,} per task; <= 1.5 KB RSS a task",
                f"{flat:.2f}x ({big['warm_cpu_us_per_task']:.1f} us CPU); "
                f"{rss:.2f} KB a task (flow and run)",
                flat <= 1.3 and rss <= 1.5,
                "TaskFlow not measurable (quadratic)",
                {"opsflow": big},
            )
        )

    size = 100 if quick else 300
    persisted = engine_figures("persistence", size, 8, tf)
    title = f"linear {size:,}, SQLite persisted"
    rows.append(per_task_row(title, persisted, 150, clock="wall"))

    thread = run_worker("opsflow", "thread-driver", size, 5)
    process = run_worker("opsflow", "process-driver", size, 5)
    if "error" not in thread and "error" not in process:
        rows.append(process_over_thread_row(thread, process, size))
    return rows


def process_over_thread_row(
    thread: dict[str, Any], process: dict[str, Any], size: int
) -> Row:
    """Judged by wall time, the driver's cost being where its threads and
    workers wait on each other; the CPU it takes is printed beside it: the
    engine process's own and its workers' (children reaped after each run),
    less the thread driver's, warm and cold."""

    def cpu(figures: dict[str, Any], run: str) -> float:
        return float(
            figures[f"{run}_cpu_us_per_task"]
            + figures.get(f"{run}_worker_cpu_us_per_task", 0.0)
        )

    extra = process["warm_us_per_task"] - thread["warm_us_per_task"]
    return Row(
        "process executor overhead over thread",
        "<= 120 us a task",
        f"{extra:.0f} us wall a task warm (process "
        f"{process['warm_us_per_task']:.0f}, thread "
        f"{thread['warm_us_per_task']:.0f}); cold process "
        f"{process['cold_us_per_task']:.0f}, thread "
        f"{thread['cold_us_per_task']:.0f}; CPU over thread "
        f"{cpu(process, 'warm') - cpu(thread, 'warm'):.0f} warm (engine "
        f"{process['warm_cpu_us_per_task']:.0f} + workers "
        f"{process.get('warm_worker_cpu_us_per_task', 0.0):.0f}), cold "
        f"{cpu(process, 'cold') - cpu(thread, 'cold'):.0f}; {size} no-op tasks, "
        "2 workers",
        extra <= 120,
        "TaskFlow 6.5 has no process executor",
        {"thread": thread, "process": process},
    )


# -- whole-process rows ----------------------------------------------------------
TEN_STEPS = '''
from opsflow import task
from opsflow.patterns import linear_flow, unordered_flow


class Step(task.Task):
    def execute(self):
        return None


def ten_steps(parallel=False):
    """Ten no-op steps, in order (or unordered, for the parallel engine)."""
    pattern = unordered_flow if parallel else linear_flow
    return pattern.Flow("bench-ten").add(*(Step(f"step{i}") for i in range(10)))
'''


def _bench_flow_distribution(folder: Path) -> tuple[dict[str, str], str]:
    """A throw-away distribution registering the ``bench-ten`` flow (found
    through ``PYTHONPATH``): the environment and configuration file to use."""
    (folder / "bench_ten_flow.py").write_text(textwrap.dedent(TEN_STEPS))
    dist = folder / "bench_ten_flow-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: bench-ten-flow\n")
    (dist / "entry_points.txt").write_text(
        "[opsflow.flows]\nbench-ten = bench_ten_flow:ten_steps\n"
    )
    conf = folder / "opsflow.conf"
    conf.write_text(f"[DEFAULT]\nstate_path = {folder / 'state'}\n")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(folder), env.get("PYTHONPATH")) if p
    )
    _bytecode_as_installed(env, folder)
    return env, str(conf)


def _bytecode_as_installed(env: dict[str, str], *more: Path) -> None:
    """Start the commands with compiled bytecode at hand, as an installed
    opsflow has it (pip compiles what it installs).

    An editable checkout has none until Python writes it, and never with
    ``PYTHONDONTWRITEBYTECODE`` set: every start would compile opsflow's
    sources again (a fifth of a 10-step run). They are compiled before the
    first timed start, into the usual ``__pycache__`` directories (ignored
    by git); the rest of the environment has its bytecode already.
    """
    import opsflow

    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.pop("PYTHONPYCACHEPREFIX", None)
    sources = [str(Path(opsflow.__file__).parent), *map(str, more)]
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", *sources],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def whole_process(command: list[str], env: dict[str, str], runs: int) -> dict[str, Any]:
    """Wall seconds of ``command`` run ``runs`` times: first, median, spread;
    and the CPU seconds (user and system) of the starts after the first."""
    times, cpu = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = subprocess.run(command, env=env, capture_output=True, check=False)
        times.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if done.returncode != 0:
            tail = done.stderr.decode(errors="replace").strip().splitlines()[-2:]
            return {"error": f"exit {done.returncode}: {' | '.join(tail)}"}
    rest = times[1:]
    return {
        "first_s": times[0],
        "median_s": statistics.median(rest),
        "min_s": min(rest),
        "max_s": max(rest),
        "times_s": times,
        "cpu_median_s": statistics.median(cpu[1:]),
        "cpu_s": cpu,
    }


def _timing(figures: dict[str, Any]) -> str:
    return (
        f"{figures['median_s']:.3f} s median ({figures['min_s']:.3f}-"
        f"{figures['max_s']:.3f}); first {figures['first_s']:.3f}; "
        f"CPU {figures['cpu_median_s']:.3f} s median"
    )


def cli_rows(runs: int, with_taskflow: bool) -> list[Row]:
    bin_dir = Path(sys.executable).parent
    opsflow_run = str(bin_dir / "opsflow-run")
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as tmp:
        env, conf_file = _bench_flow_distribution(Path(tmp))
        conf = ["--config-file", conf_file]
        listing = whole_process([opsflow_run, "--list", *conf], env, runs)
        title = "`opsflow-run --list`, every extra installed"
        rows.append(_cli_row(title, listing, 0.3))
        serial = whole_process([opsflow_run, "bench-ten", *conf], env, runs)
        parallel = whole_process(
            [opsflow_run, "bench-ten", *conf, "--engine", "parallel",
             "--store", "parallel=true"],
            env,
            runs,
        )  # fmt: skip
        ratio = "n/a"
        if with_taskflow:
            script = (
                "import sys\nsys.path.insert(0, {folder!r})\n"
                "import {lib}.engines as e\nfrom {lib} import task\n"
                "from {lib}.patterns import linear_flow\n"
                "class Step(task.Task):\n    def execute(self):\n        return None\n"
                "e.load(linear_flow.Flow('ten').add(*(Step('s%d' % i)"
                " for i in range(10)))).run()\n"
            )
            lib = {
                name: whole_process(
                    [sys.executable, "-W", "ignore", "-c",
                     script.format(folder=tmp, lib=name)],
                    env,
                    runs,
                )
                for name in ("opsflow", "taskflow")
            }  # fmt: skip
            if "error" not in lib["opsflow"] and "error" not in lib["taskflow"]:
                ops_s, tf_s = lib["opsflow"]["median_s"], lib["taskflow"]["median_s"]
                ratio = (
                    f"as a library script: {tf_s / ops_s:.1f}x faster "
                    f"({ops_s:.3f} s vs TaskFlow {tf_s:.3f} s)"
                )
        row = _cli_row("`opsflow-run` of a 10-step flow, serial", serial, 0.45)
        row.ratio = ratio
        rows.append(row)
        par = _cli_row("`opsflow-run` of a 10-step flow, parallel", parallel, 0.45)
        if "error" not in serial and "error" not in parallel:
            x = parallel["median_s"] / serial["median_s"]
            par.target = "<= 0.45 s; within 1.2x of serial"
            par.measured += f"; {x:.2f}x serial"
            par.met = bool(par.met) and x <= 1.2
        rows.append(par)
    return rows


def _cli_row(title: str, figures: dict[str, Any], limit: float) -> Row:
    if "error" in figures:
        return Row(title, f"<= {limit:g} s whole process", figures["error"], False)
    return Row(
        title,
        f"<= {limit:g} s whole process",
        _timing(figures),
        figures["median_s"] <= limit,
        "TaskFlow has no command line",
        figures,
    )


# -- output ----------------------------------------------------------------------
def render(rows: list[Row]) -> str:
    lines = [
        "| workload | target | measured | met | vs TaskFlow 6.5.0 |",
        "| --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        met = "n/a" if row.met is None else ("yes" if row.met else "no")
        lines.append(
            f"| {row.title} | {row.target} | {row.measured} | {met} | {row.ratio} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes")
    parser.add_argument("--no-taskflow", action="store_true")
    parser.add_argument("--runs", type=int, default=11, help="starts per CLI row")
    parser.add_argument("--only", choices=("engine", "cli"), default=None)
    parser.add_argument("--json", metavar="FILE", help="also write the raw figures")
    args = parser.parse_args(argv)
    with_taskflow = not (args.no_taskflow or args.quick)
    before = load_average()
    started = time.perf_counter()
    rows: list[Row] = []
    steps: list[Callable[[], list[Row]]] = []
    if args.only in (None, "engine"):
        steps.append(lambda: engine_rows(args.quick, with_taskflow))
    if args.only in (None, "cli"):
        steps.append(lambda: cli_rows(3 if args.quick else args.runs, with_taskflow))
    for step in steps:
        rows.extend(step())
    print(
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs; load average "
        f"{before} before, {load_average()} after; "
        f"{time.perf_counter() - started:.0f} s\n"
    )
    print(render(rows))
    if args.json:
        Path(args.json).write_text(
            json.dumps([row.__dict__ for row in rows], indent=2, default=str) + "\n"
        )
    return 0 if all(row.met is not False for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
