"""Exit codes of ``opsflow-run`` and the errors that carry them.

The codes follow ``sysexits.h`` for problems before a run (64 usage,
69 unavailable, 78 configuration) and give each final flow state its own
small number, so scripts can tell "undone" from "needs a person".
"""

from __future__ import annotations

import enum
import sys

from opsflow.exceptions import (
    ConfigurationError,
    DependencyFailure,
    MissingDependencies,
    OpsflowException,
    PluginError,
    ServiceUnavailable,
    StorageFailure,
)

__all__ = [
    "CliError",
    "ExitCode",
    "StoreLost",
    "Unavailable",
    "UsageError",
    "for_error",
    "for_state",
    "report_error",
]


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


class StoreLost(Unavailable):
    """The persistence store failed during a run, which stopped there."""

    def __init__(self, run_id: str, error: BaseException) -> None:
        reason = str(error).removeprefix("persistence store ")
        super().__init__(
            f"persistence store unavailable: {reason}; the run is intact: "
            f"opsflow-run --resume {run_id} once it is back"
        )
        self.run_id = run_id


def for_error(exc: BaseException) -> ExitCode:
    """The exit code for an error raised before or around a run.

    An unknown flow, a missing input or one the flow's factory refused is
    the operator's to fix (64); a plugin that cannot load or build a valid
    flow, a persistence store that cannot be read or written, or a missing
    optional package or service, is unavailable (69); an exception opsflow
    does not know is a bug (70).
    """
    from opsflow.plugins.flows import FlowInputsRejected
    from opsflow.plugins.loader import PluginNotFound

    if isinstance(
        exc, UsageError | MissingDependencies | PluginNotFound | FlowInputsRejected
    ):
        return ExitCode.USAGE
    if isinstance(exc, ConfigurationError):
        return ExitCode.CONFIG
    if isinstance(exc, Unavailable | PluginError | DependencyFailure):
        return ExitCode.UNAVAILABLE
    if isinstance(exc, StorageFailure | ServiceUnavailable):
        return ExitCode.UNAVAILABLE
    if isinstance(exc, OpsflowException):
        return ExitCode.USAGE
    return ExitCode.INTERNAL


def report_error(exc: BaseException, debug: bool, prog: str = "opsflow-run") -> int:
    """Print ``exc`` as one line on stderr, ``prog: error: ...`` (and its
    traceback when debugging); the exit code."""
    code = for_error(exc)
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
