"""The curated public surface, pinned.

A change to any ``__all__`` below must be deliberate: update the pin in the same
commit (and the docs, and the TaskFlow porting notes if a name goes away).
"""

from __future__ import annotations

import builtins
import importlib

import pytest

from opsflow import exceptions
from opsflow.types import failure

PINNED_ALL = {
    "opsflow.atom": ["Atom", "Provides", "Rebind", "Requires"],
    "opsflow.task": [
        "CHANGED_KEY",
        "EVENT_UPDATE_PROGRESS",
        "FunctorTask",
        "MapFunctorTask",
        "ReduceFunctorTask",
        "Task",
        "made_changes",
    ],
    "opsflow.retry": [
        "AlwaysRevert",
        "AlwaysRevertAll",
        "Decision",
        "EXECUTE_REVERT_HISTORY",
        "ForEach",
        "History",
        "ParameterizedForEach",
        "REVERT_FLOW_FAILURES",
        "Retry",
        "Times",
    ],
    "opsflow.states": [
        "ANALYZING",
        "CLAIMED",
        "COMPLETE",
        "ENDED_STATES",
        "EXECUTE",
        "FAILURE",
        "FINAL_STATES",
        "FLOW_STATES",
        "GAME_OVER",
        "IGNORE",
        "INTENTIONS",
        "PENDING",
        "RESUMING",
        "RETRY",
        "RETRYING",
        "REVERT",
        "REVERTED",
        "REVERTING",
        "REVERT_FAILURE",
        "RUNNING",
        "SCHEDULING",
        "SUCCESS",
        "SUSPENDED",
        "SUSPENDING",
        "State",
        "UNCLAIMED",
        "UNDEFINED",
        "WAITING",
        "check_flow_transition",
        "check_job_transition",
        "check_retry_transition",
        "check_task_transition",
    ],
    "opsflow.exceptions": [
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
    ],
    "opsflow.deciders": ["Depth", "pick_widest"],
    "opsflow.engines": [
        "ActionEngine",
        "ParallelActionEngine",
        "SerialActionEngine",
        "flow_from_detail",
        "load",
        "load_from_detail",
        "load_from_factory",
        "run",
        "save_factory_details",
    ],
    "opsflow.flow": [
        "Flow",
        "ItemsFlow",
        "LINK_DECIDER",
        "LINK_DECIDER_DEPTH",
        "LINK_INVARIANT",
        "LINK_MANUAL",
        "LINK_REASONS",
    ],
    "opsflow.storage": ["Storage"],
    "opsflow.patterns.linear_flow": ["Flow"],
    "opsflow.patterns.unordered_flow": ["Flow"],
    "opsflow.patterns.graph_flow": ["Flow", "TargetedFlow"],
    "opsflow.types.failure": ["Failure"],
    "opsflow.types.notifier": ["Listener", "Notifier", "RestrictedNotifier"],
    "opsflow.listeners.base": ["DEFAULT_LISTEN_FOR", "DumpingListener", "Listener"],
    "opsflow.listeners.logging": ["DynamicLoggingListener", "LoggingListener"],
    "opsflow.listeners.printing": ["PrintingListener"],
    "opsflow.listeners.timing": [
        "DurationListener",
        "EventTimeListener",
        "PrintingDurationListener",
    ],
    "opsflow.listeners.capturing": ["CaptureListener"],
    "opsflow.persistence.models": [
        "ATOM_TYPES",
        "AtomDetail",
        "FlowDetail",
        "LogBook",
        "RetryDetail",
        "TaskDetail",
        "atom_detail_class",
        "atom_detail_type",
    ],
}

# What opsflow promises a TaskFlow user, whatever else is added.
PROMISED_NAMES = {
    "opsflow.task": {"Task", "FunctorTask", "MapFunctorTask", "ReduceFunctorTask"},
    "opsflow.atom": {"Atom"},
    "opsflow.retry": {
        "Retry",
        "Decision",
        "History",
        "Times",
        "ForEach",
        "ParameterizedForEach",
        "AlwaysRevert",
        "AlwaysRevertAll",
    },
    "opsflow.deciders": {"Depth"},
    "opsflow.engines": {"load", "run", "load_from_factory", "load_from_detail"},
    "opsflow.exceptions": {
        "OpsflowException",
        "TaskFlowException",
        "WrappedFailure",
        "MissingDependencies",
        "DependencyFailure",
        "AmbiguousDependency",
        "CompilationFailure",
        "Duplicate",
        "NotFound",
        "InvalidState",
        "StorageFailure",
        "ExecutionFailure",
    },
    "opsflow.types.failure": {"Failure"},
    "opsflow.types.notifier": {"Notifier"},
    "opsflow.listeners.logging": {"LoggingListener", "DynamicLoggingListener"},
    "opsflow.listeners.printing": {"PrintingListener"},
    "opsflow.listeners.timing": {"DurationListener"},
    "opsflow.listeners.capturing": {"CaptureListener"},
    "opsflow.persistence.models": {"LogBook", "FlowDetail", "AtomDetail"},
}


@pytest.mark.parametrize("module_name", sorted(PINNED_ALL))
def test_public_module_all_is_pinned(module_name):
    module = importlib.import_module(module_name)

    assert sorted(module.__all__) == sorted(PINNED_ALL[module_name])


@pytest.mark.parametrize("module_name", sorted(PINNED_ALL))
def test_every_name_in_all_exists(module_name):
    module = importlib.import_module(module_name)

    missing = [name for name in module.__all__ if not hasattr(module, name)]
    assert missing == []


@pytest.mark.parametrize("module_name", sorted(PROMISED_NAMES))
def test_spec_names_are_public(module_name):
    module = importlib.import_module(module_name)

    assert PROMISED_NAMES[module_name] <= set(module.__all__)


def test_the_usual_taskflow_imports_work_with_opsflow():
    from opsflow import (  # noqa: F401
        deciders,
        engines,
        exceptions,
        retry,
        states,
        task,
    )
    from opsflow.patterns import graph_flow, linear_flow, unordered_flow  # noqa: F401
    from opsflow.types import failure, notifier  # noqa: F401


def test_taskflow_exception_is_an_alias_of_opsflow_exception():
    assert exceptions.TaskFlowException is exceptions.OpsflowException


@pytest.mark.parametrize(
    ("child", "parent"),
    [
        ("WrappedFailure", "OpsflowException"),
        ("MissingDependencies", "DependencyFailure"),
        ("AmbiguousDependency", "DependencyFailure"),
        ("DependencyFailure", "OpsflowException"),
        ("CompilationFailure", "OpsflowException"),
        ("Duplicate", "OpsflowException"),
        ("NotFound", "OpsflowException"),
        ("InvalidState", "OpsflowException"),
        ("StorageFailure", "OpsflowException"),
        ("ExecutionFailure", "OpsflowException"),
        ("MissingPackage", "ServiceUnavailable"),
        ("ServiceUnavailable", "OpsflowException"),
        ("OpsflowException", "Exception"),
    ],
)
def test_exception_tree(child, parent):
    parent_cls = getattr(exceptions, parent, None) or getattr(builtins, parent)
    assert issubclass(getattr(exceptions, child), parent_cls)


def test_wrapped_failure_holds_its_failures():
    failures = []
    for exc in (ValueError("v"), KeyError("k")):
        try:
            raise exc
        except Exception:
            failures.append(failure.Failure())

    wrapped = exceptions.WrappedFailure(failures)

    assert len(wrapped) == 2
    assert list(wrapped) == failures
    assert wrapped[0] is failures[0]
    assert wrapped.check(KeyError) is KeyError
    assert wrapped.check(OSError) is None
    assert "ValueError" in str(wrapped)
