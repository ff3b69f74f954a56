"""Exit codes of ``opsflow-run`` and the errors that carry them.

The codes follow ``sysexits.h`` for problems before a run (64 usage,
69 unavailable, 78 configuration) and give each final flow state its own
small number, so scripts can tell "undone" from "needs a person".
"""

from __future__ import annotations

import enum

from opsflow.exceptions import OpsflowException

__all__ = ["CliError", "ExitCode", "Unavailable", "UsageError", "for_state"]


class ExitCode(enum.IntEnum):
    """What the process exit status means."""

    SUCCESS = 0
    REVERTED = 1
    FAILURE = 2
    SUSPENDED = 3
    USAGE = 64
    UNAVAILABLE = 69
    INTERNAL = 70  # a bug in opsflow or a plugin outside any task: report it
    CONFIG = 78


_BY_STATE = {
    "SUCCESS": ExitCode.SUCCESS,
    "REVERTED": ExitCode.REVERTED,
    "FAILURE": ExitCode.FAILURE,
    "SUSPENDED": ExitCode.SUSPENDED,
}


def for_state(state: str) -> ExitCode:
    """The exit code of a run that ended in ``state``.

    A state that is not final (the engine stopped in an unexpected place)
    counts as FAILURE: something needs a person.
    """
    return _BY_STATE.get(str(state), ExitCode.FAILURE)


class CliError(OpsflowException):
    """An error reported as one line on stderr, with its exit code."""

    exit_code = ExitCode.USAGE


class UsageError(CliError):
    """Bad arguments, an unknown flow, a bad store value or a missing input."""

    exit_code = ExitCode.USAGE


class Unavailable(CliError):
    """A plugin or the persistence store cannot be used."""

    exit_code = ExitCode.UNAVAILABLE
