"""``--store fail_at=<step>``: a failure injected right after a step.

The flows of this package accept ``fail_at``; :func:`linear_with_failure_at`
then adds an :class:`InjectedFailureTask` right after that step, so the step
has done its work and the whole revert runs, exactly as if the next step had
failed for real. The injected failure is a task of its own so that no real
task needs to know about testing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opsflow import task
from opsflow.patterns import linear_flow

__all__ = ["InjectedFailure", "InjectedFailureTask", "linear_with_failure_at"]


class InjectedFailure(RuntimeError):
    """The failure asked for with ``--store fail_at=<step>``."""


class InjectedFailureTask(task.Task):
    """Fail on purpose, naming the step it follows."""

    def __init__(self, after: str, **kwargs: Any) -> None:
        kwargs.setdefault("name", f"fail_after_{after}")
        super().__init__(**kwargs)
        self.after = after

    def execute(self) -> None:
        raise InjectedFailure(f"injected failure after step {self.after} (fail_at)")


def linear_with_failure_at(
    name: str, steps: Sequence[task.Task], fail_at: str | None
) -> linear_flow.Flow:
    """A linear flow of ``steps``, with a failure right after ``fail_at``.

    :raises ValueError: ``fail_at`` names no step; the message lists them.
    """
    names = [step.name for step in steps]
    if fail_at is not None and fail_at not in names:
        raise ValueError(
            f"fail_at={fail_at!r} is not a step of {name}; its steps: "
            + ", ".join(names)
        )
    flow = linear_flow.Flow(name)
    for step in steps:
        flow.add(step)
        if step.name == fail_at:
            flow.add(InjectedFailureTask(after=fail_at))
    return flow
