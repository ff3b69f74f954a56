"""Jobboards: where submitted runs wait, and who runs them.

``opsflow-run --submit FLOW`` records a run PENDING
(:meth:`opsflow.runs.service.RunService.submit`) and posts it to the
jobboard named by ``[jobboard] driver`` (entry-point namespace
``opsflow.jobboards``). ``local`` runs it at once in the submitting
process; ``procrastinate`` (:mod:`opsflow.jobboards.pg`) queues it in
PostgreSQL, where ``opsflow-conductor`` processes claim it, run it under a
fenced lease (:mod:`opsflow.jobboards.runs`) and hand a dead conductor's
runs to another.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from opsflow import exceptions
from opsflow.jobboards.base import Jobboard
from opsflow.plugins.jobboards import NAMESPACE

if TYPE_CHECKING:
    from oslo_config import cfg

    from opsflow.plugins.catalog import Catalog

__all__ = ["NAMESPACE", "Jobboard", "load"]


def load(
    conf: cfg.ConfigOpts, name: str | None = None, catalog: Catalog | None = None
) -> Jobboard:
    """The jobboard ``name`` (default ``[jobboard] driver``) built on ``conf``.

    Its runs are built from ``catalog``'s plugins (default: the installed
    ones, without ``flow_dirs``).
    """
    from opsflow.plugins import catalog as catalogs
    from opsflow.runs.service import RunService

    plugins = catalog or catalogs.default_catalog()
    name = name or str(conf.jobboard.driver)
    try:
        board_class = plugins.jobboards.load(name)
    except exceptions.PluginError as exc:  # unknown, or its import failed
        raise exceptions.ConfigurationError(f"jobboard driver {name!r}: {exc}") from exc
    board = board_class(conf, RunService(conf, plugins))  # type: ignore[operator]
    if not isinstance(board, Jobboard):
        raise exceptions.ConfigurationError(
            f"jobboard driver {name!r} built {type(board).__name__}, not a Jobboard"
        )
    return board
