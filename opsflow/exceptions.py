"""The one exception tree of opsflow, and the exit code each error means.

::

    OpsflowException (alias TaskFlowException)      exit
    +-- UsageError                  bad arguments, input or run id    64
    |   +-- RunNotFound             no run with that id in the store  64
    |   +-- FlowInputsRejected      (plugins.flows) a factory refused its inputs
    +-- Unavailable                 something needed is not there     69
    |   +-- StoreLost               the store failed mid-run          69
    |   +-- LeaseHeld               another live process runs it      69
    |   +-- ProcessesAlive          (persistence.runlock) an old owner's workers run
    +-- StorageFailure              the store could not be read or written  69
    |   +-- LeaseLost               (persistence.leases) the run was taken over
    +-- ConfigurationError          opsflow.conf or a driver choice is wrong  78
    |   +-- ConfigError             (conf.errors) naming the file and option
    |   |   +-- UnknownBackend      (plugins.persistence) no backend for a URL scheme
    |   +-- FlowFileError           (yamlflows.errors) a YAML flow file is not valid
    |   +-- FlowNameClash           (yamlflows.errors) two sources define one flow
    +-- PluginError                 a plugin could not be found or loaded  69
    |   +-- PluginNotFound          (plugins.loader) no plugin has that name  64
    |   +-- PluginBroken            (plugins.loader) it fails to import
    |   +-- FlowFactoryFailed       (plugins.flows) a factory raised or made no flow
    |   +-- FlowSourceChanged       (yamlflows.errors) a run's flow file changed
    |   +-- TaskPluginBroken        (yamlflows.errors) a YAML step's task is broken
    |   +-- IncompatiblePlugin      a worker refuses a plugin (not allowed, version)
    +-- ServiceUnavailable          a driver's package or service is missing or down  69
    |   +-- MissingPackage          an optional package a driver needs is not installed
    |   +-- DotMissing              (views.pictures) Graphviz's dot is not installed
    +-- ExecutionFailure            the engine could not run the flow  70
    |   +-- InvalidState            a state transition that is not allowed
    |   +-- DependencyFailure       the flow's dependencies do not fit together  69
    |   |   +-- MissingDependencies an atom needs a value nobody provides  64
    |   |   +-- AmbiguousDependency two atoms provide what one needs
    |   |   +-- CompilationFailure  the flow could not be compiled
    |   +-- Timeout                 a task ran past its deadline
    |   |   +-- AtomTimeout         a remote worker ran a task past its atom_timeout
    |   +-- WorkerDied              the process running a task died
    |   |   +-- WorkerLost          a remote task's message was redelivered to its limit
    |   +-- NoWorkerAvailable       no remote worker started a task within start_timeout
    |   +-- WorkerMisconfigured     a remote worker cannot run the generic atom task
    |   +-- AtomCancelled           a remote task was revoked before it finished
    |   +-- NotTransferable         a task or value cannot be sent to a worker  69
    +-- InvalidFormat               data is not in the expected format  64
    +-- NotFound                    a named thing does not exist  64
    +-- Duplicate                   a name is used twice  69
    +-- WrappedFailure              several failures at once (holds each Failure)

A class without a number carries its parent's; ``error.exit_code`` is what
``opsflow-run`` exits with when the error stops it (:func:`exit_code_of`).
Classes named with a module in brackets are defined there, next to what
raises them. Task errors never travel as exceptions inside the engine:
they become :class:`~opsflow.types.failure.Failure` values and are
re-raised by ``run()``.
"""

from __future__ import annotations

import enum
import os
import sys
import traceback
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from opsflow.types.failure import Failure

__all__ = [
    "AmbiguousDependency",
    "AtomCancelled",
    "AtomTimeout",
    "CompilationFailure",
    "ConfigurationError",
    "DependencyFailure",
    "Duplicate",
    "ExecutionFailure",
    "ExitCode",
    "IncompatiblePlugin",
    "InvalidFormat",
    "InvalidState",
    "LeaseHeld",
    "MissingDependencies",
    "MissingPackage",
    "NoWorkerAvailable",
    "NotFound",
    "NotTransferable",
    "OpsflowException",
    "PluginError",
    "RunNotFound",
    "ServiceUnavailable",
    "StorageFailure",
    "StoreLost",
    "TaskFlowException",
    "Timeout",
    "Unavailable",
    "UsageError",
    "WorkerDied",
    "WorkerLost",
    "WorkerMisconfigured",
    "WrappedFailure",
    "exit_code_of",
    "raise_with_cause",
]


class ExitCode(enum.IntEnum):
    """What the exit status of an opsflow command means.

    ``sysexits.h`` codes for problems before or around a run (64 usage, 69
    unavailable, 70 internal, 78 configuration); each final flow state has
    its own small number, so scripts can tell "undone" from "needs a person".
    """

    SUCCESS = 0
    REVERTED = 1
    FAILURE = 2
    SUSPENDED = 3
    USAGE = 64
    UNAVAILABLE = 69
    INTERNAL = 70  # a bug in opsflow or a plugin outside any task: report it
    CONFIG = 78


class OpsflowException(Exception):
    """Base of every error opsflow raises on its own account.

    ``cause`` is the error that led to this one (also its ``__cause__`` when
    raised with :func:`raise_with_cause`); ``str()`` and :meth:`pformat`
    show the chain of causes after the message.
    """

    #: What the command exits with when this error stops it.
    exit_code: ExitCode = ExitCode.INTERNAL

    def __init__(self, message: str = "", cause: BaseException | None = None) -> None:
        super().__init__(message)
        self._cause = cause

    @property
    def cause(self) -> BaseException | None:
        """The error that led to this one, or None."""
        return self._cause

    def _message(self) -> str:
        return str(self.args[0]) if self.args else ""

    def pformat(
        self, indent: int = 2, indent_text: str = " ", show_root_class: bool = False
    ) -> str:
        """The message, then each cause on a line of its own, indented deeper."""
        if indent < 0:
            raise ValueError(
                f"Provided 'indent' must be greater than or equal to zero, not {indent}"
            )
        lines = [
            f"{type(self).__name__}: {self._message()}"
            if show_root_class
            else self._message()
        ]
        depth = indent
        seen: set[int] = set()
        cause = self._cause
        while cause is not None and id(cause) not in seen:
            seen.add(id(cause))
            pad = indent_text * depth
            if isinstance(cause, OpsflowException):
                lines.append(f"{pad}{type(cause).__name__}: {cause._message()}")
                cause = cause._cause
                depth += indent
            else:
                only = traceback.format_exception_only(type(cause), cause)
                lines.extend(pad + line.rstrip("\n") for line in only)
                break  # what other exceptions call a cause is unknown
        return os.linesep.join(lines)

    def __str__(self) -> str:
        return self.pformat() if self._cause is not None else self._message()


TaskFlowException = OpsflowException


def raise_with_cause(
    exc_cls: type[OpsflowException], message: str, *args: Any, **kwargs: Any
) -> NoReturn:
    """Raise ``exc_cls(message, ...)`` caused by the exception being handled.

    The handled exception (or ``cause=``) becomes both the new error's
    ``cause`` and its ``__cause__``.
    """
    if not (isinstance(exc_cls, type) and issubclass(exc_cls, OpsflowException)):
        raise ValueError("Subclass of opsflow exception is required")
    kwargs["cause"] = kwargs.get("cause") or sys.exc_info()[1]
    raise exc_cls(message, *args, **kwargs) from kwargs["cause"]


def exit_code_of(error: BaseException) -> ExitCode:
    """The exit code an error means: its ``exit_code``, else 70 (a bug)."""
    code = getattr(error, "exit_code", None)
    return code if isinstance(code, ExitCode) else ExitCode.INTERNAL


class UsageError(OpsflowException):
    """Bad arguments, an unknown flow or run, a bad store value, a missing input."""

    exit_code = ExitCode.USAGE


class RunNotFound(UsageError):
    """No run has that id in the persistence store."""


class Unavailable(OpsflowException):
    """A plugin, a service or the persistence store cannot be used now."""

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


class LeaseHeld(Unavailable):
    """The run is owned by another live process."""

    def __init__(self, holder: Any) -> None:
        import time

        self.holder = holder
        super().__init__(
            f"run {holder.flow_uuid} is being run by {holder.owner} "
            f"(lease renewed {max(0.0, time.time() - holder.heartbeat_at):.0f}s ago)"
        )


class StorageFailure(OpsflowException):
    """Storage or persistence could not be read or written."""

    exit_code = ExitCode.UNAVAILABLE


class ConfigurationError(OpsflowException, ValueError):
    """The configuration or a driver choice is not valid."""

    exit_code = ExitCode.CONFIG


class PluginError(OpsflowException):
    """A plugin could not be found or loaded."""

    exit_code = ExitCode.UNAVAILABLE


class IncompatiblePlugin(PluginError):
    """A worker refuses a plugin: not in its allow-list, or of another major version."""


class ServiceUnavailable(OpsflowException):
    """What a driver needs (a package, a broker, a database) is missing or unreachable.

    Drivers raise it from their checks, before any task runs; messages name
    a URL without its password.
    """

    exit_code = ExitCode.UNAVAILABLE


class MissingPackage(ServiceUnavailable):
    """An optional package a driver needs is not installed."""

    def __init__(self, needed_by: str, package: str, extra: str | None = None) -> None:
        self.package = package
        self.extra = extra
        how = f": pip install 'opsflow[{extra}]'" if extra else ""
        super().__init__(
            f"{needed_by} needs the Python package {package!r}, which is not "
            f"installed{how}"
        )


class ExecutionFailure(OpsflowException):
    """The engine could not run the flow."""


class InvalidState(ExecutionFailure):
    """A state transition that is not allowed was requested."""


class DependencyFailure(ExecutionFailure):
    """The flow's dependencies do not fit together (a cycle, for one)."""

    exit_code = ExitCode.UNAVAILABLE  # the flow plugin builds a broken flow


class CompilationFailure(DependencyFailure):
    """The flow could not be compiled into an execution graph."""


class AmbiguousDependency(DependencyFailure):
    """More than one atom provides a value that one atom needs."""


class MissingDependencies(DependencyFailure):
    """An atom needs values that nothing provides."""

    exit_code = ExitCode.USAGE  # an input the operator did not give

    def __init__(
        self,
        who: str,
        requirements: Iterable[str],
        cause: BaseException | None = None,
        method: str | None = None,
        by_atom: dict[str, list[str]] | None = None,
    ) -> None:
        self.missing_requirements = sorted(requirements)
        #: Which atom needs which of the missing names.
        self.missing_by_atom = dict(by_atom or {})
        self.who = who
        self.method = method
        where = f"'{who}' method '{method}'" if method else f"'{who}'"
        super().__init__(
            f"{where} requires {self.missing_requirements} but no other entity"
            " produces said requirements",
            cause,
        )


class Timeout(ExecutionFailure):
    """A task ran past its deadline."""


class WorkerDied(ExecutionFailure):
    """The worker process running a task died (killed by a signal, for one)."""


class AtomTimeout(Timeout):
    """A remote worker ran a task past its ``atom_timeout`` and it was stopped."""


class WorkerLost(WorkerDied):
    """Remote workers died running a task until its redelivery limit was spent."""


class NoWorkerAvailable(ExecutionFailure):
    """No remote worker started a task within ``start_timeout``."""


class WorkerMisconfigured(ExecutionFailure):
    """A remote worker cannot run the generic atom task (unregistered, bad content)."""


class AtomCancelled(ExecutionFailure):
    """A task was cancelled before it finished: revoked, or its executor stopped."""


class NotTransferable(ExecutionFailure):
    """A task or value cannot be sent to the executor's workers (not picklable)."""

    exit_code = ExitCode.UNAVAILABLE


class InvalidFormat(OpsflowException):
    """Data (a serialized failure, say) is not in the expected format."""

    exit_code = ExitCode.USAGE


class NotFound(OpsflowException):
    """A named thing does not exist."""

    exit_code = ExitCode.USAGE


class Duplicate(OpsflowException):
    """A name that must be unique is used twice."""

    exit_code = ExitCode.UNAVAILABLE  # the flow plugin builds a broken flow


class WrappedFailure(OpsflowException):
    """Several failures at once; iterate it for each ``Failure``."""

    def __init__(self, causes: Iterable[Failure]) -> None:
        self._causes: list[Failure] = []
        for cause in causes:
            inner = cause.exception
            if isinstance(inner, WrappedFailure):
                # Flatten: a wrapped failure inside a wrapped failure says nothing more.
                self._causes.extend(inner)
            else:
                self._causes.append(cause)
        listed = ", ".join(str(cause) for cause in self._causes)
        super().__init__(f"WrappedFailure: [{listed}]")

    def __len__(self) -> int:
        return len(self._causes)

    def __iter__(self) -> Iterator[Failure]:
        return iter(self._causes)

    def __getitem__(self, index: int) -> Failure:
        return self._causes[index]

    def check(self, *exc_classes: Any) -> Any:
        """The first class among ``exc_classes`` that one cause matches, or None."""
        if not exc_classes:
            return None
        for cause in self._causes:
            result = cause.check(*exc_classes)
            if result is not None:
                return result
        return None

    def __str__(self) -> str:
        return self._message()
