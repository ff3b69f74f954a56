"""Tasks: atoms that do one piece of work and know how to undo it.

Subclass :class:`Task` and define ``execute`` (and ``revert``), or wrap plain
functions with :class:`FunctorTask`; :class:`MapFunctorTask` and
:class:`ReduceFunctorTask` apply a function over several inputs.
"""

from __future__ import annotations

import contextvars
import copy
import functools
import inspect
import logging
from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import Any

from opsflow import atom
from opsflow.types import notifier as notifier_mod

__all__ = [
    "CHANGED_KEY",
    "EVENT_UPDATE_PROGRESS",
    "FunctorTask",
    "MapFunctorTask",
    "ReduceFunctorTask",
    "Task",
    "made_changes",
]

LOG = logging.getLogger(__name__)

#: Event a task's notifier (and the engine's ``atom_notifier``) emits for progress.
EVENT_UPDATE_PROGRESS = "update_progress"

#: The key of a result mapping by which a task tells whether it changed
#: anything, as an Ansible module's result does: ``{"path": p, "changed":
#: False}`` when the target state already held. A result without it counts
#: as a change.
CHANGED_KEY = "changed"


def made_changes(result: object) -> bool:
    """Whether a task that returned ``result`` changed something: False only
    for a mapping whose :data:`CHANGED_KEY` is ``False`` (see also
    :attr:`Task.changes_nothing`)."""
    return not (isinstance(result, Mapping) and result.get(CHANGED_KEY) is False)


#: Where ``update_progress`` reports to while a task runs: set by the executor
#: around each call, per thread, so one task object needs no engine wiring.
PROGRESS_SINK: contextvars.ContextVar[Callable[..., None] | None] = (
    contextvars.ContextVar("opsflow_progress_sink", default=None)
)


def _callable_name(function: Callable[..., Any]) -> str:
    module = getattr(function, "__module__", None)
    name = str(
        getattr(function, "__qualname__", None)
        or getattr(function, "__name__", None)
        or repr(function)
    )
    return f"{module}.{name}" if module else name


class Task(atom.Atom):
    """A unit of work with an ``execute`` and, optionally, a ``revert``.

    ``timeout`` (seconds) bounds one ``execute``; ``None`` takes the engine's
    default (``[engine] task_timeout``).
    """

    #: Default deadline of ``execute`` in seconds; ``None``: the engine's default.
    timeout: float | None = None
    #: True for a task that only reads or checks (a lookup, a health check):
    #: it never counts as changed, whatever it returns. A task that changes
    #: something only sometimes says so in its result (:data:`CHANGED_KEY`).
    changes_nothing: bool = False

    def __init__(
        self,
        name: str | None = None,
        provides: atom.Provides = None,
        requires: atom.Requires = None,
        auto_extract: bool = True,
        rebind: atom.Rebind = None,
        inject: Mapping[str, Any] | None = None,
        ignore_list: Iterable[str] | None = None,
        revert_rebind: atom.Rebind = None,
        revert_requires: atom.Requires = None,
        timeout: float | None = None,
    ) -> None:
        if name is None:
            name = f"{type(self).__module__}.{type(self).__name__}"
        super().__init__(
            name=name,
            provides=provides,
            requires=requires,
            auto_extract=auto_extract,
            rebind=rebind,
            inject=inject,
            ignore_list=ignore_list,
            revert_rebind=revert_rebind,
            revert_requires=revert_requires,
        )
        if timeout is not None:
            self.timeout = timeout

    def copy(self, retain_listeners: bool = True) -> Task:
        """A shallow copy; its progress listeners are copied too unless told not."""
        clone = copy.copy(self)
        own = self._notifier
        clone.__dict__.pop("_notifier", None)
        if own is not None and retain_listeners:
            clone.__dict__["_notifier"] = own.copy()
        return clone

    def __getstate__(self) -> dict[str, Any]:
        # A task's own listeners stay where they were registered: a copy sent
        # to a worker process reports progress through the executor instead.
        state = self.__dict__.copy()
        state.pop("_notifier", None)
        return state

    @property
    def notifier(self) -> notifier_mod.Notifier:
        """This task's own notifier, made on first use.

        An ``EVENT_UPDATE_PROGRESS`` notified on it while the task runs
        (``update_progress`` does it, a task may do it itself with more
        details) also reaches the engine, which records the progress and
        its details.
        """
        own = self._notifier
        if own is None:
            own = self._notifier = _ProgressNotifier()
        return own

    def update_progress(self, progress: float) -> None:
        """Report how far ``execute``/``revert`` has got, from 0.0 to 1.0."""
        if progress > 1.0:
            LOG.warning("Progress must be <= 1.0, clamping %s to 1.0", progress)
            progress = 1.0
        elif progress < 0.0:
            LOG.warning("Progress must be >= 0.0, clamping %s to 0.0", progress)
            progress = 0.0
        if self._notifier is not None:
            self._notifier.notify(EVENT_UPDATE_PROGRESS, {"progress": progress})
        else:
            sink = PROGRESS_SINK.get()
            if sink is not None:
                sink(progress, {})

    def notify_progress(self, progress: float) -> None:
        """Tell this task's own progress listeners (not the engine) of ``progress``.

        The engine announces its own 0.0 and 1.0 this way.
        """
        own = self._notifier
        if own is not None:
            notifier_mod.Notifier.notify(
                own, EVENT_UPDATE_PROGRESS, {"progress": progress}
            )


class _ProgressNotifier(notifier_mod.Notifier):
    """A task's notifier: progress notified on it also goes to the engine."""

    def notify(self, event_type: Hashable, details: dict[str, Any] | None) -> None:
        super().notify(event_type, details)
        if event_type == EVENT_UPDATE_PROGRESS:
            sink = PROGRESS_SINK.get()
            extra = dict(details or {})
            progress = extra.pop("progress", None)
            if sink is not None and progress is not None:
                sink(progress, extra)


class FunctorTask(Task):
    """A task made of a function (``execute``) and optionally another (``revert``)."""

    def __init__(
        self,
        execute: Callable[..., Any],
        name: str | None = None,
        provides: atom.Provides = None,
        requires: atom.Requires = None,
        auto_extract: bool = True,
        rebind: atom.Rebind = None,
        revert: Callable[..., Any] | None = None,
        version: tuple[int, ...] | None = None,
        inject: Mapping[str, Any] | None = None,
    ) -> None:
        if not callable(execute):
            raise ValueError("Function to use for executing must be callable")
        if revert is not None and not callable(revert):
            raise ValueError("Function to use for reverting must be callable")
        self._execute_function = execute
        self._revert_function = revert
        super().__init__(
            name=name or _callable_name(execute),
            provides=provides,
            requires=requires,
            auto_extract=auto_extract,
            rebind=rebind,
            inject=inject,
        )
        if version is not None:
            self.version = version

    def _signature_of(self, method: str) -> Callable[..., Any]:
        if method == "execute":
            return self._execute_function
        return self._revert_function or super()._signature_of(method)

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        return self._execute_function(*args, **kwargs)

    def revert(self, *args: Any, **kwargs: Any) -> Any:
        if self._revert_function is not None:
            return self._revert_function(*args, **kwargs)
        return None


class _OverInputsTask(Task):
    """A task applying a function over the values of its ``requires``, in order."""

    #: How many positional arguments the function must take.
    functor_arity: int

    def __init__(
        self,
        functor: Callable[..., Any],
        requires: Iterable[str],
        name: str | None = None,
        provides: atom.Provides = None,
        auto_extract: bool = True,
        rebind: atom.Rebind = None,
        inject: Mapping[str, Any] | None = None,
    ) -> None:
        if not callable(functor):
            raise ValueError("Function to use for the task must be callable")
        arity = _positional_arity(functor)
        if arity is not None and arity != self.functor_arity:
            raise ValueError(
                f"{type(self).__name__} needs a function of exactly "
                f"{self.functor_arity} argument(s); {functor!r} takes {arity}"
            )
        if isinstance(requires, str) or not isinstance(requires, Iterable):
            raise TypeError("requires must be a list or tuple of names")
        self._functor = functor
        self._input_names = list(requires)
        super().__init__(
            name=name or _callable_name(functor),
            provides=provides,
            requires=self._input_names,
            auto_extract=auto_extract,
            rebind=rebind,
            inject=inject,
        )

    def _inputs(self, kwargs: dict[str, Any]) -> list[Any]:
        return [kwargs[name] for name in self._input_names]


class MapFunctorTask(_OverInputsTask):
    """Applies ``functor`` to each required value; the result is the list of outputs."""

    functor_arity = 1

    def execute(self, *args: Any, **kwargs: Any) -> list[Any]:
        return [self._functor(value) for value in self._inputs(kwargs)]


class ReduceFunctorTask(_OverInputsTask):
    """Folds the required values with a two-argument ``functor``."""

    functor_arity = 2

    def __init__(
        self, functor: Callable[[Any, Any], Any], requires: Iterable[str], **kw: Any
    ):
        super().__init__(functor, requires, **kw)
        if len(self._input_names) < 2:
            raise ValueError("ReduceFunctorTask needs at least two requirements")

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        return functools.reduce(self._functor, self._inputs(kwargs))


def _positional_arity(function: Callable[..., Any]) -> int | None:
    """How many positional arguments ``function`` takes (None: any number)."""
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return None
    positional = 0
    for parameter in parameters:
        if parameter.kind is parameter.VAR_POSITIONAL:
            return None
        if parameter.kind in (
            parameter.POSITIONAL_ONLY,
            parameter.POSITIONAL_OR_KEYWORD,
        ):
            positional += 1
    return positional
