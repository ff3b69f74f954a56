"""TaskFlow 6.5.0's own unit tests, on opsflow and on TaskFlow, side by side.

``tox -e upstream`` runs this script. Each test module of :data:`MODULES` is
run twice from the installed ``taskflow`` distribution, in a fresh process
each time: once as it is (TaskFlow itself) and once with every ``taskflow``
import going to opsflow (``harness.install_for_opsflow``). It prints a
table per module and then checks the outcome:

* a test listed in ``listed.toml`` asserts TaskFlow behaviour that opsflow
  changes on purpose, or reaches into TaskFlow's internals; it is expected
  to fail on opsflow and must still exist and still fail (a listed test
  that passes is a stale entry);
* every other collected test must pass on opsflow, or skip only where it
  skips on TaskFlow too (``--min-pass`` sets the share required, 100 % by
  default).

The worker-based engine and the ZooKeeper/etcd jobboards are outside what
opsflow provides: the test classes of :data:`OUT_OF_SCOPE` are not
collected on either side.

Usage: ``python tests/upstream/run.py [--jobs N] [--only MODULE ...]``.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import faulthandler
import json
import os
import subprocess
import sys
import tempfile
import time
import tomllib
import traceback
import unittest
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

HERE = Path(__file__).resolve().parent
LISTED_FILE = HERE / "listed.toml"
DIFFERENCES = HERE.parent.parent / "docs" / "taskflow-differences.md"

#: The modules of taskflow/tests/unit that test public behaviour.
MODULES = (
    "test_engines",
    "test_retries",
    "test_suspend",
    "test_arguments_passing",
    "test_flow_dependencies",
    "patterns.test_graph_flow",
    "patterns.test_linear_flow",
    "patterns.test_unordered_flow",
    "test_failure",
    "test_storage",
    "test_states",
    "test_check_transition",
    "test_notifier",
    "test_task",
    "test_functor_task",
    "test_mapfunctor_task",
    "test_reducefunctor_task",
    "test_engine_helpers",
    "test_listeners",
    "test_deciders",
    "test_progress",
    "test_exceptions",
    "persistence.test_memory_persistence",
    "persistence.test_sql_persistence",
    "persistence.test_dir_persistence",
)

#: Test classes for parts of TaskFlow opsflow does not provide.
OUT_OF_SCOPE = {
    "taskflow.tests.unit.test_engines.WorkerBasedEngineTest": "worker-based engine",
    "taskflow.tests.unit.test_listeners.TestClaimListener": "ZooKeeper jobboard",
}

#: Test classes that need a database server; they may not skip in CI.
SERVICE_CLASSES = (
    "taskflow.tests.unit.persistence.test_sql_persistence.MysqlPersistenceTest",
    "taskflow.tests.unit.persistence.test_sql_persistence.PostgresPersistenceTest",
)

#: A test that runs longer than this is stopped and its module reported.
TEST_TIMEOUT = 120.0
LIBRARIES = ("opsflow", "taskflow")
PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"


# --------------------------------------------------------------------------
# Child side: one module on one library, one JSON line per test


_ExcInfo = tuple[type[BaseException], BaseException, TracebackType]


class _Recorder(unittest.TestResult):
    """Writes one JSON line per finished test and arms a hang watchdog."""

    def __init__(self) -> None:
        super().__init__()
        self.started = 0.0

    def startTest(self, test: unittest.TestCase) -> None:  # noqa: N802
        super().startTest(test)
        self.started = time.monotonic()
        print(json.dumps({"started": test.id()}), flush=True)
        faulthandler.dump_traceback_later(TEST_TIMEOUT, exit=True)

    def _record(self, test: unittest.TestCase, outcome: str, detail: str = "") -> None:
        faulthandler.cancel_dump_traceback_later()
        seconds = round(time.monotonic() - self.started, 3)
        line = {"id": test.id(), "outcome": outcome, "seconds": seconds}
        if detail:
            line["detail"] = detail[-4000:]
        print(json.dumps(line), flush=True)

    def addSuccess(self, test: unittest.TestCase) -> None:  # noqa: N802
        self._record(test, PASSED)

    def addFailure(self, test: unittest.TestCase, err: _ExcInfo) -> None:  # noqa: N802
        self._record(test, FAILED, _format(err))

    def addError(self, test: unittest.TestCase, err: _ExcInfo) -> None:  # noqa: N802
        self._record(test, FAILED, _format(err))

    def addSkip(self, test: unittest.TestCase, reason: str) -> None:  # noqa: N802
        self._record(test, SKIPPED, reason)

    def addExpectedFailure(  # noqa: N802
        self, test: unittest.TestCase, err: _ExcInfo
    ) -> None:
        self._record(test, PASSED)

    def addUnexpectedSuccess(self, test: unittest.TestCase) -> None:  # noqa: N802
        self._record(test, FAILED, "unexpected success")


def _format(err: _ExcInfo) -> str:
    return "".join(traceback.format_exception(*err))


def _flatten(
    suite: unittest.TestSuite | unittest.TestCase,
) -> Iterator[unittest.TestCase]:
    if isinstance(suite, unittest.TestSuite):
        for item in suite:
            yield from _flatten(item)
    else:
        yield suite


def _in_scope(test: unittest.TestCase) -> bool:
    return not any(test.id().startswith(prefix + ".") for prefix in OUT_OF_SCOPE)


def run_child(library: str, module: str) -> int:
    """Run one module's tests, printing one JSON line per test on stdout."""
    name = f"taskflow.tests.unit.{module}"
    try:
        if library == "opsflow":
            sys.path.insert(0, str(HERE))
            import harness

            harness.install_for_opsflow()
        suite = unittest.defaultTestLoader.loadTestsFromName(name)
    except Exception:
        failed = {"id": name, "outcome": FAILED, "detail": traceback.format_exc()}
        print(json.dumps(failed))
        return 0
    tests = unittest.TestSuite(t for t in _flatten(suite) if _in_scope(t))
    tests.run(_Recorder())
    return 0


# --------------------------------------------------------------------------
# Parent side: every module on both libraries, then the verdict


@dataclasses.dataclass
class ModuleRun:
    library: str
    module: str
    outcomes: dict[str, str] = dataclasses.field(default_factory=dict)
    details: dict[str, str] = dataclasses.field(default_factory=dict)
    crashed: str = ""
    seconds: float = 0.0


def _spawn(library: str, module: str) -> ModuleRun:
    run = ModuleRun(library, module)
    started = time.monotonic()
    env = dict(os.environ, PYTHONHASHSEED="0")
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run(
            [sys.executable, __file__, "--child", library, module],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp,
            timeout=30 * 60,
        )
    run.seconds = time.monotonic() - started
    last_started = None
    for line in proc.stdout.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if "started" in record:
            last_started = record["started"]
            continue
        run.outcomes[record["id"]] = record["outcome"]
        if record.get("detail"):
            run.details[record["id"]] = record["detail"]
        if record["id"] == last_started:
            last_started = None
    if proc.returncode != 0:
        run.crashed = f"exit {proc.returncode}: {proc.stderr[-3000:]}"
        if last_started:
            run.outcomes[last_started] = FAILED
            run.details[last_started] = (
                "hung or crashed the process\n" + proc.stderr[-3000:]
            )
    return run


def _load_listed() -> dict[str, dict[str, str]]:
    """``{test id: its group}`` of ``listed.toml``."""
    with LISTED_FILE.open("rb") as fh:
        document = tomllib.load(fh)
    listed: dict[str, dict[str, str]] = {}
    for group in document.get("group", []):
        if group["kind"] not in ("improvement", "internal"):
            raise SystemExit(f"listed.toml: unknown kind {group['kind']!r}")
        for test_id in group["tests"]:
            if test_id in listed:
                raise SystemExit(f"listed.toml: {test_id} is listed twice")
            listed[test_id] = group
    headings = {
        line.lstrip("#").strip()
        for line in DIFFERENCES.read_text().splitlines()
        if line.startswith("## ")
    }
    for group in document.get("group", []):
        if group["kind"] == "improvement" and group.get("section") not in headings:
            raise SystemExit(
                f"listed.toml: section {group.get('section')!r} is not a heading "
                f"of {DIFFERENCES.name}"
            )
    return listed


def _short(module: str) -> str:
    return module.rsplit(".", 1)[-1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", nargs=2, metavar=("LIBRARY", "MODULE"))
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--only", nargs="*", default=None, metavar="MODULE")
    parser.add_argument("--min-pass", type=float, default=100.0)
    parser.add_argument("--json", type=Path, help="write every outcome here")
    parser.add_argument("--show-failures", action="store_true")
    parser.add_argument(
        "--markdown", action="store_true", help="print the table in Markdown"
    )
    parser.add_argument(
        "--libraries",
        nargs="+",
        choices=LIBRARIES,
        default=list(LIBRARIES),
        help="run on these only (the table leaves the other side empty)",
    )
    args = parser.parse_args(argv)
    if args.child:
        return run_child(*args.child)

    modules = [
        m for m in MODULES if not args.only or _short(m) in args.only or m in args.only
    ]
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        jobs = [pool.submit(_spawn, lib, m) for m in modules for lib in args.libraries]
        runs = [job.result() for job in jobs]
    for lib in set(LIBRARIES) - set(args.libraries):
        runs.extend(ModuleRun(lib, m) for m in modules)
    wall = time.monotonic() - started
    by_key = {(r.library, r.module): r for r in runs}
    listed = _load_listed()
    return report(modules, by_key, listed, args, wall)


@dataclasses.dataclass
class _Row:
    """What one module (or all) gave on each library."""

    name: str
    opsflow: Counter[str] = dataclasses.field(default_factory=Counter)
    taskflow: Counter[str] = dataclasses.field(default_factory=Counter)

    def line(self) -> str:
        ops, tf = self.opsflow, self.taskflow
        mine = f"{ops[PASSED]}/{ops[FAILED]}/{ops[SKIPPED]}/{ops['listed']}"
        theirs = f"{tf[PASSED]}/{tf[FAILED]}/{tf[SKIPPED]}"
        return f"{self.name:36} {mine:>24} {theirs:>24}"

    def markdown(self) -> str:
        ops, tf = self.opsflow, self.taskflow
        cells = [ops[PASSED], ops[FAILED], ops[SKIPPED], ops["listed"]]
        cells += [tf[PASSED], tf[FAILED], tf[SKIPPED]]
        return f"| {self.name} | " + " | ".join(str(c) for c in cells) + " |"


HEADER = (
    f"{'module':36} {'opsflow pass/fail/skip/listed':>24}"
    f" {'TaskFlow pass/fail/skip':>24}"
)
MARKDOWN_HEADER = (
    "| module | opsflow pass | fail | skip | listed | TaskFlow pass | fail | skip |\n"
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
)


def report(
    modules: list[str],
    runs: dict[tuple[str, str], ModuleRun],
    listed: dict[str, dict[str, str]],
    args: argparse.Namespace,
    wall: float,
) -> int:
    """Print the table and the problems; 0 when opsflow passes."""
    rows: list[_Row] = []
    total = _Row("total")
    listed_failing: Counter[str] = Counter()
    unexpected: list[tuple[str, str]] = []
    stale: list[str] = []
    seen: set[str] = set()
    for module in modules:
        ops, tf = runs[("opsflow", module)], runs[("taskflow", module)]
        row = _Row(module, taskflow=Counter(tf.outcomes.values()))
        for test_id, outcome in ops.outcomes.items():
            seen.add(test_id)
            entry = listed.get(test_id)
            if entry is not None:
                if outcome != FAILED:
                    stale.append(f"{test_id}: listed ({entry['kind']}) but {outcome}")
                else:
                    row.opsflow["listed"] += 1
                    listed_failing[entry["kind"]] += 1
                continue
            row.opsflow[outcome] += 1
            detail = ops.details.get(test_id, "")
            if outcome == FAILED:
                unexpected.append((test_id, detail))
            elif outcome == SKIPPED and tf.outcomes.get(test_id) == PASSED:
                unexpected.append(
                    (test_id, f"skipped here, passed on TaskFlow: {detail}")
                )
        rows.append(row)
        total.opsflow.update(row.opsflow)
        total.taskflow.update(row.taskflow)
        if args.libraries == list(LIBRARIES) and tf.outcomes and row.taskflow[FAILED]:
            stale.append(
                f"TaskFlow itself fails {row.taskflow[FAILED]} test(s) of {module} "
                "here: the environment lacks something its tests need"
            )
        for run in (ops, tf):
            if run.crashed:
                stale.append(f"{run.library} {module}: {run.crashed.splitlines()[0]}")
    if args.markdown:
        print(MARKDOWN_HEADER)
        print("\n".join(row.markdown() for row in [*rows, total]))
    else:
        print(HEADER, "-" * len(HEADER), sep="\n")
        print("\n".join(row.line() for row in rows))
        print("-" * len(HEADER), total.line(), sep="\n")

    ran = tuple(f"taskflow.tests.unit.{module}." for module in modules)
    stale += [
        f"{test_id}: listed but not collected"
        for test_id in sorted(set(listed) - seen)
        if test_id.startswith(ran)
    ]
    passed, failed = total.opsflow[PASSED], total.opsflow[FAILED]
    share = 100.0 * passed / (passed + failed) if passed + failed else 0.0
    kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(listed_failing.items()))
    print(
        f"\nopsflow passes {passed} of {passed + failed} collected public tests that"
        f" are not listed ({share:.2f} %); listed, failing as expected: {kinds or 0};"
        f" {wall:.0f} s wall"
    )
    if args.json:
        outcomes = {f"{lib}:{mod}": run.outcomes for (lib, mod), run in runs.items()}
        args.json.write_text(json.dumps(outcomes, indent=1))

    verdict = 0
    if os.environ.get("OPSFLOW_REQUIRE_SERVICES") == "1":
        for module in modules:
            for test_id, outcome in runs[("opsflow", module)].outcomes.items():
                if outcome == SKIPPED and test_id.startswith(SERVICE_CLASSES):
                    print(f"REQUIRED SERVICE MISSING: {test_id} skipped")
                    verdict = 1
    if stale:
        print("\nThe list or a run is wrong:", *(f"  {s}" for s in stale), sep="\n")
        verdict = 1
    if unexpected:
        print(f"\n{len(unexpected)} tests fail on opsflow and are not listed:")
        for test_id, detail in sorted(unexpected):
            print("  " + test_id)
            if args.show_failures and detail:
                print("      " + "\n      ".join(detail.strip().splitlines()[-12:]))
        if share < args.min_pass:
            verdict = 1
    return verdict


if __name__ == "__main__":
    sys.exit(main())
