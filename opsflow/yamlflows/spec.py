"""Typed records of a flow file, made once the file passed its schema.

Everything the builder needs is here, each record with the :class:`Mark`
of where it was written, so errors found later (an unknown task, a cycle)
still point at a line and column of the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from opsflow.yamlflows.marks import Mark

__all__ = [
    "ConditionSpec",
    "FlowFile",
    "FlowSpec",
    "InputSpec",
    "LinkSpec",
    "RetrySpec",
    "TaskStep",
]


@dataclass(frozen=True)
class InputSpec:
    """A value the flow takes from the run's store."""

    name: str
    mark: Mark
    description: str = ""
    has_default: bool = False
    default: Any = None
    secret: bool = False


@dataclass(frozen=True)
class RetrySpec:
    """The retry controller of a flow (``retry:``)."""

    kind: str
    name: str
    mark: Mark
    attempts: int | None = None
    values: Any = None
    provides: str | None = None
    delay: float = 0.0
    backoff: float = 1.0
    revert_all: bool = False


@dataclass(frozen=True)
class TaskStep:
    """A step that runs one ``opsflow.tasks`` plugin."""

    name: str
    task: str
    mark: Mark
    task_mark: Mark
    arguments: dict[str, Any] = field(default_factory=dict)
    inject: dict[str, Any] | None = None
    rebind: Any = None
    provides: Any = None
    requires: tuple[str, ...] = ()
    timeout: float | None = None


@dataclass(frozen=True)
class ConditionSpec:
    """``when:`` of a link: ``value`` compared by ``op`` with ``operand``."""

    value: str | None
    op: str
    operand: Any
    mark: Mark


@dataclass(frozen=True)
class LinkSpec:
    """``links:`` item of a graph flow."""

    source: str
    target: str
    mark: Mark
    condition: ConditionSpec | None = None
    depth: str = "all"


@dataclass(frozen=True)
class FlowSpec:
    """A flow (the file's top level or a nested ``flow:`` step)."""

    name: str
    mark: Mark
    pattern: str = "linear"
    description: str = ""
    retry: RetrySpec | None = None
    steps: tuple[TaskStep | FlowSpec, ...] = ()
    links: tuple[LinkSpec, ...] = ()


@dataclass(frozen=True)
class FlowFile:
    """One checked flow file: where it is, its hash, its flow and inputs."""

    path: str
    sha256: str
    flow: FlowSpec
    inputs: tuple[InputSpec, ...] = ()

    @property
    def name(self) -> str:
        return self.flow.name

    @property
    def description(self) -> str:
        return self.flow.description

    @property
    def source(self) -> dict[str, str]:
        """What a run records about where its flow came from."""
        return {"kind": "yaml", "path": self.path, "sha256": self.sha256}
