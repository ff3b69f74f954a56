"""Run a flow once per step with a failure injected after it; compare snapshots.

How a failure is injected "right after step S": for that run, the task S is
given a subclass of its own class whose ``execute`` runs the real one, keeps
its result, then raises :class:`InjectedFailure`. The engine then reverts
the flow as it would if the next step had failed; the revert of S receives
the result its ``execute`` returned (not the failure), exactly as a step
that succeeded does. Nothing in the flow has to know about the kit.

The subclasses are made while the kit runs, so the flow runs on an executor
in the kit's process (``synchronous``, the default, or ``thread``); the
process executor could not pickle them. Running each flow for real through
``opsflow-run --executor process`` is the job of functional tests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from opsflow import engines, states
from opsflow.flow import Flow
from opsflow.task import Task

__all__ = [
    "InjectedFailure",
    "RevertCheckFailed",
    "RevertReport",
    "StepOutcome",
    "check_reverts",
    "describe_difference",
]

_RESULT = "_opsflow_testing_result"


class InjectedFailure(RuntimeError):
    """The failure :func:`check_reverts` raises right after a step."""


class RevertCheckFailed(AssertionError):
    """A reverted run left the system changed, or did not revert cleanly."""


@dataclass
class StepOutcome:
    """What happened when the failure came right after ``step``."""

    step: str
    state: str
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class RevertReport:
    """One :class:`StepOutcome` per step, in the order the steps ran."""

    flow: str
    outcomes: list[StepOutcome]

    @property
    def ok(self) -> bool:
        return all(outcome.ok for outcome in self.outcomes)

    def summary(self) -> str:
        """Every problem, one block per step; empty when all is well."""
        lines = []
        for outcome in self.outcomes:
            for problem in outcome.problems:
                lines.append(f"failure after step {outcome.step}: {problem}")
        return "\n".join(lines)


def check_reverts(
    make_flow: Callable[[], Flow],
    snapshot: Callable[[], Any],
    *,
    store: Mapping[str, Any] | None = None,
    steps: Iterable[str] | None = None,
    revert_twice: bool = False,
    cleanup: Callable[[], None] | None = None,
    raise_on_problems: bool = True,
    engine: str = "serial",
    **engine_options: Any,
) -> RevertReport:
    """Check that a failure after any step leaves the system as it was.

    :param make_flow: builds a new flow (the kit runs one per step).
    :param snapshot: returns a comparable picture of what the flow touches
        (files, processes, ports, rows...); taken once before the first run
        and once after each run.
    :param store: the store every run gets, as ``engines.load(store=...)``.
    :param steps: the steps to inject a failure after (default: every task,
        in the order the flow runs them).
    :param revert_twice: run every revert twice in a row: a revert that is
        not idempotent fails the second time or changes the snapshot.
    :param cleanup: called after a run that left something behind, so the
        next runs start clean (the problem is still reported).
    :param raise_on_problems: raise :class:`RevertCheckFailed` listing every
        problem (default) instead of only returning the report.
    :returns: the report of every run.
    """
    probe = engines.load(make_flow(), store=dict(store or {}), engine=engine)
    probe.compile()
    compilation = probe.compilation
    tasks = [
        name
        for name in compilation.order
        if isinstance(compilation.nodes[name].atom, Task)
    ]
    chosen = list(tasks if steps is None else steps)
    unknown = [name for name in chosen if name not in tasks]
    if unknown:
        raise ValueError(
            f"not tasks of the flow: {', '.join(unknown)}; its tasks: "
            + ", ".join(tasks)
        )
    flow_name = make_flow().name
    before = snapshot()
    outcomes = []
    for step in chosen:
        outcome = _run_failing_after(
            make_flow, step, store, revert_twice, engine, engine_options
        )
        after = snapshot()
        if after != before:
            outcome.problems.append(
                "the system differs from before the run: "
                + describe_difference(before, after)
            )
            if cleanup is not None:
                cleanup()
        outcomes.append(outcome)
    report = RevertReport(flow_name, outcomes)
    if raise_on_problems and not report.ok:
        raise RevertCheckFailed(f"flow {flow_name}:\n{report.summary()}")
    return report


def _run_failing_after(
    make_flow: Callable[[], Flow],
    step: str,
    store: Mapping[str, Any] | None,
    revert_twice: bool,
    engine_kind: str,
    engine_options: Mapping[str, Any],
) -> StepOutcome:
    flow = make_flow()
    engine = engines.load(
        flow, store=dict(store or {}), engine=engine_kind, **engine_options
    )
    engine.compile()
    for name, node in engine.compilation.nodes.items():
        atom = node.atom
        if isinstance(atom, Task) and (name == step or revert_twice):
            atom.__class__ = _instrumented(type(atom), name == step, revert_twice)
    try:
        engine.run()
    except Exception:  # the outcome is read from the engine's storage below
        pass
    storage = engine.storage
    state = str(storage.get_flow_state())
    outcome = StepOutcome(step, state)
    failures = storage.get_execute_failures()
    injected = failures.get(step)
    if injected is None or not injected.check(InjectedFailure):
        others = ", ".join(
            f"{name} ({failure.exception_str})" for name, failure in failures.items()
        )
        outcome.problems.append(
            f"the injected failure did not happen (state {state}); "
            + (f"failed instead: {others}" if others else "the step never ran")
        )
    for name, failure in storage.get_execute_failures().items():
        if name != step:
            outcome.problems.append(f"step {name} failed too: {failure.exception_str}")
    for name, failure in storage.get_revert_failures().items():
        outcome.problems.append(f"the revert of {name} failed: {failure.exception_str}")
    if state != states.REVERTED and not outcome.problems:
        outcome.problems.append(f"the flow ended {state}, not REVERTED")
    return outcome


def _instrumented(base: type[Task], fail_after: bool, revert_twice: bool) -> type:
    """A subclass of ``base`` that fails after execute and/or reverts twice."""

    def execute(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = base.execute(self, *args, **kwargs)
        if not fail_after:
            return result
        self.__dict__[_RESULT] = result
        raise InjectedFailure(f"opsflow.testing: failure injected after {self.name}")

    def revert(self: Any, *args: Any, **kwargs: Any) -> Any:
        if _RESULT in self.__dict__:  # give the step the result it really had
            kwargs["result"] = self.__dict__[_RESULT]
        value = base.revert(self, *args, **kwargs)
        if revert_twice:
            base.revert(self, *args, **kwargs)
        return value

    return type(
        base.__name__,
        (base,),
        {"execute": execute, "revert": revert, "__module__": base.__module__},
    )


def describe_difference(before: Any, after: Any) -> str:
    """A short account of how ``after`` differs from ``before``.

    Mappings report added, removed and changed keys; sets (and lists of
    hashable items) report added and removed items; anything else both values.
    """
    if isinstance(before, Mapping) and isinstance(after, Mapping):
        parts = []
        added = sorted(set(after) - set(before), key=repr)
        removed = sorted(set(before) - set(after), key=repr)
        changed = sorted(
            (k for k in set(before) & set(after) if before[k] != after[k]), key=repr
        )
        if added:
            parts.append("added " + ", ".join(repr(k) for k in added))
        if removed:
            parts.append("removed " + ", ".join(repr(k) for k in removed))
        for key in changed:
            parts.append(f"{key!r}: " + describe_difference(before[key], after[key]))
        return "; ".join(parts) or "equal"
    try:
        old, new = set(before), set(after)
    except TypeError:
        return f"before {before!r}, after {after!r}"
    if isinstance(before, str) or isinstance(after, str) or old == new:
        return f"before {before!r}, after {after!r}"
    parts = []
    if new - old:
        parts.append("added " + ", ".join(sorted(map(repr, new - old))))
    if old - new:
        parts.append("removed " + ", ".join(sorted(map(repr, old - new))))
    return "; ".join(parts)
