"""Shared harness for the differential tests (opsflow against TaskFlow 6.5).

Every scenario in this folder runs once per library through the ``lib``
fixture, a namespace holding the same modules from either ``taskflow`` or
``opsflow``. Scenarios build their tasks with :class:`Kit`, which records
every ``execute``/``revert`` call in a journal, and collect what the run left
behind with :func:`run_flow`. Values are normalised (failures become tuples
of exception type name and message) so that outcomes from both libraries
compare equal when they behave the same.
"""

from __future__ import annotations

import dataclasses
import importlib
import threading
import types
import warnings
from collections.abc import Callable, Iterable
from concurrent import futures
from typing import Any

import pytest

MODULES = {
    "task": "task",
    "retry": "retry",
    "engines": "engines",
    "states": "states",
    "exceptions": "exceptions",
    "linear_flow": "patterns.linear_flow",
    "unordered_flow": "patterns.unordered_flow",
    "graph_flow": "patterns.graph_flow",
    "failure": "types.failure",
    "notifier": "types.notifier",
    "deciders": "deciders",
}

LIBRARIES = ("taskflow", "opsflow")
ENGINES = ("serial", "parallel")


def load_library(name: str) -> types.SimpleNamespace:
    """Import the public modules of ``name`` into one namespace."""
    namespace = types.SimpleNamespace(name=name)
    with warnings.catch_warnings():
        # TaskFlow's dependencies (oslo.utils, and eventlet when it is
        # installed) warn about their own deprecations on import; that is
        # not what these tests look at.
        warnings.simplefilter("ignore")
        for attr, module in MODULES.items():
            setattr(namespace, attr, importlib.import_module(f"{name}.{module}"))
    return namespace


def library_or_skip(name: str) -> types.SimpleNamespace:
    if name == "taskflow":
        try:
            return load_library(name)
        except ImportError as exc:  # pragma: no cover - depends on the venv
            pytest.skip(f"TaskFlow is not importable ({exc}); nothing to compare")
    return load_library(name)


# --------------------------------------------------------------------------
# Normalisation


def describe_failure(fail: Any) -> tuple[str, str, str]:
    """A ``Failure`` from either library as comparable plain data."""
    # Type names rather than the exception object: a failure restored from
    # persistence (from_dict) has no live exception, only its names.
    type_name = next(iter(fail)).rsplit(".", 1)[-1]
    return ("Failure", type_name, fail.exception_str)


def normalise(value: Any) -> Any:
    """Turn failures from either library into comparable tuples."""
    if type(value).__name__ == "Failure" and hasattr(value, "exception_str"):
        return describe_failure(value)
    if isinstance(value, dict):
        return {k: normalise(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalise(v) for v in value]
    if isinstance(value, tuple):
        return tuple(normalise(v) for v in value)
    return value


def describe_exception(exc: BaseException | None) -> Any:
    """The type name of what ``run()`` raised; wrapped failures list contents."""
    if exc is None:
        return None
    if type(exc).__name__ == "WrappedFailure":
        inner = sorted(describe_failure(f)[1:] for f in exc)
        return ("WrappedFailure", tuple(inner))
    return (type(exc).__name__, str(exc))


# --------------------------------------------------------------------------
# Journalled tasks


@dataclasses.dataclass(frozen=True)
class Call:
    """One call of ``execute`` or ``revert`` as the task saw it."""

    kind: str
    name: str
    args: tuple[tuple[str, Any], ...]
    result: Any = None
    flow_failures: tuple[str, ...] = ()


class Journal:
    """A thread-safe record of execute/revert calls in call order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls: list[Call] = []

    def add(self, call: Call) -> None:
        with self._lock:
            self.calls.append(call)

    def order(self, kind: str | None = None) -> list[str]:
        """Task names in call order, optionally only for one kind."""
        return [c.name for c in self.calls if kind is None or c.kind == kind]

    def steps(self) -> list[tuple[str, str]]:
        return [(c.kind, c.name) for c in self.calls]

    def of(self, kind: str, name: str) -> list[Call]:
        return [c for c in self.calls if c.kind == kind and c.name == name]

    def reverted(self) -> list[str]:
        return self.order("revert")

    def executed(self) -> list[str]:
        return self.order("execute")


class Kit:
    """Builds journalled tasks for one library."""

    def __init__(self, lib: types.SimpleNamespace) -> None:
        self.lib = lib
        self.journal = Journal()
        journal = self.journal

        class Recorded(lib.task.Task):
            """Records its calls; fails on demand; returns ``value``."""

            def __init__(
                self,
                name: str,
                fail: bool | int = False,
                revert_fail: bool = False,
                value: Any = dataclasses.MISSING,
                error: type[Exception] = RuntimeError,
                **kwargs: Any,
            ) -> None:
                super().__init__(name=name, **kwargs)
                self.fail = fail
                self.revert_fail = revert_fail
                self.value = f"{name}-result" if value is dataclasses.MISSING else value
                self.error = error
                self.attempts = 0

            def execute(self, *args: Any, **kwargs: Any) -> Any:
                self.attempts += 1
                journal.add(Call("execute", self.name, tuple(sorted(kwargs.items()))))
                # ``fail`` as an int fails only the first ``fail`` attempts.
                if self.fail is True or (
                    not isinstance(self.fail, bool) and self.attempts <= self.fail
                ):
                    raise self.error(f"{self.name} failed")
                return self.value

            def revert(self, *args: Any, **kwargs: Any) -> None:
                result = kwargs.pop("result", None)
                failures = kwargs.pop("flow_failures", {}) or {}
                journal.add(
                    Call(
                        "revert",
                        self.name,
                        tuple(sorted(kwargs.items())),
                        normalise(result),
                        tuple(sorted(failures)),
                    )
                )
                if self.revert_fail:
                    raise OSError(f"{self.name} revert failed")

        self.Recorded = Recorded

    def task(self, name: str, **kwargs: Any) -> Any:
        return self.Recorded(name, **kwargs)

    def tasks(self, *names: str, **kwargs: Any) -> list[Any]:
        return [self.Recorded(n, **kwargs) for n in names]

    def linear(self, name: str, *items: Any, retry: Any = None) -> Any:
        return self.lib.linear_flow.Flow(name, retry=retry).add(*items)

    def unordered(self, name: str, *items: Any, retry: Any = None) -> Any:
        return self.lib.unordered_flow.Flow(name, retry=retry).add(*items)

    def graph(self, name: str, *items: Any, retry: Any = None) -> Any:
        return self.lib.graph_flow.Flow(name, retry=retry).add(*items)


# --------------------------------------------------------------------------
# Running a flow


@dataclasses.dataclass
class Outcome:
    """Everything a run left behind, normalised for comparison."""

    flow_state: str
    atom_states: dict[str, str]
    results: dict[str, Any]
    raised: Any
    exception: BaseException | None
    engine: Any


def atom_names(flow: Any) -> list[str]:
    """Names of every atom in ``flow`` and its subflows (retries included)."""
    names: list[str] = []

    def visit(item: Any) -> None:
        if hasattr(item, "iter_nodes") and hasattr(item, "retry"):
            if item.retry is not None:
                names.append(item.retry.name)
            for child, _meta in item.iter_nodes():
                visit(child)
        else:
            names.append(item.name)

    visit(flow)
    return names


# TaskFlow shuts its own futurist pool down after every run, which waits a
# full second for idle workers; one shared stdlib pool (which TaskFlow leaves
# alone) keeps the TaskFlow side fast. opsflow always uses its own executor.
_TASKFLOW_POOL = futures.ThreadPoolExecutor(max_workers=8)


def load_engine(lib: types.SimpleNamespace, flow: Any, **options: Any) -> Any:
    """``engines.load`` of ``lib``, with a fast pool on the TaskFlow side."""
    if (
        lib.name == "taskflow"
        and options.get("engine") == "parallel"
        and "executor" not in options
    ):
        options["executor"] = _TASKFLOW_POOL
    return lib.engines.load(flow, **options)


def run_flow(
    lib: types.SimpleNamespace,
    flow: Any,
    engine: str = "serial",
    store: dict[str, Any] | None = None,
    setup: Callable[[Any], None] | None = None,
    **options: Any,
) -> Outcome:
    """Load and run ``flow``, capturing what ``run()`` raised."""
    eng = load_engine(lib, flow, store=store, engine=engine, **options)
    if setup is not None:
        setup(eng)
    return finish(eng, flow)


def finish(eng: Any, flow: Any, names: Iterable[str] | None = None) -> Outcome:
    """Run an already loaded engine and describe the outcome."""
    exception: BaseException | None = None
    try:
        eng.run()
    except Exception as exc:  # the scenario decides what is expected
        exception = exc
    return describe(eng, flow, exception, names)


def describe(
    eng: Any,
    flow: Any,
    exception: BaseException | None = None,
    names: Iterable[str] | None = None,
) -> Outcome:
    names = list(names) if names is not None else atom_names(flow)
    storage = eng.storage
    return Outcome(
        flow_state=str(storage.get_flow_state()),
        atom_states={n: str(storage.get_atom_state(n)) for n in names},
        results=normalise(storage.fetch_all()),
        raised=describe_exception(exception),
        exception=exception,
        engine=eng,
    )
