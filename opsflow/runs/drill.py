"""A revert drill: a run that fails right after one chosen step succeeds.

``opsflow-run FLOW --fail-at STEP`` lets an operator rehearse the undo of
any flow: STEP does its work, then the run fails on purpose and every step
that ran is reverted, exactly as if the next step had failed for real. No
task has to know about it: :func:`fail_after` puts STEP and a
:class:`DrillFailureTask` in a linear subflow of their own, in STEP's place,
so nothing that depends on STEP starts before the failure.

Inside a subflow that has a retry controller the failure would be retried
(each time after STEP ran again); the drill's task then gets a controller
of its own that reverts the whole flow at once, since the point of a drill
is the full undo.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from opsflow import exceptions, retry, task
from opsflow.flow import Flow
from opsflow.patterns import linear_flow

if TYPE_CHECKING:
    from opsflow.atom import Atom

__all__ = [
    "DrillFailure",
    "DrillFailureTask",
    "atoms_of",
    "drill_atoms",
    "fail_after",
    "retry_names",
    "step_names",
]


class DrillFailure(RuntimeError):
    """The failure a revert drill (``--fail-at``) asked for."""


def drill_atoms(step: str) -> frozenset[str]:
    """The names of the atoms a drill after ``step`` adds to the flow."""
    return frozenset((f"fail_at_{step}", f"fail_at_{step}_revert_all"))


class DrillFailureTask(task.Task):
    """Fail on purpose, naming the step it follows."""

    def __init__(self, after: str) -> None:
        super().__init__(name=f"fail_at_{after}")
        self.after = after

    def execute(self) -> None:
        raise DrillFailure(
            f"revert drill: the run fails right after step {self.after} "
            f"(--fail-at {self.after})"
        )


def _walk(flow: Flow, retried: bool = False) -> Iterator[tuple[Flow, Atom, bool]]:
    """``(parent flow, task, under a retry controller)`` for every task."""
    retried = retried or flow.retry is not None
    for item in flow:
        if isinstance(item, task.Task):
            yield flow, item, retried
        elif isinstance(item, Flow):
            yield from _walk(item, retried)


def atoms_of(flow: Flow) -> Iterator[Atom]:
    """Every atom of ``flow``, retry controllers too, subflows walked."""
    if flow.retry is not None:
        yield flow.retry
    for item in flow:
        if isinstance(item, Flow):
            yield from atoms_of(item)
        else:
            yield item


def retry_names(flow: Flow) -> list[str]:
    """The names of the flow's retry controllers (not steps a drill takes)."""
    return [str(atom.name) for atom in atoms_of(flow) if isinstance(atom, retry.Retry)]


def step_names(flow: Flow) -> list[str]:
    """The names of the flow's tasks, in the order they were declared."""
    return [str(atom.name) for _parent, atom, _retried in _walk(flow)]


def fail_after(flow: Flow, step: str) -> Flow:
    """``flow`` changed so that its run fails right after ``step`` succeeds.

    :raises UsageError: ``step`` is not one of the flow's tasks (exit 64);
        the message lists them.
    """
    for parent, atom, retried in _walk(flow):
        if atom.name != step:
            continue
        failure: Atom | Flow = DrillFailureTask(after=step)
        if retried:
            failure = linear_flow.Flow(
                f"fail_at_{step}_flow",
                retry=retry.AlwaysRevertAll(name=f"fail_at_{step}_revert_all"),
            ).add(failure)
        drilled = linear_flow.Flow(f"{step}_then_fail").add(atom, failure)
        parent.replace_item(atom, drilled)
        return flow
    what = (
        f"{step} is a retry controller of flow {flow.name}, not a step"
        if step in retry_names(flow)
        else f"flow {flow.name} has no step {step!r}"
    )
    raise exceptions.UsageError(
        f"--fail-at {step}: {what}; its steps: " + ", ".join(step_names(flow))
    )
