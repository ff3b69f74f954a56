"""What each page and API document of opsflow-web shows.

Everything is read from the run store through :mod:`opsflow.runs` and
shaped as ``opsflow-run --format json`` shapes it (:mod:`opsflow.runs.report`):
the API serves these documents as they are, the templates lay them out.
"""

from __future__ import annotations

import dataclasses
import re
import threading
import urllib.parse
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from opsflow import exceptions, states
from opsflow.cli.masking import MASK, Masker
from opsflow.runs import queries, report, store
from opsflow.runs.service import RunService, StoredRun
from opsflow.runs.source import FlowSource
from opsflow.web.index import Run, RunIndex

if TYPE_CHECKING:
    from oslo_config import cfg

    from opsflow.persistence import base
    from opsflow.plugins.catalog import Catalog

__all__ = ["PAGE_SIZE", "RunFilters", "RunStore", "flow_plan", "flows_document"]

#: Runs per page of the runs page, and the API's default ``limit``.
PAGE_SIZE = 50
#: Entries of each cache of RunStore before it starts afresh.
_KEPT = 256
#: Every state a run can be in, for the state filter.
RUN_STATES = (
    states.PENDING,
    states.RUNNING,
    states.SUCCESS,
    states.FAILURE,
    states.REVERTING,
    states.REVERTED,
    states.SUSPENDING,
    states.SUSPENDED,
)


@dataclasses.dataclass(frozen=True)
class RunFilters:
    """The filters of the runs page and ``/api/v1/runs`` (``--history``'s)."""

    flow: str | None = None
    state: str | None = None
    since: str | None = None
    offset: int = 0
    limit: int = PAGE_SIZE

    @classmethod
    def from_query(cls, params: Mapping[str, str]) -> RunFilters:
        """The filters of a query string.

        :raises UsageError: a value that is not valid (answered 400).
        """
        state = (params.get("state") or "").upper() or None
        if state is not None and state not in RUN_STATES:
            raise exceptions.UsageError(
                f"state {state}: not a run state; allowed: {', '.join(RUN_STATES)}"
            )
        since = params.get("since") or None
        if since is not None:
            queries.parse_since(since)  # refused here, before any query
        return cls(
            flow=params.get("flow") or None,
            state=state,
            since=since,
            offset=_count(params, "offset", 0),
            limit=_count(params, "limit", PAGE_SIZE),
        )

    def query(self, **changes: Any) -> str:
        """The query string of these filters, with ``changes``."""
        values = dataclasses.asdict(dataclasses.replace(self, **changes))
        if values["limit"] == PAGE_SIZE:
            values.pop("limit")
        if not values["offset"]:
            values.pop("offset")
        shown = {key: value for key, value in values.items() if value is not None}
        return urllib.parse.urlencode(shown)


#: The largest ``offset`` or ``limit`` a query may give.
_MOST = 10**9
_WHOLE = re.compile(r"[0-9]{1,10}")


def _count(params: Mapping[str, str], name: str, default: int) -> int:
    text = params.get(name)
    if not text:
        return default
    # ASCII digits only: str.isdigit() also takes "²", which int() refuses.
    if _WHOLE.fullmatch(text) is None or int(text) > _MOST:
        raise exceptions.UsageError(
            f"{name} {text[:20]}: expected a whole number from 0 to {_MOST}"
        )
    return int(text)


def masker_of(stored: StoredRun) -> Masker:
    """What hides the run's secrets: whatever is stored under a secret's name.

    Secret values are never stored (results and failures are scrubbed
    before they are written), so their names are all that is left to mask.
    """
    names = stored.record.secrets if stored.record is not None else ()
    return Masker(dict.fromkeys(names, MASK))


class RunStore:
    """The run store opsflow-web reads, opened once it exists."""

    def __init__(self, conf: cfg.ConfigOpts, catalog: Catalog) -> None:
        self.conf = conf
        self.catalog = catalog
        self.service = RunService(conf, catalog)
        self._opening = threading.Lock()
        self._backend: base.Backend | None = None
        self._identity: tuple[int, int] | None = None
        self._index: RunIndex | None = None
        self._selections: dict[tuple[Any, ...], list[Run]] = {}
        self._needs_person: dict[tuple[str, str], bool] = {}
        self._rows: dict[str, tuple[tuple[Any, ...], dict[str, Any]]] = {}

    def connection(self) -> base.Connection | None:
        """A connection to the store; None while no run was ever recorded
        (or its file was deleted). A store file replaced since it was opened
        is opened again: its runs are another store's."""
        with self._opening:
            identity = store.store_file_identity(self.conf)
            if self._backend is not None and identity != self._identity:
                self._forget()
            if self._backend is None:
                if identity == (0, 0) or not store.store_exists(self.conf):
                    return None
                self._backend = store.open_backend(
                    self.conf, self.catalog, read_only=True
                )
                self._identity = identity
            return self._backend.get_connection()

    def index(self) -> RunIndex | None:
        """The store's runs in memory (None while there is no store)."""
        connection = self.connection()
        if connection is None:
            return None
        with self._opening:
            if self._index is None:
                self._index = RunIndex(connection)
            return self._index

    def close(self) -> None:
        with self._opening:
            self._forget()

    def _forget(self) -> None:
        """Close the store and drop everything read from it."""
        if self._backend is not None:
            self._backend.close()
        self._backend = None
        self._index = None
        self._selections.clear()
        self._needs_person.clear()
        self._rows.clear()

    # -- runs -------------------------------------------------------------
    def history(self, filters: RunFilters) -> tuple[list[dict[str, Any]], int]:
        """The ``--history`` rows the filters select (one page), and how many
        runs they select in all."""
        index = self.index()
        connection = self.connection()
        if index is None or connection is None:
            return [], 0
        runs = self._selected(index, filters)
        end = filters.offset + filters.limit if filters.limit else None
        page = runs[filters.offset : end]
        return [self._row(connection, fd) for fd, _book in page], len(runs)

    def _row(self, connection: base.Connection, fd: Any) -> dict[str, Any]:
        """The run's ``--history`` row; kept for a run that has settled (it
        changes only with its stamp; a run under way may lose its owner)."""
        state = str(fd.state or states.PENDING)
        if state not in states.FINAL_STATES:
            return queries.history_row(connection, fd)
        stamp = (fd.updated_at, state)
        kept = self._rows.get(fd.uuid)
        if kept is None or kept[0] != stamp:
            kept = (stamp, queries.history_row(connection, fd))
            self._rows[fd.uuid] = kept
        return dict(kept[1])

    def _selected(self, index: RunIndex, filters: RunFilters) -> list[Run]:
        """The runs the filters select, newest first; kept while the store
        does not change (an age filter moves with the clock: never kept)."""
        runs = index.runs()
        if not (filters.flow or filters.state or filters.since):
            return runs
        relative = filters.since is not None and filters.since[-1:] in "mhdw"
        key = (filters.flow, filters.state, filters.since, index.version)
        if not relative and key in self._selections:
            return self._selections[key]
        since = queries.parse_since(filters.since) if filters.since else None
        selected = queries.filter_runs(runs, filters.flow, filters.state, since)
        if not relative:
            if len(self._selections) >= _KEPT:
                self._selections.clear()
            self._selections[key] = selected
        return selected

    def flow_names(self) -> list[str]:
        """The flows that have runs, for the flow filter."""
        index = self.index()
        if index is None:
            return []
        index.runs()
        return index.flows()

    def mark_needs_person(self, rows: list[dict[str, Any]]) -> None:
        """Set each row's ``needs_person``: a FAILURE run with steps whose
        changes are still in place. The runs not seen at their stamp yet are
        read together, in one query."""
        connection = self.connection()

        def key(row: Mapping[str, Any]) -> tuple[str, str]:
            return (row["run_id"], row["updated_at"])  # its steps change its stamp

        failed = [row for row in rows if row["state"] == states.FAILURE]
        unknown = [
            row["run_id"] for row in failed if key(row) not in self._needs_person
        ]
        if unknown and connection is not None:
            if len(self._needs_person) + len(unknown) > _KEPT:
                self._needs_person.clear()
            read = connection.get_many_flow_details(unknown)
            for row in failed:
                flow_detail = read.get(row["run_id"])
                if flow_detail is not None:
                    left = report.not_reverted(report.report_of(flow_detail))
                    self._needs_person[key(row)] = bool(left)
        for row in rows:
            row["needs_person"] = self._needs_person.get(key(row), False)

    def stored(self, run_id: str) -> tuple[base.Connection, StoredRun]:
        """The run ``run_id`` as stored.

        :raises RunNotFound: no such run (answered 404).
        """
        connection = self.connection()
        if connection is None:
            raise exceptions.RunNotFound(f"no run {run_id}: no run was ever recorded")
        return connection, self.service.inspect(connection, run_id)

    def run(self, run_id: str) -> tuple[report.RunReport, dict[str, Any]]:
        """The run's report and its ``--show RUN_ID --format json`` document,
        with ``running_by``: ``host pid N`` of the process running it, if any."""
        connection, stored = self.stored(run_id)
        result = report.stored_report(connection, stored.flow_detail)
        document = report.show_document(
            connection, stored.flow_detail, masker_of(stored), result
        )
        document["running_by"] = result.running_by
        return result, document

    def picture_svg(self, run_id: str) -> bytes:
        """The run's picture as ``--show RUN_ID --graph run.svg`` draws it.

        :raises DotMissing: Graphviz's ``dot`` is not installed (answered 503).
        """
        from opsflow.views import pictures
        from opsflow.views.stored import picture_of_stored

        _connection, stored = self.stored(run_id)
        picture = picture_of_stored(self.service, stored)
        return pictures.render(picture, "svg")

    # -- flows ------------------------------------------------------------
    def _rescanned(self) -> Catalog:
        """The catalog, its YAML flows read again if flow_dirs changed."""
        with self._opening:
            self.catalog.flows.rescan()
        return self.catalog

    def flows(self) -> dict[str, Any]:
        return flows_document(self._rescanned())

    def plan(self, name: str) -> dict[str, Any]:
        return flow_plan(self._rescanned(), name)


def flows_document(catalog: Catalog) -> dict[str, Any]:
    """The installed flows, as ``--list --format json`` lists them, each
    with what ``FLOW --describe --format json`` says of it (description,
    inputs, steps), and the flows that do not load with their error."""
    listed = report.listing_document(catalog)[catalog.flows.namespace]
    flows = []
    for plugin in listed["plugins"]:
        flows.append({**plugin, **_about(catalog, plugin["name"])})
    return {"flows": flows, "broken": listed["broken"]}


def _about(catalog: Catalog, name: str) -> dict[str, Any]:
    """A flow's description, inputs and steps, built from no inputs."""
    try:
        described = FlowSource.lookup(catalog, name).describe(catalog, {}).to_dict()
    except exceptions.OpsflowException as exc:
        error = " ".join(str(exc).split())
        return {"description": "", "inputs": [], "steps": [], "error": error}
    return {
        "description": described["description"],
        "inputs": described["inputs"],
        "steps": described["steps"],
        "steps_need": described["steps_need"],
        "error": None,
    }


def flow_plan(catalog: Catalog, name: str) -> dict[str, Any]:
    """The ``--dry-run --format json`` plan of flow ``name``, built from its
    factory's defaults (nothing runs), with the inputs its steps need.

    :raises PluginNotFound: no such flow (answered 404).
    :raises PluginError: the flow does not load or cannot be built (422).
    :raises UsageError: the factory needs inputs to build the flow (400).
    """
    from opsflow import engines
    from opsflow.views.plan import plan

    source = FlowSource.lookup(catalog, name)
    flow = source.build({})
    compilation = engines.load(flow).compilation
    document = report.plan_document(name, plan(compilation))
    document["requires"] = sorted(flow.requires)
    return document
