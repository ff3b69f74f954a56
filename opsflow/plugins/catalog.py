"""The installed plugins of one process: every namespace, read once.

A :class:`Catalog` holds one :class:`~opsflow.plugins.loader.Namespace`
per entry-point namespace, all sharing one table of entry points (the
distributions' metadata is scanned once), and the YAML flows of the
``flow_dirs`` it was built with (those directories are scanned once).
Programs build one and hand it down, as stevedore hands a manager down:

    catalog = Catalog(flow_dirs=conf.flow_dirs)
    factory = catalog.flows.load("deploy")

Library code that is given none (``engines.load(executor="thread")``)
uses :func:`default_catalog`, a catalog without flow directories.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

from opsflow.plugins import executors, flows, jobboards, listeners, persistence, tasks
from opsflow.plugins.loader import EntryPoints, Namespace

__all__ = ["Catalog", "default_catalog"]


class Catalog:
    """Every plugin namespace of opsflow, over one entry-point table."""

    def __init__(self, flow_dirs: Iterable[str] = ()) -> None:
        self.entry_points = EntryPoints()
        table = self.entry_points
        self.tasks: Namespace[type] = tasks.namespace(table)
        self.flows = flows.FlowNamespace(table, self.tasks, flow_dirs)
        self.executors: Namespace[object] = executors.namespace(table)
        self.listeners: Namespace[type] = listeners.namespace(table)
        self.persistence: Namespace[object] = persistence.namespace(table)
        self.jobboards: Namespace[object] = jobboards.namespace(table)

    def namespaces(self) -> tuple[Namespace[object], ...]:
        """Every namespace, for listings (``opsflow-run --list``)."""
        return (  # type: ignore[return-value]
            self.flows,
            self.tasks,
            self.executors,
            self.persistence,
            self.listeners,
            self.jobboards,
        )


@functools.cache
def default_catalog() -> Catalog:
    """The catalog of code given none: installed entry points, no flow_dirs."""
    return Catalog()
