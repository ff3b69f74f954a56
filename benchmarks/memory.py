"""Where the memory of a linear run goes, per task.

Builds the ``linear`` workload of ``benchmarks/workloads.py`` (no-op tasks in
a linear flow), runs it once, and prints, divided by the number of tasks:

* what :mod:`tracemalloc` saw allocated and still alive, for building the
  flow and for loading and running the engine, by the source line that
  allocated it;
* every object reachable from the flow and the engine that did not exist
  before (so not classes, modules or interned names), by type: how many and
  their ``sys.getsizeof`` (which leaves out the attribute array CPython 3.11
  keeps beside an instance without ``__slots__``: the gap to the traced
  total is mostly that).

It is a breakdown, not a target figure: tracemalloc slows the run and adds
its own memory, so the resident-memory target is judged by
``benchmarks/targets.py`` (peak ``VmHWM`` of a fresh process) only.

    python benchmarks/memory.py                  # 100,000 tasks
    python benchmarks/memory.py --size 1000 --library taskflow
"""

from __future__ import annotations

import argparse
import collections
import gc
import sys
import tracemalloc
import types
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import workloads  # noqa: E402

#: Objects that belong to the program, not to one flow or run.
SHARED_KINDS = (
    type,
    types.ModuleType,
    types.FunctionType,
    types.BuiltinFunctionType,
    types.CodeType,
    types.MethodDescriptorType,
    types.WrapperDescriptorType,
)


def by_line(
    before: tracemalloc.Snapshot, after: tracemalloc.Snapshot, size: int, top: int
) -> tuple[float, list[tuple[float, float, str]]]:
    """Bytes per task alive in ``after`` and not in ``before``, and the top lines."""
    stats = after.compare_to(before, "lineno")
    total = sum(stat.size_diff for stat in stats) / size
    rows = []
    for stat in stats[:top]:
        frame = stat.traceback[0]
        where = Path(frame.filename)
        try:
            where = where.relative_to(HERE.parent)
        except ValueError:
            where = Path(where.name)
        rows.append(
            (stat.size_diff / size, stat.count_diff / size, f"{where}:{frame.lineno}")
        )
    return total, rows


def by_type(roots: list[Any], existing: set[int]) -> dict[str, tuple[int, int]]:
    """``{type name: (count, shallow bytes)}`` of what ``roots`` reach, each
    object once, stopping at objects in ``existing`` and at shared kinds."""
    seen: set[int] = set()
    found: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])
    stack = list(roots)
    while stack:
        obj = stack.pop()
        key = id(obj)
        if key in seen or key in existing or isinstance(obj, SHARED_KINDS):
            continue
        seen.add(key)
        entry = found[type(obj).__qualname__]
        entry[0] += 1
        entry[1] += sys.getsizeof(obj)
        stack.extend(gc.get_referents(obj))
    return {name: (count, size) for name, (count, size) in found.items()}


def existing_objects() -> set[int]:
    """Ids of every tracked object alive now and of what each refers to
    (interned names, small ints and other untracked objects they hold)."""
    alive = gc.get_objects()
    ids = {id(obj) for obj in alive}
    for obj in alive:
        ids.update(id(ref) for ref in gc.get_referents(obj))
    return ids


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--library", choices=("opsflow", "taskflow"), default="opsflow")
    parser.add_argument("--top", type=int, default=15, help="source lines shown")
    args = parser.parse_args(argv)
    size = args.size

    lib = workloads.import_library(args.library)
    tasks = workloads.Tasks(lib)
    # Warm up once, so that first-use caches are not counted per task.
    warm = workloads.BUILDERS["linear"](lib, tasks, 10)
    lib.engines.load(warm.flow).run()
    del warm
    gc.collect()
    existing = existing_objects()

    tracemalloc.start()
    start = tracemalloc.take_snapshot()
    prepared = workloads.BUILDERS["linear"](lib, tasks, size)
    built = tracemalloc.take_snapshot()
    engine = lib.engines.load(prepared.flow)
    engine.run()
    gc.collect()
    ran = tracemalloc.take_snapshot()
    tracemalloc.stop()

    print(f"{args.library}, linear flow of {size:,} no-op tasks, bytes a task")
    grand = 0.0
    for title, before, after in (
        ("flow", start, built),
        ("engine and run", built, ran),
    ):
        total, rows = by_line(before, after, size, args.top)
        grand += total
        print(f"\n{title}: {total:,.0f} B a task (tracemalloc), by source line")
        for per_task, count, where in rows:
            if abs(per_task) >= 1:
                print(f"  {per_task:7.1f} B  {count:5.2f} blocks  {where}")
    print(f"\ntotal traced: {grand:,.0f} B a task")

    found = by_type([prepared.flow, engine], existing)
    shallow = sum(bytes_ for _count, bytes_ in found.values())
    print("\nreachable from the flow and the engine, by type (sys.getsizeof)")
    for name, (count, bytes_) in sorted(found.items(), key=lambda kv: -kv[1][1]):
        if bytes_ / size >= 1:
            print(f"  {bytes_ / size:7.1f} B  {count / size:5.2f} a task  {name}")
    print(f"  {shallow / size:7.1f} B a task in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
