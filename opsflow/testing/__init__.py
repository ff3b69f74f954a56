"""A test kit for plugin authors: prove that every revert undoes its step.

:func:`check_reverts` runs a flow once per step, with a failure injected
right after that step has done its work, and compares a snapshot of the
system (taken by a function the author writes) before the first run and
after each reverted run. With ``revert_twice=True`` every revert runs twice
in a row, proving it is idempotent (a resumed run may revert a step again).
:mod:`opsflow.testing.snapshots` has ready-made snapshots of files,
processes and listening ports.

See ``docs/plugin-authors.md`` for a complete example.
"""

from opsflow.testing.reverts import (
    InjectedFailure,
    RevertCheckFailed,
    RevertReport,
    StepOutcome,
    check_reverts,
    describe_difference,
)

__all__ = [
    "InjectedFailure",
    "RevertCheckFailed",
    "RevertReport",
    "StepOutcome",
    "check_reverts",
    "describe_difference",
]
