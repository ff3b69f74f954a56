"""The one exception tree of opsflow.

::

    OpsflowException (alias TaskFlowException)
    +-- StorageFailure              storage or persistence could not be read or written
    +-- ConfigurationError          opsflow.conf or a driver choice is wrong
    +-- PluginError                 a plugin could not be found or loaded
    |   +-- IncompatiblePlugin      a worker refuses a plugin (not allowed, version)
    +-- ServiceUnavailable          a driver's package or service is missing or down
    |   +-- MissingPackage          an optional package a driver needs is not installed
    +-- ExecutionFailure            the engine could not run the flow
    |   +-- InvalidState            a state transition that is not allowed
    |   +-- DependencyFailure       the flow's dependencies do not fit together
    |   |   +-- MissingDependencies an atom needs a value nobody provides
    |   |   +-- AmbiguousDependency two atoms provide what one needs
    |   |   +-- CompilationFailure  the flow could not be compiled
    |   +-- Timeout                 a task ran past its deadline
    |   |   +-- AtomTimeout         a remote worker ran a task past its atom_timeout
    |   +-- WorkerDied              the process running a task died
    |   |   +-- WorkerLost          a remote task's message was redelivered to its limit
    |   +-- NoWorkerAvailable       no remote worker started a task within start_timeout
    |   +-- WorkerMisconfigured     a remote worker cannot run the generic atom task
    |   +-- AtomCancelled           a remote task was revoked before it finished
    |   +-- NotTransferable         a task or value cannot be sent to a worker
    +-- InvalidFormat               data is not in the expected format
    +-- NotFound                    a named thing does not exist
    +-- Duplicate                   a name is used twice
    +-- WrappedFailure              several failures at once (holds each Failure)

Task errors never travel as exceptions inside the engine: they become
:class:`~opsflow.types.failure.Failure` values and are re-raised by ``run()``.
"""

from __future__ import annotations

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
    "IncompatiblePlugin",
    "InvalidFormat",
    "InvalidState",
    "MissingDependencies",
    "MissingPackage",
    "NoWorkerAvailable",
    "NotFound",
    "NotTransferable",
    "OpsflowException",
    "PluginError",
    "ServiceUnavailable",
    "StorageFailure",
    "TaskFlowException",
    "Timeout",
    "WorkerDied",
    "WorkerLost",
    "WorkerMisconfigured",
    "WrappedFailure",
    "raise_with_cause",
]


class OpsflowException(Exception):
    """Base of every error opsflow raises on its own account.

    ``cause`` is the error that led to this one (also its ``__cause__`` when
    raised with :func:`raise_with_cause`); ``str()`` and :meth:`pformat`
    show the chain of causes after the message.
    """

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


class StorageFailure(OpsflowException):
    """Storage or persistence could not be read or written."""


class ConfigurationError(OpsflowException, ValueError):
    """The configuration or a driver choice is not valid."""


class PluginError(OpsflowException):
    """A plugin could not be found or loaded."""


class IncompatiblePlugin(PluginError):
    """A worker refuses a plugin: not in its allow-list, or of another major version."""


class ServiceUnavailable(OpsflowException):
    """What a driver needs (a package, a broker, a database) is missing or unreachable.

    Drivers raise it from their checks, before any task runs; messages name
    a URL without its password.
    """


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


class CompilationFailure(DependencyFailure):
    """The flow could not be compiled into an execution graph."""


class AmbiguousDependency(DependencyFailure):
    """More than one atom provides a value that one atom needs."""


class MissingDependencies(DependencyFailure):
    """An atom needs values that nothing provides."""

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
    """A remote task was revoked before it finished."""


class NotTransferable(ExecutionFailure):
    """A task or value cannot be sent to the executor's workers (not picklable)."""


class InvalidFormat(OpsflowException):
    """Data (a serialized failure, say) is not in the expected format."""


class NotFound(OpsflowException):
    """A named thing does not exist."""


class Duplicate(OpsflowException):
    """A name that must be unique is used twice."""


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
