"""Storage: the run's memory, read and written by every engine stage.

It wraps one :class:`~opsflow.persistence.models.FlowDetail` (flow state,
store, one ``AtomDetail`` per atom) and is the only place that changes it.
Every change goes through :meth:`Storage._save_atom` / ``_save_flow``, the
seam where a persistence backend writes the record before the engine moves
on. Transient values live here only and are never saved. Secrets
(:meth:`Storage.inject_secrets`) are transient values whose text is also
scrubbed from every result and ``Failure`` recorded here
(:mod:`opsflow.redaction`), before the backend, the listeners or anyone
reading this storage sees it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from opsflow import exceptions, states
from opsflow.atom import WHOLE_RESULT, Atom
from opsflow.persistence import models
from opsflow.redaction import NO_SECRETS, Redactor
from opsflow.retry import History, Retry
from opsflow.types.failure import Failure

__all__ = ["Storage"]

#: States in which an atom's execute result is readable.
_RESULT_STATES = frozenset({states.SUCCESS, states.FAILURE, states.REVERTING})

#: Store key of the flow detail's meta under which injected values are kept.
STORE_META_KEY = "store"


def extract(result: Any, key: Any, atom_name: str, value_name: str) -> Any:
    """The part of ``result`` an atom provides as ``value_name``."""
    if key is WHOLE_RESULT:
        return result
    try:
        return result[key]
    except (IndexError, KeyError, TypeError) as exc:
        raise exceptions.NotFound(
            f"Unable to find result {value_name!r}: atom {atom_name!r} returned"
            f" {type(result).__name__} without item {key!r}"
        ) from exc


class Storage:
    """Reads and writes the details of one run."""

    def __init__(
        self,
        flow_detail: models.FlowDetail,
        saver: Callable[[models.FlowDetail, models.AtomDetail | None], None]
        | None = None,
    ) -> None:
        self._flow_detail = flow_detail
        self._saver = saver
        self._transient: dict[str, Any] = {}
        self._save_as: dict[str, dict[str, Any]] = {}
        self._redactor: Redactor = NO_SECRETS
        self.lock = threading.RLock()

    # -- the run --------------------------------------------------------
    @property
    def flow_detail(self) -> models.FlowDetail:
        """The record of this run."""
        return self._flow_detail

    @property
    def flow_uuid(self) -> str:
        return self._flow_detail.uuid

    @property
    def flow_name(self) -> str:
        return self._flow_detail.name

    def get_flow_state(self) -> str:
        """The flow's state (PENDING before the first run)."""
        return self._flow_detail.state or states.PENDING

    def set_flow_state(self, state: str) -> None:
        self._flow_detail.state = state
        self._save_flow()

    def update_flow_metadata(self, update: Mapping[str, Any]) -> None:
        self._flow_detail.meta.update(update)
        self._save_flow()

    @property
    def redactor(self) -> Redactor:
        """Scrubs this run's secrets from what is recorded (none: a no-op)."""
        return self._redactor

    # -- atoms ----------------------------------------------------------
    def ensure_atoms(self, atoms: Iterable[Atom]) -> None:
        """Make sure each atom has a detail record (kept as is when resuming)."""
        for atom in atoms:
            assert atom.name is not None  # the compiler refuses nameless atoms
            self._save_as[atom.name] = atom.save_as
            detail = self._flow_detail.atoms.get(atom.name)
            if detail is None:
                kind = (
                    models.RetryDetail if isinstance(atom, Retry) else models.TaskDetail
                )
                detail = kind(name=atom.name, version=tuple(atom.version))
                self._flow_detail.add(detail)
                self._save_atom(detail)

    def atom_detail(self, name: str) -> models.AtomDetail:
        detail = self._flow_detail.atoms.get(name)
        if detail is None:
            raise exceptions.NotFound(f"Unknown atom name '{name}'")
        return detail

    def get_atom_uuid(self, name: str) -> str:
        return self.atom_detail(name).uuid

    def get_atom_state(self, name: str) -> str:
        return self.atom_detail(name).state

    def get_atoms_states(self, names: Iterable[str]) -> dict[str, tuple[str, str]]:
        return {
            name: (self.atom_detail(name).state, self.atom_detail(name).intention)
            for name in names
        }

    def set_atom_state(self, name: str, state: str) -> None:
        detail = self.atom_detail(name)
        detail.state = state
        self._save_atom(detail)

    def get_atom_intention(self, name: str) -> str:
        return self.atom_detail(name).intention

    def set_atom_intention(self, name: str, intention: str) -> None:
        detail = self.atom_detail(name)
        detail.intention = intention
        self._save_atom(detail)

    def update_atom_metadata(self, name: str, update: Mapping[str, Any]) -> None:
        detail = self.atom_detail(name)
        detail.meta.update(update)
        self._save_atom(detail)

    def set_task_progress(
        self, name: str, progress: float, details: Mapping[str, Any] | None = None
    ) -> None:
        detail = self.atom_detail(name)
        detail.meta["progress"] = progress
        if details:
            detail.meta["progress_details"] = {
                "at_progress": progress,
                "details": self._redactor.value(dict(details)),
            }
        self._save_atom(detail)

    def get_task_progress(self, name: str) -> float:
        return float(self.atom_detail(name).meta.get("progress", 0.0))

    # -- results ----------------------------------------------------------
    def save(self, name: str, result: Any, state: str = states.SUCCESS) -> Any:
        """Record an execute outcome: a result, or a ``Failure`` (state FAILURE).

        Returns what was recorded: ``result`` with the run's secrets scrubbed.
        """
        result = self._redactor.outcome(result)
        detail = self.atom_detail(name)
        detail.state = state
        if isinstance(result, Failure):
            detail.failure = result
            if not isinstance(detail, models.RetryDetail):  # a history stays
                detail.results = None
        else:
            detail.failure = None
            if isinstance(detail, models.RetryDetail):
                detail.results.append((result, {}))
            else:
                detail.results = result
        self._save_atom(detail)
        return result

    def save_revert(self, name: str, result: Any, state: str) -> Any:
        """Record a revert outcome: a result, or a ``Failure`` (REVERT_FAILURE).

        Returns what was recorded: ``result`` with the run's secrets scrubbed.
        """
        result = self._redactor.outcome(result)
        detail = self.atom_detail(name)
        detail.state = state
        if isinstance(result, Failure):
            detail.revert_failure = result
        else:
            detail.revert_results = result
            detail.revert_failure = None
            if isinstance(detail, models.RetryDetail):
                detail.results = []
        self._save_atom(detail)
        return result

    def get(self, name: str) -> Any:
        """The atom's execute result (or its ``Failure``)."""
        detail = self.atom_detail(name)
        if detail.failure is not None:
            return detail.failure
        if isinstance(detail, models.RetryDetail):
            return detail.last_outcome
        return detail.results

    def has_result(self, name: str) -> bool:
        detail = self._flow_detail.atoms.get(name)
        return detail is not None and detail.state == states.SUCCESS

    def get_revert_result(self, name: str) -> Any:
        """What ``revert`` returned (or its ``Failure``); ``NotFound`` if none."""
        detail = self.atom_detail(name)
        if detail.revert_failure is not None:
            return detail.revert_failure
        if detail.state != states.REVERTED:
            raise exceptions.NotFound(f"Atom {name!r} has not been reverted")
        return detail.revert_results

    def get_execute_failures(self) -> dict[str, Failure]:
        """``{atom: Failure}`` of every atom whose ``execute`` failed."""
        return {d.name: d.failure for d in self._flow_detail if d.failure is not None}

    get_failures = get_execute_failures

    def get_revert_failures(self) -> dict[str, Failure]:
        """``{atom: Failure}`` of every atom whose ``revert`` failed."""
        return {
            d.name: d.revert_failure
            for d in self._flow_detail
            if d.revert_failure is not None
        }

    # -- retries ----------------------------------------------------------
    def get_retry_history(self, name: str) -> History:
        """The attempts so far of retry controller ``name``."""
        detail = self.atom_detail(name)
        if not isinstance(detail, models.RetryDetail):
            raise exceptions.NotFound(f"Atom '{name}' is not a retry controller")
        return History(detail.results, failure=detail.failure)

    def save_retry_failure(
        self, retry_name: str, atom_name: str, failure: Failure
    ) -> None:
        """Add ``failure`` of ``atom_name`` to the latest attempt of ``retry_name``."""
        detail = self.atom_detail(retry_name)
        if detail.results:
            detail.results[-1][1][atom_name] = self._redactor.failure(failure)
            self._save_atom(detail)

    # -- the store ------------------------------------------------------
    @property
    def _store(self) -> dict[str, Any]:
        return self._flow_detail.meta.setdefault(STORE_META_KEY, {})

    def inject(self, values: Mapping[str, Any], transient: bool = False) -> None:
        """Add flow-wide values; ``transient`` ones (secrets) are never saved."""
        if transient:
            self._transient.update(values)
        else:
            self._store.update(values)
            self._save_flow()

    def inject_secrets(self, values: Mapping[str, Any]) -> None:
        """Add secrets: transient values whose text is scrubbed from every
        result and failure recorded from now on (see :mod:`opsflow.redaction`)."""
        self.inject(values, transient=True)
        self._redactor = self._redactor.merged(Redactor.of_secrets(values))

    def injected(self, name: str) -> tuple[bool, Any]:
        """``(found, value)`` of a flow-wide injected value."""
        if name in self._transient:
            return True, self._transient[name]
        store = self._store
        if name in store:
            return True, store[name]
        return False, None

    def injected_values(self) -> dict[str, Any]:
        """Every flow-wide injected value, transient ones included."""
        return {**self._store, **self._transient}

    def fetch(self, name: str) -> Any:
        """The value named ``name``: injected, else the first atom providing it."""
        found, value = self.injected(name)
        if found:
            return value
        for detail in self._flow_detail:
            key = self._save_as.get(detail.name, {})
            if name in key and detail.state == states.SUCCESS:
                return extract(self.get(detail.name), key[name], detail.name, name)
        raise exceptions.NotFound(f"Name {name!r} is not mapped")

    def fetch_all(self) -> dict[str, Any]:
        """Every named value; a name provided several times maps to a list."""
        values: dict[str, list[Any]] = {}
        for name, value in (*self._store.items(), *self._transient.items()):
            values.setdefault(name, []).append(value)
        for detail in self._flow_detail:
            # A failure stays visible under the names its atom would have
            # provided; a result only while it stands (not once reverted).
            if detail.failure is None and detail.state not in _RESULT_STATES:
                continue
            result = self.get(detail.name)
            for name, key in self._save_as.get(detail.name, {}).items():
                try:
                    value = extract(result, key, detail.name, name)
                except exceptions.NotFound:
                    continue
                values.setdefault(name, []).append(value)
        return {name: v[0] if len(v) == 1 else v for name, v in values.items()}

    # -- the persistence seam ----------------------------------------------
    def _save_atom(self, detail: models.AtomDetail) -> None:
        if self._saver is not None:
            self._saver(self._flow_detail, detail)

    def _save_flow(self) -> None:
        if self._saver is not None:
            self._saver(self._flow_detail, None)
