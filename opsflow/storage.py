"""Storage: the run's memory, read and written by every engine stage.

It wraps one :class:`~opsflow.persistence.models.FlowDetail` (flow state,
metadata, one ``AtomDetail`` per atom) and is the only place that changes
it. Every change is handed to the persistence seam (a backend's connection,
when the storage has one) before the engine moves on; engine stages that
change a detail in place record it with :meth:`Storage.save_atom_detail`.

Values injected for the whole flow are kept in the flow detail's metadata
(``meta["store"]``); values injected for one atom in that atom's metadata
(``meta["injected"]``). Transient values (secrets, live objects) live in
this object only and are never saved. Secrets
(:meth:`Storage.inject_secrets`) are transient values whose text is also
scrubbed from every result and ``Failure`` recorded here
(:mod:`opsflow.redaction`), before the backend, the listeners or anyone
reading this storage sees it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from opsflow import exceptions, states
from opsflow.atom import WHOLE_RESULT, Atom
from opsflow.persistence import models
from opsflow.persistence.uuids import random_uuids
from opsflow.redaction import NO_SECRETS, Redactor
from opsflow.retry import History, Retry
from opsflow.types.failure import Failure

if TYPE_CHECKING:
    from opsflow.persistence.base import Backend, Connection

__all__ = ["Storage"]

#: States in which an atom's execute result is readable.
_EXECUTE_STATES_WITH_RESULTS = frozenset(
    {states.SUCCESS, states.FAILURE, states.REVERTING}
)
#: States in which an atom's revert result is readable.
_REVERT_STATES_WITH_RESULTS = frozenset(
    {states.REVERTED, states.REVERT_FAILURE, states.REVERTING}
)

#: Flow detail meta key holding the values injected for the whole flow.
STORE_META_KEY = "store"
#: Atom detail meta keys: values injected for that atom, its progress.
META_INJECTED = "injected"
META_PROGRESS = "progress"
META_PROGRESS_DETAILS = "progress_details"

#: ``(flow detail, atom detail or None for the flow's own fields)``
Saver = Callable[[models.FlowDetail, models.AtomDetail | None], None]
#: Atom name -> the names of the atoms it may read from, nearest scope first.
ScopeFetcher = Callable[[str], Iterable[Iterable[str]]]


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


def _pairs(values: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> dict[str, Any]:
    return dict(values.items() if isinstance(values, Mapping) else values)


def backend_saver(backend: Backend, connection: Connection | None = None) -> Saver:
    """Write-through to ``backend`` (on ``connection``, or a new one of it):
    each atom as it changes, the flow's own fields."""
    if connection is None:
        connection = backend.get_connection()

    def save(
        flow_detail: models.FlowDetail, atom_detail: models.AtomDetail | None
    ) -> None:
        if atom_detail is None:
            connection.save_flow_detail(flow_detail)
        else:
            connection.save_atom_detail(flow_detail, atom_detail)

    return save


class Storage:
    """Reads and writes the details of one run.

    ``backend`` (a persistence backend) makes every change write through to
    it; ``saver`` does the same with any callable. With neither, the run is
    kept in memory only.
    """

    #: Name under which :meth:`save` and :meth:`get` reach the values
    #: injected for the whole flow (``save(injector_name, {})`` forgets them).
    injector_name = "_opsflow_injector"

    def __init__(
        self,
        flow_detail: models.FlowDetail,
        backend: Backend | None = None,
        scope_fetcher: ScopeFetcher | None = None,
        saver: Saver | None = None,
    ) -> None:
        self._flow_detail = flow_detail
        self._backend = backend
        if saver is None and backend is not None:
            saver = backend_saver(backend)
        self._saver = saver
        self._scope_fetcher = scope_fetcher
        self._by_name: dict[str, models.AtomDetail] = {d.name: d for d in flow_detail}
        self._transient: dict[str, Any] = {}
        self._atom_transient: dict[str, dict[str, Any]] = {}
        #: Whether any atom has values injected for it alone (the engine
        #: looks them up for every argument only then).
        self.has_atom_injections = any(d.meta.get(META_INJECTED) for d in flow_detail)
        self._save_as: dict[str, dict[str, Any]] = {}
        self._redactor: Redactor = NO_SECRETS
        self.lock = threading.RLock()

    # -- the run --------------------------------------------------------
    @property
    def flow_detail(self) -> models.FlowDetail:
        """The record of this run."""
        return self._flow_detail

    # The record under the name TaskFlow's own tests and programs read.
    _flowdetail = flow_detail

    @property
    def backend(self) -> Backend | None:
        """The persistence backend written through to (None: memory only)."""
        return self._backend

    @property
    def flow_uuid(self) -> str:
        return self._flow_detail.uuid

    @property
    def flow_name(self) -> str:
        return self._flow_detail.name

    @property
    def flow_meta(self) -> dict[str, Any]:
        """The run's metadata (a copy)."""
        return dict(self._flow_detail.meta)

    def get_flow_state(self) -> str:
        """The flow's state (PENDING before the first run)."""
        return self._flow_detail.state or states.PENDING

    def set_flow_state(self, state: str) -> None:
        self._flow_detail.state = state
        self._save_flow()

    def change_flow_state(self, state: str) -> tuple[bool, str]:
        """Move the flow to ``state`` if allowed: ``(moved, old state)``."""
        with self.lock:
            old_state = self.get_flow_state()
            if not states.check_flow_transition(old_state, state):
                return False, old_state
            self.set_flow_state(state)
            return True, old_state

    def update_flow_metadata(self, update: Mapping[str, Any] | None) -> None:
        if update:
            self._flow_detail.meta.update(update)
            self._save_flow()

    @property
    def redactor(self) -> Redactor:
        """Scrubs this run's secrets from what is recorded (none: a no-op)."""
        return self._redactor

    # -- atoms ----------------------------------------------------------
    def ensure_atoms(self, atoms: Iterable[Atom]) -> list[str]:
        """A detail record for each atom (kept as is when resuming); their uuids."""
        uuids = []
        fresh = random_uuids()
        by_name = self._by_name
        save_as = self._save_as
        add = self._flow_detail.add
        save = None if self._saver is None else self._save_atom
        # A flow's atoms are of a handful of classes and share a version or
        # two: each is looked at once.
        kinds: dict[type, type[models.AtomDetail]] = {}
        version: Any = None
        stored_version: str | None = None
        with self.lock:
            for atom in atoms:
                kind = kinds.get(type(atom))
                if kind is None:
                    kind = kinds[type(atom)] = _detail_class(atom)
                name = atom.name
                if not name:
                    raise ValueError(f"{kind.kind.capitalize()} name must be non-empty")
                save_as[name] = atom.save_as
                detail = by_name.get(name)
                if detail is None:
                    if atom.version is not version:
                        version = atom.version
                        stored_version = models.version_string(version)
                    uuid = next(fresh)
                    detail = kind(name, uuid, version=stored_version)
                    add(detail)
                    by_name[name] = detail
                    if save is not None:
                        save(detail)
                    uuids.append(uuid)
                    continue
                if not isinstance(detail, kind):
                    raise exceptions.Duplicate(
                        f"Atom detail '{name}' already exists in flow detail "
                        f"'{self.flow_name}' as a {type(detail).__name__}"
                    )
                uuids.append(detail.uuid)
        return uuids

    def ensure_atom(self, atom: Atom) -> str:
        """A detail record for ``atom``; returns its uuid."""
        return self.ensure_atoms([atom])[0]

    def atom_detail(self, name: str) -> models.AtomDetail:
        detail = self._by_name.get(name)
        if detail is None:
            raise exceptions.NotFound(f"Unknown atom name '{name}'")
        return detail

    def atom_details(self, names: Iterable[str]) -> list[models.AtomDetail]:
        """The detail record of each atom named, in order."""
        by_name = self._by_name
        try:
            return [by_name[name] for name in names]
        except KeyError as missing:
            raise exceptions.NotFound(
                f"Unknown atom name '{missing.args[0]}'"
            ) from None

    def get_atom_uuid(self, name: str) -> str:
        return self.atom_detail(name).uuid

    def get_atom_state(self, name: str) -> str:
        return self.atom_detail(name).state

    def get_atoms_states(self, names: Iterable[str]) -> dict[str, tuple[str, str]]:
        """``{name: (state, intention)}``."""
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

    def update_atom_metadata(self, name: str, update: Mapping[str, Any] | None) -> None:
        detail = self.atom_detail(name)
        if update:
            detail.meta.update(update)
            self._save_atom(detail)

    def reset(self, name: str, state: str = states.PENDING) -> None:
        """Forget an atom's outcome (nothing to do if it is in ``state``)."""
        if name == self.injector_name:
            return
        detail = self.atom_detail(name)
        if detail.state != state:
            detail.reset(state)
            self._save_atom(detail)

    # -- progress ---------------------------------------------------------
    def set_task_progress(
        self, name: str, progress: float, details: Mapping[str, Any] | None = None
    ) -> None:
        """Record progress; ``details`` ``{}`` forgets earlier details."""
        detail = self.atom_detail(name)
        detail.meta[META_PROGRESS] = progress
        if details is not None:
            detail.meta[META_PROGRESS_DETAILS] = (
                {
                    "at_progress": progress,
                    "details": self._redactor.value(dict(details)),
                }
                if details
                else None
            )
        self._save_atom(detail)

    def note_task_progress(self, name: str, progress: float) -> None:
        """Set progress to be written with the atom's next save.

        The engine's own 0.0 (starting) and 1.0 (done) travel with the state
        change they belong to: one write, not two.
        """
        self.atom_detail(name).meta[META_PROGRESS] = progress

    def get_task_progress(self, name: str) -> float:
        return float(self.atom_detail(name).meta.get(META_PROGRESS, 0.0))

    def get_task_progress_details(self, name: str) -> dict[str, Any] | None:
        """``{"at_progress", "details"}`` of the last progress with details."""
        details: dict[str, Any] | None = self.atom_detail(name).meta.get(
            META_PROGRESS_DETAILS
        )
        return details

    # -- results ----------------------------------------------------------
    def save(self, name: str, result: Any, state: str = states.SUCCESS) -> Any:
        """Record an outcome reached in ``state``.

        SUCCESS and FAILURE are what ``execute`` did (a result, a
        ``Failure``), REVERTED and REVERT_FAILURE what ``revert`` did.
        ``save(injector_name, values)`` replaces the flow's injected values.
        Returns what was recorded: ``result`` with the run's secrets scrubbed.
        """
        if name == self.injector_name:
            self._store.clear()
            self._store.update(result or {})
            self._save_flow()
            return result
        return self.record(self.atom_detail(name), result, state)

    def record(self, detail: models.AtomDetail, result: Any, state: str) -> Any:
        """:meth:`save` (or :meth:`save_revert`) of an outcome, given the
        detail itself (as the engine holds it) rather than its name."""
        result = self._redactor.outcome(result)
        detail.put(state, result)
        self._save_atom(detail)
        return result

    def save_revert(self, name: str, result: Any, state: str) -> Any:
        """Record a revert outcome: a result, or a ``Failure`` (REVERT_FAILURE).

        Returns what was recorded: ``result`` with the run's secrets scrubbed.
        """
        result = self._redactor.outcome(result)
        detail = self.atom_detail(name)
        detail.put(state, result)
        if state == states.REVERTED and isinstance(detail, models.RetryDetail):
            detail.results = []  # a reverted controller starts its history anew
        self._save_atom(detail)
        return result

    def get_execute_result(self, name: str) -> Any:
        """The atom's execute result, or its ``Failure``; ``NotFound`` if none yet."""
        if name == self.injector_name:
            return dict(self._store)
        detail = self.atom_detail(name)
        if detail.failure is not None:
            return detail.failure
        if detail.state not in _EXECUTE_STATES_WITH_RESULTS:
            why = " (as it was ignored)" if detail.state == states.IGNORE else ""
            raise exceptions.NotFound(
                f"Result for atom '{name}' execution is not known{why}"
            )
        return detail.last_results

    get = get_execute_result

    def has_result(self, name: str) -> bool:
        detail = self._by_name.get(name)
        return detail is not None and detail.state == states.SUCCESS

    def get_revert_result(self, name: str) -> Any:
        """What ``revert`` returned (or its ``Failure``); ``NotFound`` if none yet."""
        detail = self.atom_detail(name)
        if detail.revert_failure is not None:
            return detail.revert_failure
        if detail.state not in _REVERT_STATES_WITH_RESULTS:
            why = " (as it was ignored)" if detail.state == states.IGNORE else ""
            raise exceptions.NotFound(
                f"Result for atom '{name}' revert is not known{why}"
            )
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

    def has_failures(self) -> bool:
        """Whether any execute or revert failure is recorded."""
        return any(
            d.failure is not None or d.revert_failure is not None
            for d in self._flow_detail
        )

    # -- retries ----------------------------------------------------------
    def _retry_detail(self, name: str) -> models.RetryDetail:
        detail = self.atom_detail(name)
        if not isinstance(detail, models.RetryDetail):
            raise exceptions.NotFound(f"Atom '{name}' is not a retry controller")
        return detail

    def get_retry_history(self, name: str) -> History:
        """The attempts so far of retry controller ``name``."""
        detail = self._retry_detail(name)
        return History(detail.results, failure=detail.failure)

    def get_retry_histories(self) -> list[tuple[str, History]]:
        """``(name, history)`` of every retry controller."""
        return [
            (d.name, History(d.results, failure=d.failure))
            for d in self._flow_detail
            if isinstance(d, models.RetryDetail)
        ]

    def save_retry_failure(
        self, retry_name: str, atom_name: str, failure: Failure
    ) -> None:
        """Add ``failure`` of ``atom_name`` to the latest attempt of ``retry_name``."""
        detail = self._retry_detail(retry_name)
        if detail.results and atom_name not in detail.results[-1][1]:
            detail.results[-1][1][atom_name] = self._redactor.failure(failure)
            self._save_atom(detail)

    def cleanup_retry_history(self, name: str, state: str) -> None:
        """Forget a controller's attempts and put it in ``state``."""
        detail = self._retry_detail(name)
        detail.state = state
        detail.results = []
        self._save_atom(detail)

    # -- injected values --------------------------------------------------
    @property
    def _store(self) -> dict[str, Any]:
        return self._flow_detail.meta.setdefault(STORE_META_KEY, {})

    def inject(
        self,
        values: Mapping[str, Any] | Iterable[tuple[str, Any]],
        transient: bool = False,
    ) -> None:
        """Add flow-wide values; ``transient`` ones (secrets) are never saved."""
        pairs = _pairs(values)
        with self.lock:
            if transient:
                self._transient.update(pairs)
            else:
                self._store.update(pairs)
                self._save_flow()

    def inject_atom_args(
        self,
        atom_name: str,
        values: Mapping[str, Any] | Iterable[tuple[str, Any]],
        transient: bool = True,
    ) -> None:
        """Add values only ``atom_name`` sees; they win over every other source."""
        detail = self.atom_detail(atom_name)
        pairs = _pairs(values)
        with self.lock:
            self.has_atom_injections = True
            if transient:
                self._atom_transient.setdefault(atom_name, {}).update(pairs)
            else:
                injected = dict(detail.meta.get(META_INJECTED) or {})
                injected.update(pairs)
                detail.meta[META_INJECTED] = injected
                self._save_atom(detail)

    def atom_injected(self, atom_name: str) -> Mapping[str, Any]:
        """The values injected for ``atom_name`` only (transient ones first)."""
        detail = self._by_name.get(atom_name)
        persistent = detail.meta.get(META_INJECTED) if detail is not None else None
        transient = self._atom_transient.get(atom_name)
        if not transient:
            return persistent or {}
        return {**(persistent or {}), **transient}

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

    # -- looking values up --------------------------------------------------
    def _provided(self, detail: models.AtomDetail, name: str) -> tuple[bool, Any]:
        """``(found, value)`` of ``name`` in what ``detail``'s atom produced."""
        key = self._save_as.get(detail.name, {})
        if name not in key or detail.state != states.SUCCESS:
            return False, None
        return True, extract(self.get(detail.name), key[name], detail.name, name)

    def fetch(self, name: str) -> Any:
        """The value named ``name``: injected, else the first atom providing it."""
        found, value = self.injected(name)
        if found:
            return value
        for detail in self._flow_detail:
            found, value = self._provided(detail, name)
            if found:
                return value
        raise exceptions.NotFound(f"Name {name!r} is not mapped")

    def fetch_all(self) -> dict[str, Any]:
        """Every named value; a name provided several times maps to a list."""
        values: dict[str, list[Any]] = {}
        for name, value in (*self._store.items(), *self._transient.items()):
            values.setdefault(name, []).append(value)
        for detail in self._flow_detail:
            # A failure stays visible under the names its atom would have
            # provided; a result only while it stands (not once reverted).
            if (
                detail.failure is None
                and detail.state not in _EXECUTE_STATES_WITH_RESULTS
            ):
                continue
            result = self.get(detail.name)
            for name, key in self._save_as.get(detail.name, {}).items():
                try:
                    value = extract(result, key, detail.name, name)
                except exceptions.NotFound:
                    continue
                values.setdefault(name, []).append(value)
        return {name: v[0] if len(v) == 1 else v for name, v in values.items()}

    def _visible_providers(self, atom_name: str | None) -> list[str]:
        if atom_name is None or self._scope_fetcher is None:
            return []
        return [name for level in self._scope_fetcher(atom_name) for name in level]

    def fetch_mapped_args(
        self,
        args_mapping: Mapping[str, str],
        atom_name: str | None = None,
        scope_walker: Iterable[Iterable[str]] | None = None,
        optional_args: Iterable[str] | None = None,
    ) -> dict[str, Any]:
        """Arguments ``{parameter: value}`` for ``{parameter: value name}``.

        Sources, first found wins: values injected for ``atom_name``, values
        injected for the flow, then the atoms ``atom_name`` may read from
        (``scope_walker``, or the engine's scopes), nearest first.
        """
        optional = set(optional_args or ())
        atom_values = self.atom_injected(atom_name) if atom_name else {}
        if scope_walker is not None:
            visible = [name for level in scope_walker for name in level]
        else:
            visible = self._visible_providers(atom_name)
        arguments: dict[str, Any] = {}
        for param, name in args_mapping.items():
            if name in atom_values:
                arguments[param] = atom_values[name]
                continue
            found, value = self.injected(name)
            if not found:
                for provider in visible:
                    detail = self._by_name.get(provider)
                    if detail is not None:
                        found, value = self._provided(detail, name)
                        if found:
                            break
            if found:
                arguments[param] = value
            elif param not in optional:
                raise exceptions.NotFound(
                    f"Mapped argument {param!r} <= {name!r} was not produced by any"
                    " accessible provider"
                )
        return arguments

    def fetch_unsatisfied_args(
        self,
        atom_name: str,
        args_mapping: Mapping[str, str],
        scope_walker: Iterable[Iterable[str]] | None = None,
        optional_args: Iterable[str] | None = None,
    ) -> set[str]:
        """Parameters of ``args_mapping`` that no source will be able to give.

        A visible atom that provides the name counts, whether or not it has
        run yet.
        """
        self.atom_detail(atom_name)
        optional = set(optional_args or ())
        atom_values = self.atom_injected(atom_name)
        if scope_walker is not None:
            visible = [name for level in scope_walker for name in level]
        else:
            visible = self._visible_providers(atom_name)
        missing = set()
        for param, name in args_mapping.items():
            if param in optional or name in atom_values or self.injected(name)[0]:
                continue
            if not any(name in self._save_as.get(p, {}) for p in visible):
                missing.add(param)
        return missing

    # -- the persistence seam ----------------------------------------------
    def write_through(
        self, backend: Backend, book: models.LogBook | None = None
    ) -> None:
        """Save the run in ``backend`` (in ``book``, or a logbook of its own),
        then write every change there.

        For a run first kept in memory only (built and checked before it was
        recorded): the same storage, engine and compiled flow go on.
        """
        connection = backend.get_connection()
        if book is None:
            book = models.LogBook(name=self._flow_detail.name)
        if book.find(self._flow_detail.uuid) is None:
            book.add(self._flow_detail)
        connection.save_logbook(book)
        self._backend = backend
        self._saver = backend_saver(backend, connection)

    def save_atom_detail(self, detail: models.AtomDetail) -> None:
        """Write ``detail`` (changed in place by an engine stage) through."""
        if self._saver is not None:
            self._saver(self._flow_detail, detail)

    _save_atom = save_atom_detail

    def _save_flow(self) -> None:
        if self._saver is not None:
            self._saver(self._flow_detail, None)


def _detail_class(atom: Atom) -> type[models.AtomDetail]:
    if isinstance(atom, Retry):
        return models.RetryDetail
    if isinstance(atom, Atom):
        return models.TaskDetail
    raise TypeError(f"Unknown atom '{atom}' ({type(atom)}) requested to ensure")
