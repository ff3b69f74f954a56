"""Exit codes of ``opsflow-run``: what a final state or an error exits with.

Errors carry their own code (``exit_code``, drawn with the exception tree
in :mod:`opsflow.exceptions`); this module maps a run's final state to
its code and prints an error as the one line an operator reads.
"""

from __future__ import annotations

import sys

from opsflow import states
from opsflow.exceptions import (
    ExitCode,
    StoreLost,
    Unavailable,
    UsageError,
    exit_code_of,
)

__all__ = [
    "ExitCode",
    "StoreLost",
    "Unavailable",
    "UsageError",
    "for_state",
    "report_error",
]

_BY_STATE = {
    states.SUCCESS: ExitCode.SUCCESS,
    states.REVERTED: ExitCode.REVERTED,
    states.FAILURE: ExitCode.FAILURE,
    states.SUSPENDED: ExitCode.SUSPENDED,
}


def for_state(state: str) -> ExitCode:
    """The exit code of a run that ended in ``state``.

    A state that is not final (the engine stopped in an unexpected place)
    counts as FAILURE: something needs a person.
    """
    return _BY_STATE.get(str(state), ExitCode.FAILURE)  # type: ignore[call-overload]


def report_error(exc: BaseException, debug: bool, prog: str = "opsflow-run") -> int:
    """Print ``exc`` as one line on stderr, ``prog: error: ...`` (and its
    traceback when debugging); the exit code it carries (70: a bug)."""
    code = exit_code_of(exc)
    if debug:
        import traceback

        traceback.print_exception(exc)
    message = " ".join(str(exc).split()) or type(exc).__name__
    if code is ExitCode.INTERNAL:
        message = f"internal error: {type(exc).__name__}: {message}"
        if not debug:
            message += " (run with --debug for the traceback)"
    print(f"{prog}: error: {message}", file=sys.stderr)
    return int(code)
