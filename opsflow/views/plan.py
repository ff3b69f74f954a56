"""The plan of a flow: what would run, and what each failure would undo.

Read from the compiled graph (``engine.compilation``) and the engine's
revert rules, for the serial engine (which runs the steps in
``compilation.order``):

* a step that fails is reverted first, then every step that ran before it,
  newest first (a valid reverse-dependency order, since ``order`` is a
  topological order of the graph);
* a step under retry controllers is first retried by the nearest one: that
  controller's subflow (what of it ran) is reverted and run again; when its
  attempts run out it asks the enclosing controller, and with none left (or
  for a ``revert_all``/``AlwaysRevertAll`` controller) the whole flow is
  reverted;
* a step behind a graph-flow decider may be skipped (``IGNORE``); a skipped
  step is neither run nor reverted.

With the parallel engine, independent branches may also have run when a
step fails: the plan lists what *must* have run for that step to start
(its ancestors) apart from what ran before it in the serial order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "DrillPlan",
    "PlannedStep",
    "RetryStage",
    "describe_decider",
    "describe_retry",
    "drill_plan",
    "plan",
]


@dataclass(frozen=True)
class RetryStage:
    """One retry controller a failure of the step goes through first."""

    retry: str
    policy: str
    #: Runs of the subflow in all (``Times``, ``ForEach``), None if unknown.
    attempts: int | None
    #: The steps of its subflow that ran, reverted (newest first) before the
    #: subflow runs again.
    reverts: tuple[str, ...]


@dataclass(frozen=True)
class PlannedStep:
    """One step of the plan and what a failure there would undo."""

    name: str
    kind: str
    retry: str | None
    #: Reverted, newest first, when the failure is final (retries exhausted).
    reverted_on_failure: tuple[str, ...]
    #: The retry controllers that get the failure first, nearest first.
    retried_by: tuple[RetryStage, ...] = ()
    #: The conditions (graph-flow deciders) that may skip this step.
    skipped_unless: tuple[str, ...] = ()
    #: The steps that must have run before this one (any engine).
    after: tuple[str, ...] = ()


@dataclass(frozen=True)
class DrillPlan:
    """What a revert drill (``--fail-at STEP``) does, in the serial order."""

    step: str
    #: What runs before the drill's failure, in order.
    runs: tuple[str, ...]
    #: What is then reverted, in that order (newest first).
    reverts: tuple[str, ...]
    #: What never runs: the failure comes first.
    not_run: tuple[str, ...]
    #: Conditions that may skip STEP; then the drill does not fire.
    skipped_unless: tuple[str, ...] = ()


def drill_plan(steps: Sequence[PlannedStep], step: str) -> DrillPlan:
    """The drill's run, read from the plan of the drilled flow."""
    from opsflow.runs.drill import drill_atoms

    added = drill_atoms(step)
    names = [planned.name for planned in steps]
    failure = next(planned for planned in steps if planned.name in added)
    at = names.index(failure.name)
    # A condition on the failure or on what it follows may skip it (a
    # skipped step's successors are skipped with it).
    by_name = {planned.name: planned for planned in steps}
    conditions: list[str] = []
    for name in (*failure.after, failure.name):
        for condition in by_name[name].skipped_unless:
            if condition not in conditions:
                conditions.append(condition)
    return DrillPlan(
        step=step,
        runs=tuple(name for name in names[:at] if name not in added),
        reverts=tuple(n for n in failure.reverted_on_failure if n not in added),
        not_run=tuple(name for name in names[at:] if name not in added),
        skipped_unless=tuple(conditions),
    )


def plan(compilation: Any) -> list[PlannedStep]:
    """The steps in execution order, each with what its failure undoes."""
    order = list(compilation.order)
    position = {name: index for index, name in enumerate(order)}
    steps = []
    for index, name in enumerate(order):
        node = compilation.nodes[name]
        ran = order[: index + 1]
        stages, whole = _retry_stages(node, ran, position)
        steps.append(
            PlannedStep(
                name=name,
                kind="retry" if node.is_retry else "task",
                retry=None if node.retry is None else node.retry.name,
                reverted_on_failure=tuple(reversed(ran)) if whole else (),
                retried_by=tuple(stages),
                skipped_unless=tuple(_conditions(node)),
                after=tuple(sorted(_ancestors(node), key=position.__getitem__)),
            )
        )
    return steps


def _retry_stages(
    node: Any, ran: Sequence[str], position: dict[str, int]
) -> tuple[list[RetryStage], bool]:
    """The controllers a failure goes through, and whether the whole flow
    is reverted in the end (False only for a controller that never gives up,
    which opsflow does not ship)."""
    stages = []
    ran_set = set(ran)
    # A retry controller's own failure goes to its enclosing controller.
    controller = node.retry
    while controller is not None:
        subflow = [n.name for n in controller.subflow if n.name in ran_set]
        subflow.sort(key=position.__getitem__, reverse=True)
        stages.append(
            RetryStage(
                retry=controller.name,
                policy=describe_retry(controller.atom),
                attempts=_attempts(controller.atom),
                reverts=tuple(subflow),
            )
        )
        if _reverts_all(controller.atom):
            break
        controller = controller.retry
    return stages, True


def _reverts_all(atom: Any) -> bool:
    from opsflow import retry

    if isinstance(atom, retry.AlwaysRevertAll):
        return True
    return getattr(atom, "_when_exhausted", None) == retry.REVERT_ALL


def _attempts(atom: Any) -> int | None:
    from opsflow import retry

    if isinstance(atom, retry.AlwaysRevert | retry.AlwaysRevertAll):
        return 1
    if isinstance(atom, retry.Times):
        return int(atom._attempts)
    if isinstance(atom, retry.ForEach):
        return len(atom._values)
    return None


def describe_retry(atom: Any) -> str:
    """A retry controller's policy in a few words (``times 3``, ``for each 2``)."""
    from opsflow import retry

    if isinstance(atom, retry.AlwaysRevertAll):
        return "never retries; reverts the whole flow"
    if isinstance(atom, retry.AlwaysRevert):
        return "never retries"
    if isinstance(atom, retry.Times):
        words = f"{atom._attempts} attempts"
    elif isinstance(atom, retry.ForEach):
        words = f"once for each of {len(atom._values)} values"
    elif isinstance(atom, retry.ParameterizedForEach):
        words = "once for each stored value"
    else:
        words = type(atom).__name__
    if _reverts_all(atom):
        words += ", then reverts the whole flow"
    return words


def describe_decider(function: Any) -> str:
    """A decider as people read it: a YAML condition's text, or its name."""
    text = str(function)
    if text.startswith("<"):  # a plain function or lambda: its name
        return getattr(function, "__qualname__", None) or type(function).__name__
    return text


def _conditions(node: Any) -> list[str]:
    found = []
    for decider in node.deciders:
        sources = ", ".join(sorted({n.name for n in decider.sources}))
        text = f"{describe_decider(decider.function)} (after {sources})"
        if text not in found:
            found.append(text)
    return found


def _ancestors(node: Any) -> set[str]:
    seen: set[str] = set()
    stack = list(node.predecessors)
    while stack:
        current = stack.pop()
        if current.name in seen:
            continue
        seen.add(current.name)
        stack.extend(current.predecessors)
    return seen
