"""Records of runs: ``LogBook`` holds ``FlowDetail``s, which hold ``AtomDetail``s.

These are what storage reads and writes and what persistence backends save.
Results and failures are kept as Python values here; backends serialize
them (failures through ``Failure.to_dict``).
"""

from __future__ import annotations

import dataclasses
import datetime
import uuid as uuid_mod
from collections.abc import Iterator
from typing import Any, ClassVar

from opsflow import states
from opsflow.types.failure import Failure

__all__ = ["AtomDetail", "FlowDetail", "LogBook", "RetryDetail", "TaskDetail"]


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def new_uuid() -> str:
    return str(uuid_mod.uuid4())


@dataclasses.dataclass(eq=False, slots=True)
class AtomDetail:
    """The state, intention, result and failures of one atom in one run."""

    name: str
    uuid: str = dataclasses.field(default_factory=new_uuid)
    state: str = states.PENDING
    intention: str = states.EXECUTE
    results: Any = None
    failure: Failure | None = None
    revert_results: Any = None
    revert_failure: Failure | None = None
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)
    version: tuple[int, ...] | None = None

    kind: ClassVar[str] = "atom"

    def __post_init__(self) -> None:
        """Subclasses set their own defaults here."""

    def reset(self, state: str = states.PENDING) -> None:
        """Forget the outcome; the atom is to run afresh."""
        self.state = state
        self.intention = states.EXECUTE
        self.results = None
        self.failure = None
        self.revert_results = None
        self.revert_failure = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "uuid": self.uuid,
            "kind": self.kind,
            "state": str(self.state),
            "intention": str(self.intention),
            "results": self.results,
            "failure": self.failure.to_dict() if self.failure else None,
            "revert_results": self.revert_results,
            "revert_failure": self.revert_failure.to_dict()
            if self.revert_failure
            else None,
            "meta": self.meta,
            "version": list(self.version) if self.version else None,
        }


class TaskDetail(AtomDetail):
    """Details of a task."""

    __slots__ = ()
    kind: ClassVar[str] = "task"


class RetryDetail(AtomDetail):
    """Details of a retry controller; ``results`` is its history."""

    __slots__ = ()
    kind: ClassVar[str] = "retry"

    def __post_init__(self) -> None:
        if self.results is None:
            self.results = []

    def reset(self, state: str = states.PENDING) -> None:
        super().reset(state)
        self.results = []

    @property
    def last_outcome(self) -> Any:
        return self.results[-1][0] if self.results else None


@dataclasses.dataclass(eq=False)
class FlowDetail:
    """One run of a flow: its state, its store and each atom's details."""

    name: str
    uuid: str = dataclasses.field(default_factory=new_uuid)
    state: str | None = None
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)
    atoms: dict[str, AtomDetail] = dataclasses.field(default_factory=dict)
    created_at: datetime.datetime = dataclasses.field(default_factory=_now)
    updated_at: datetime.datetime = dataclasses.field(default_factory=_now)

    def add(self, detail: AtomDetail) -> None:
        self.atoms[detail.name] = detail

    def find(self, key: str) -> AtomDetail | None:
        """The atom detail with this uuid (or, for convenience, this name)."""
        detail = self.atoms.get(key)
        if detail is not None:
            return detail
        return next((d for d in self.atoms.values() if d.uuid == key), None)

    def __iter__(self) -> Iterator[AtomDetail]:
        return iter(self.atoms.values())

    def __len__(self) -> int:
        return len(self.atoms)


@dataclasses.dataclass(eq=False)
class LogBook:
    """A named collection of flow details (runs)."""

    name: str
    uuid: str = dataclasses.field(default_factory=new_uuid)
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)
    flows: dict[str, FlowDetail] = dataclasses.field(default_factory=dict)
    created_at: datetime.datetime = dataclasses.field(default_factory=_now)
    updated_at: datetime.datetime = dataclasses.field(default_factory=_now)

    def add(self, flow_detail: FlowDetail) -> None:
        self.flows[flow_detail.uuid] = flow_detail

    def find(self, flow_uuid: str) -> FlowDetail | None:
        """The flow detail with this uuid."""
        return self.flows.get(flow_uuid)

    def __iter__(self) -> Iterator[FlowDetail]:
        return iter(self.flows.values())

    def __len__(self) -> int:
        return len(self.flows)
