"""Instructions a task, counted by valgrind's callgrind: a figure the
machine's pace and load do not move.

Wall and CPU times on a shared machine drift by up to half within an hour
(see docs/performance.md); the number of instructions a warm run executes
does not. This script runs one workload of ``benchmarks/workloads.py`` in a
fresh interpreter under ``valgrind --tool=callgrind`` and counts only what
runs inside the measured stage: the stage is called through
``functools.reduce``, and callgrind collects only while that C function is
on the stack (``--toggle-collect``). Two warm-up runs come first, so the
count is the warm one.

Usage::

    python benchmarks/instructions.py                    # linear, revert, graph-chain
    python benchmarks/instructions.py --stages graph-chain
    python benchmarks/instructions.py --size 1000 --runs 2 linear

``--stages`` counts the engine's stages apart (``compile()``, ``prepare()``
and ``run()`` on a loaded engine) beside the whole of one timed run
(``engines.load`` and ``run``, as ``workloads.py`` times it). Needs valgrind
(``apt-get install valgrind``) and a Python whose ``_functools`` keeps its
symbols (CPython builds do unless stripped).
"""

from __future__ import annotations

import argparse
import functools
import gc
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

STAGES = ("compile", "prepare", "run")
DEFAULT_WORKLOADS = ("linear", "revert", "graph-chain")
#: The C function whose time on the stack is counted.
_TOGGLE = "functools_reduce"


def _counted(function: Callable[[], Any]) -> None:
    """Call ``function`` where callgrind counts (inside functools.reduce)."""
    functools.reduce(lambda _acc, _item: function(), [None], None)


def inner(workload: str, size: int, runs: int, stage: str) -> None:
    """Under valgrind: warm up, then run the counted stage ``runs`` times."""
    sys.path.insert(0, str(Path(__file__).parent))
    import workloads

    lib = workloads.import_library("opsflow")
    tasks = workloads.Tasks(lib)
    build = workloads.BUILDERS[workload]
    for _ in range(2):
        workloads.run_once(lib, build(lib, tasks, size))
    prepared = [build(lib, tasks, size) for _ in range(runs)]
    gc.collect()
    for each in prepared:
        if stage == "whole":
            _counted(lambda each=each: workloads.run_once(lib, each))
            continue
        engine = lib.engines.load(each.flow, store=each.store, **each.options)
        for name in STAGES:
            step = getattr(engine, name)
            if name == "run":
                step = functools.partial(_run_expecting, lib, engine, each)
            if name == stage:
                _counted(step)
            else:
                step()


def _run_expecting(lib: Any, engine: Any, prepared: Any) -> None:
    try:
        engine.run()
    except RuntimeError:
        if prepared.expected_state != lib.states.REVERTED:  # failing on purpose
            raise


def count(workload: str, size: int, runs: int, stage: str) -> int:
    """Instructions a task of ``workload`` in ``stage`` (``whole`` or a stage)."""
    command = [
        "valgrind",
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        "--collect-atstart=no",
        f"--toggle-collect={_TOGGLE}",
        sys.executable,
        __file__,
        "--inner",
        stage,
        "--size",
        str(size),
        "--runs",
        str(runs),
        workload,
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    found = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or found is None:
        tail = " | ".join(done.stderr.strip().splitlines()[-3:])
        raise SystemExit(f"instructions: {workload} {stage} failed: {tail}")
    total = int(found.group(1))
    if total == 0:
        raise SystemExit(
            f"instructions: nothing counted: this Python's {_TOGGLE} has no symbol"
        )
    return total // (size * runs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workloads", nargs="*", default=list(DEFAULT_WORKLOADS))
    parser.add_argument("--size", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=2, help="counted runs")
    parser.add_argument("--stages", action="store_true", help="each stage apart")
    parser.add_argument("--inner", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.inner:
        inner(args.workloads[0], args.size, args.runs, args.inner)
        return 0
    if shutil.which("valgrind") is None:
        print("instructions: valgrind is not installed", file=sys.stderr)
        return 2
    print("| workload | whole run | " + " | ".join(STAGES) + " |" if args.stages
          else "| workload | instructions a task |")  # fmt: skip
    print("| --- " * (5 if args.stages else 2) + "|")
    for workload in args.workloads:
        cells = [f"{count(workload, args.size, args.runs, 'whole'):,}"]
        if args.stages:
            cells += [f"{count(workload, args.size, args.runs, s):,}" for s in STAGES]
        print(f"| {workload} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
