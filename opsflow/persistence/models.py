"""Records of runs: ``LogBook`` holds ``FlowDetail``s, which hold ``AtomDetail``s.

These are what storage reads and writes and what persistence backends save.
Results and failures are kept as Python values here; backends serialize
them (failures through ``Failure.to_dict``).

A flow detail keys its atom details by uuid, as a logbook keys its flow
details: two atom details may share a name (only storage insists that the
atoms of one run have distinct names). ``update`` replaces a record's
fields with another's, ``merge`` takes over the other's fields where they
differ, ``copy`` makes a shallow copy, ``to_dict``/``from_dict`` turn a
record into plain values and back, and ``pformat`` describes it for people.
"""

from __future__ import annotations

import copy as copy_mod
import datetime
import functools
import os
import uuid as uuid_mod
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

from opsflow import exceptions, states
from opsflow.types.failure import Failure

__all__ = [
    "ATOM_TYPES",
    "AtomDetail",
    "FlowDetail",
    "LogBook",
    "RetryDetail",
    "TaskDetail",
    "atom_detail_class",
    "atom_detail_type",
]


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def new_uuid() -> str:
    return str(uuid_mod.uuid4())


def version_string(version: Any) -> str | None:
    """An atom's version (``(1, 0)``, ``"1.0"`` or None) as stored: ``"1.0"``."""
    if version is None or type(version) is str:
        return version
    if isinstance(version, tuple):
        return _dotted(version)
    if isinstance(version, list):
        return _dotted(tuple(version))
    return str(version)


@functools.lru_cache(maxsize=64)
def _dotted(version: tuple[Any, ...]) -> str:
    # A flow's atoms share a handful of versions: each is joined once.
    return ".".join(str(part) for part in version)


def _copier(deep_copy: bool) -> Any:
    return copy_mod.deepcopy if deep_copy else (lambda value: value)


def _format_meta(meta: Mapping[str, Any], indent: int) -> list[str]:
    if not meta:
        return []
    pad = " " * indent
    lines = [f"{pad}- metadata:"]
    for key, value in meta.items():
        if key == "progress" and isinstance(value, int | float):
            value = f"{value * 100.0:0.2f}%"
        lines.append(f"{pad}  + {key} = {value}")
    return lines


class AtomDetail:
    """The state, intention, result and failures of one atom in one run."""

    __slots__ = (
        "_name",
        "_uuid",
        "state",
        "intention",
        "results",
        "failure",
        "revert_results",
        "revert_failure",
        "meta",
        "version",
    )

    #: The kind stored with the record (``task`` or ``retry``).
    kind: ClassVar[str] = "atom"

    def __init__(
        self,
        name: str,
        uuid: str | None = None,
        *,
        state: str = states.PENDING,
        intention: str = states.EXECUTE,
        results: Any = None,
        failure: Failure | None = None,
        revert_results: Any = None,
        revert_failure: Failure | None = None,
        meta: dict[str, Any] | None = None,
        version: Any = None,
    ) -> None:
        self._name = name
        self._uuid = uuid or new_uuid()
        self.state = state
        self.intention = intention
        self.results = results
        self.failure = failure
        self.revert_results = revert_results
        self.revert_failure = revert_failure
        self.meta: dict[str, Any] = meta if meta is not None else {}
        self.version = version_string(version)

    @property
    def name(self) -> str:
        return self._name

    @property
    def uuid(self) -> str:
        return self._uuid

    @property
    def last_results(self) -> Any:
        """The latest execute result."""
        return self.results

    def reset(self, state: str = states.PENDING) -> None:
        """Forget the outcome; the atom is to run afresh."""
        self.state = state
        self.intention = states.EXECUTE
        self.results = None
        self.failure = None
        self.revert_results = None
        self.revert_failure = None

    def put(self, state: str, result: Any) -> bool:
        """Record ``result`` reached in ``state``; returns whether anything changed.

        FAILURE and REVERT_FAILURE take a ``Failure``; SUCCESS an execute
        result; REVERTED a revert result. Each clears what the new state
        makes stale (a new success forgets an old failure, and so on).
        """
        changed = self.state != state
        self.state = state
        if state == states.SUCCESS:
            changed = changed or self.results is not result or self.failure is not None
            self.failure = self.revert_failure = self.revert_results = None
            self.results = result
        elif state == states.FAILURE:
            changed = changed or self.failure is not result or self.results is not None
            self.failure = result
            self.results = self.revert_results = self.revert_failure = None
        elif state == states.REVERTED:
            changed = changed or self.revert_results is not result
            self.revert_failure = None
            self.revert_results = result
        elif state == states.REVERT_FAILURE:
            # The execute result stays: a revert retried after a manual fix
            # (``engine.revert()``) is given it again.
            changed = changed or self.revert_failure is not result
            self.revert_failure = result
            self.revert_results = None
        return changed

    def update(self, other: AtomDetail) -> AtomDetail:
        """Take every field of ``other`` (the same objects); returns self."""
        if other is not self:
            for field in self.__slots__[2:]:
                setattr(self, field, getattr(other, field))
        return self

    def merge(self, other: AtomDetail, deep_copy: bool = False) -> AtomDetail:
        """Take the fields of ``other`` that differ (copied if ``deep_copy``)."""
        if not isinstance(other, type(self)):
            raise NotImplementedError(
                f"Can only merge with other {type(self).__name__} records"
            )
        if other is self:
            return self
        copy_fn = _copier(deep_copy)
        self.state = other.state
        self.intention = other.intention
        for field in ("failure", "revert_failure"):
            theirs = getattr(other, field)
            if getattr(self, field) != theirs:
                setattr(self, field, theirs.copy() if theirs and deep_copy else theirs)
        if self.meta != other.meta:
            self.meta = copy_fn(other.meta)
        if self.version != other.version:
            self.version = other.version
        self._merge_results(other)
        return self

    def _merge_results(self, other: AtomDetail) -> None:
        self.results = other.results
        self.revert_results = other.revert_results

    def copy(self) -> AtomDetail:
        """A shallow copy: results are shared, ``meta`` is a new dict."""
        clone = copy_mod.copy(self)
        clone.meta = dict(self.meta)
        return clone

    def to_dict(self) -> dict[str, Any]:
        """The record as plain values (failures as their dicts)."""
        return {
            "name": self.name,
            "uuid": self.uuid,
            "kind": self.kind,
            "state": None if self.state is None else str(self.state),
            "intention": None if self.intention is None else str(self.intention),
            "results": self.results,
            "failure": self.failure.to_dict() if self.failure else None,
            "revert_results": self.revert_results,
            "revert_failure": self.revert_failure.to_dict()
            if self.revert_failure
            else None,
            "meta": self.meta,
            "version": self.version,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AtomDetail:
        """The record :meth:`to_dict` described."""
        failure = data.get("failure")
        revert_failure = data.get("revert_failure")
        meta = data.get("meta")
        detail = cls(
            data["name"],
            data["uuid"],
            state=data.get("state"),  # type: ignore[arg-type]
            intention=data.get("intention"),  # type: ignore[arg-type]
            results=data.get("results"),
            revert_results=data.get("revert_results"),
            failure=Failure.from_dict(failure) if failure else None,
            revert_failure=Failure.from_dict(revert_failure)
            if revert_failure
            else None,
            meta=dict(meta) if isinstance(meta, Mapping) else {},
            version=data.get("version"),
        )
        return detail

    def pformat(self, indent: int = 0, linesep: str = os.linesep) -> str:
        """A description for people, one field a line."""
        pad = " " * (indent + 1)
        lines = [
            f"{' ' * indent}{type(self).__name__}: '{self.name}'",
            f"{pad}- uuid = {self.uuid}",
            f"{pad}- state = {self.state}",
            f"{pad}- version = {self.version}",
            f"{pad}- results = {self.results}",
            f"{pad}- failure = {bool(self.failure)}",
            *_format_meta(self.meta, indent + 1),
        ]
        return linesep.join(lines)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} {self.uuid} {self.state}>"


class TaskDetail(AtomDetail):
    """Details of a task."""

    __slots__ = ()
    kind: ClassVar[str] = "task"


class RetryDetail(AtomDetail):
    """Details of a retry controller.

    ``results`` is its history: one ``(value, {atom name: Failure})`` pair
    per attempt, the failures being those that made the subflow fail.
    """

    __slots__ = ()
    kind: ClassVar[str] = "retry"

    def __init__(self, name: str, uuid: str | None = None, **fields: Any) -> None:
        super().__init__(name, uuid, **fields)
        if self.results is None:
            self.results = []

    def reset(self, state: str = states.PENDING) -> None:
        super().reset(state)
        self.results = []

    @property
    def last_results(self) -> Any:
        """The value of the latest attempt (``NotFound`` before the first)."""
        if not self.results:
            raise exceptions.NotFound("Last results not found")
        return self.results[-1][0]

    @property
    def last_failures(self) -> dict[str, Failure]:
        """The failures of the latest attempt (``NotFound`` before the first)."""
        if not self.results:
            raise exceptions.NotFound("Last failures not found")
        return self.results[-1][1]

    def put(self, state: str, result: Any) -> bool:
        """As for tasks, except that a SUCCESS adds an attempt to the history."""
        if state == states.SUCCESS:
            self.state = state
            self.failure = self.revert_failure = self.revert_results = None
            self.results.append((result, {}))
            return True
        if state == states.FAILURE:
            # The history stays: it says what the attempts were.
            changed = self.state != state or self.failure is not result
            self.state = state
            self.failure = result
            self.revert_results = self.revert_failure = None
            return changed
        if state == states.REVERT_FAILURE:
            changed = self.state != state or self.revert_failure is not result
            self.state = state
            self.revert_failure = result
            self.revert_results = None
            return changed
        return super().put(state, result)

    def _merge_results(self, other: AtomDetail) -> None:
        self.results = [(value, dict(failures)) for value, failures in other.results]
        self.revert_results = other.revert_results

    def copy(self) -> RetryDetail:
        clone = copy_mod.copy(self)
        clone.meta = dict(self.meta)
        clone.results = [(value, dict(failures)) for value, failures in self.results]
        return clone

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        data["results"] = [
            (value, {name: fail.to_dict() for name, fail in failures.items()})
            for value, failures in self.results or ()
        ]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RetryDetail:
        detail = super().from_dict(data)
        detail.results = [
            (
                value,
                {
                    name: fail if isinstance(fail, Failure) else Failure.from_dict(fail)
                    for name, fail in failures.items()
                },
            )
            for value, failures in detail.results or ()
        ]
        assert isinstance(detail, RetryDetail)
        return detail


#: Stored type names of atom details, as TaskFlow names them.
_TYPE_NAMES: dict[type[AtomDetail], str] = {
    TaskDetail: "TASK_DETAIL",
    RetryDetail: "RETRY_DETAIL",
}
_BY_TYPE_NAME = {name: cls for cls, name in _TYPE_NAMES.items()}
ATOM_TYPES = list(_BY_TYPE_NAME)


def atom_detail_class(atom_type: str) -> type[AtomDetail]:
    """The detail class of a stored type name (``TASK_DETAIL``, ``RETRY_DETAIL``)."""
    try:
        return _BY_TYPE_NAME[atom_type]
    except KeyError:
        raise TypeError(f"Unknown atom type '{atom_type}'") from None


def atom_detail_type(atom_detail: AtomDetail) -> str:
    """The stored type name of ``atom_detail``."""
    try:
        return _TYPE_NAMES[type(atom_detail)]
    except KeyError:
        raise TypeError(f"Unknown atom '{atom_detail}' ({type(atom_detail)})") from None


class FlowDetail:
    """One run of a flow: its state, its metadata and each atom's details."""

    def __init__(
        self,
        name: str,
        uuid: str | None = None,
        *,
        state: str | None = None,
        meta: dict[str, Any] | None = None,
        created_at: datetime.datetime | None = None,
        updated_at: datetime.datetime | None = None,
    ) -> None:
        self._name = name
        self._uuid = uuid or new_uuid()
        self.state = state
        self.meta: dict[str, Any] = meta if meta is not None else {}
        self.created_at = created_at or _now()
        self.updated_at = updated_at or self.created_at
        self._atoms: dict[str, AtomDetail] = {}

    @property
    def name(self) -> str:
        return self._name

    @name.setter
    def name(self, value: str) -> None:
        self._name = value

    @property
    def uuid(self) -> str:
        return self._uuid

    def add(self, detail: AtomDetail) -> None:
        """Add (or replace, for the same uuid) an atom detail."""
        self._atoms[detail.uuid] = detail

    def find(self, atom_uuid: str) -> AtomDetail | None:
        """The atom detail with this uuid, or None."""
        return self._atoms.get(atom_uuid)

    def update(self, other: FlowDetail) -> FlowDetail:
        """Take ``other``'s state, meta and atom details (shared); returns self."""
        if other is not self:
            self._atoms = other._atoms
            self.state = other.state
            self.meta = other.meta
        return self

    def merge(self, other: FlowDetail, deep_copy: bool = False) -> FlowDetail:
        """Take ``other``'s state and meta where they differ (not its atoms)."""
        if other is not self:
            if self.meta != other.meta:
                self.meta = _copier(deep_copy)(other.meta)
            self.state = other.state
        return self

    def copy(self, retain_contents: bool = True) -> FlowDetail:
        """A shallow copy, with the same atom details or (``False``) none."""
        clone = copy_mod.copy(self)
        clone._atoms = dict(self._atoms) if retain_contents else {}
        clone.meta = dict(self.meta)
        return clone

    def to_dict(self) -> dict[str, Any]:
        """The record's own fields as plain values (atom details not included)."""
        return {
            "name": self.name,
            "meta": self.meta,
            "state": self.state,
            "uuid": self.uuid,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FlowDetail:
        """The record :meth:`to_dict` described (with no atom details)."""
        meta = data.get("meta")
        return cls(
            data["name"],
            data["uuid"],
            state=data.get("state"),
            meta=dict(meta) if isinstance(meta, Mapping) else {},
        )

    def pformat(self, indent: int = 0, linesep: str = os.linesep) -> str:
        """A description for people, its atom details indented under it."""
        pad = " " * (indent + 1)
        lines = [
            f"{' ' * indent}{type(self).__name__}: '{self.name}'",
            f"{pad}- uuid = {self.uuid}",
            f"{pad}- state = {self.state}",
            *_format_meta(self.meta, indent + 1),
        ]
        lines += [detail.pformat(indent + 1, linesep) for detail in self]
        return linesep.join(lines)

    def __iter__(self) -> Iterator[AtomDetail]:
        return iter(list(self._atoms.values()))

    def __len__(self) -> int:
        return len(self._atoms)

    def __repr__(self) -> str:
        return f"<FlowDetail {self.name} {self.uuid} {self.state}>"


class LogBook:
    """A named collection of flow details (runs).

    ``updated_at`` is None until a flow detail is added.
    """

    def __init__(
        self,
        name: str,
        uuid: str | None = None,
        *,
        meta: dict[str, Any] | None = None,
        created_at: datetime.datetime | None = None,
        updated_at: datetime.datetime | None = None,
    ) -> None:
        self._name = name
        self._uuid = uuid or new_uuid()
        self.meta: dict[str, Any] = meta if meta is not None else {}
        self.created_at = created_at or _now()
        self.updated_at = updated_at
        self._flows: dict[str, FlowDetail] = {}

    @property
    def name(self) -> str:
        return self._name

    @property
    def uuid(self) -> str:
        return self._uuid

    def add(self, flow_detail: FlowDetail) -> None:
        """Add (or replace, for the same uuid) a flow detail."""
        self._flows[flow_detail.uuid] = flow_detail
        self.updated_at = _now()

    def find(self, flow_uuid: str) -> FlowDetail | None:
        """The flow detail with this uuid, or None."""
        return self._flows.get(flow_uuid)

    def merge(self, other: LogBook, deep_copy: bool = False) -> LogBook:
        """Take ``other``'s meta and times where they differ (not its flows)."""
        if other is not self:
            if self.meta != other.meta:
                self.meta = _copier(deep_copy)(other.meta)
            self.created_at = other.created_at
            self.updated_at = other.updated_at
        return self

    def copy(self, retain_contents: bool = True) -> LogBook:
        """A shallow copy, with the same flow details or (``False``) none."""
        clone = copy_mod.copy(self)
        clone._flows = dict(self._flows) if retain_contents else {}
        clone.meta = dict(self.meta)
        return clone

    def to_dict(self, marshal_time: bool = False) -> dict[str, Any]:
        """The record's own fields (flow details not included).

        With ``marshal_time`` the times are seconds since the epoch.
        """

        def when(value: datetime.datetime | None) -> Any:
            if not marshal_time or value is None:
                return value
            return value.timestamp()

        return {
            "name": self.name,
            "meta": self.meta,
            "uuid": self.uuid,
            "updated_at": when(self.updated_at),
            "created_at": when(self.created_at),
        }

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], unmarshal_time: bool = False
    ) -> LogBook:
        """The record :meth:`to_dict` described (with no flow details)."""

        def when(value: Any) -> datetime.datetime | None:
            if not unmarshal_time or value is None:
                return value  # type: ignore[no-any-return]
            return datetime.datetime.fromtimestamp(value, datetime.UTC)

        meta = data.get("meta")
        book = cls(
            data["name"],
            data["uuid"],
            meta=dict(meta) if isinstance(meta, Mapping) else {},
            created_at=when(data.get("created_at")),
        )
        book.updated_at = when(data.get("updated_at"))
        return book

    def pformat(self, indent: int = 0, linesep: str = os.linesep) -> str:
        """A description for people, its flow details indented under it."""
        pad = " " * (indent + 1)
        lines = [
            f"{' ' * indent}{type(self).__name__}: '{self.name}'",
            f"{pad}- uuid = {self.uuid}",
            *_format_meta(self.meta, indent + 1),
        ]
        if self.created_at is not None:
            lines.append(f"{pad}- created_at = {self.created_at.isoformat()}")
        if self.updated_at is not None:
            lines.append(f"{pad}- updated_at = {self.updated_at.isoformat()}")
        lines += [flow.pformat(indent + 1, linesep) for flow in self]
        return linesep.join(lines)

    def __iter__(self) -> Iterator[FlowDetail]:
        return iter(list(self._flows.values()))

    def __len__(self) -> int:
        return len(self._flows)

    def __repr__(self) -> str:
        return f"<LogBook {self.name} {self.uuid}>"
