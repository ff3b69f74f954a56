"""Errors of YAML flows, each naming the file, line and column.

``FlowFileError`` (a configuration error: ``opsflow-run`` exits 78) covers
everything wrong in a file; ``MissingInputs`` (exit 64) is an input the
command line did not give; ``TaskPluginBroken`` (exit 69) is a task plugin
that is installed but cannot load; ``FlowNameClash`` (78) is two sources
defining one flow name; ``FlowSourceChanged`` (69) refuses to resume a run
whose file changed.
"""

from __future__ import annotations

from collections.abc import Iterable

from opsflow.exceptions import ConfigurationError, MissingDependencies, PluginError
from opsflow.yamlflows.marks import Mark

__all__ = [
    "FlowFileError",
    "FlowNameClash",
    "FlowSourceChanged",
    "MissingInputs",
    "TaskPluginBroken",
]


class FlowFileError(ConfigurationError):
    """A flow file is not valid; ``mark`` says where."""

    def __init__(self, mark: Mark, problem: str) -> None:
        self.mark = mark
        self.problem = problem
        super().__init__(f"{mark}: {problem}")


class TaskPluginBroken(PluginError):
    """A step's task plugin is installed but cannot be loaded."""

    def __init__(self, mark: Mark, problem: str) -> None:
        self.mark = mark
        super().__init__(f"{mark}: {problem}")


class FlowNameClash(ConfigurationError):
    """Two sources (files or entry points) define the same flow name."""

    def __init__(self, name: str, sources: Iterable[str]) -> None:
        self.name = name
        self.sources = list(sources)
        super().__init__(
            f"flow name {name!r} is defined more than once: "
            + " and ".join(self.sources)
            + f"; neither runs (opsflow-run {name} refuses it): rename one of them"
        )


class FlowSourceChanged(PluginError):
    """A run's flow file changed since the run began."""


class MissingInputs(MissingDependencies):
    """Declared inputs without a default that the run's store lacks.

    ``missing_requirements`` name each input with where it is declared.
    """

    def __init__(self, flow: str, missing: Iterable[tuple[str, Mark]]) -> None:
        self.inputs = [name for name, _ in missing]
        described = [f"{name} (declared at {mark})" for name, mark in missing]
        super().__init__(f"flow {flow}", described, method="inputs")
