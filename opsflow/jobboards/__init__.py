"""Jobboards: where submitted runs wait, and who runs them.

``opsflow-run --submit FLOW`` stores a run (:mod:`opsflow.jobboards.runs`)
and posts it to the jobboard named by ``[jobboard] driver`` (entry-point
namespace ``opsflow.jobboards``). ``local`` runs it at once in the submitting
process; ``procrastinate`` (:mod:`opsflow.jobboards.pg`) queues it in
PostgreSQL, where ``opsflow-conductor`` processes claim it, run it under a
fenced lease and hand a dead conductor's runs to another.
"""

from __future__ import annotations

from typing import Any

from opsflow import exceptions
from opsflow.jobboards.base import Jobboard

__all__ = ["Jobboard", "NAMESPACE", "load"]

NAMESPACE = "opsflow.jobboards"


def load(conf: Any, name: str | None = None) -> Jobboard:
    """The jobboard ``name`` (default ``[jobboard] driver``) built on ``conf``."""
    from stevedore import driver

    name = name or conf.jobboard.driver
    try:
        manager = driver.DriverManager(NAMESPACE, name, invoke_on_load=False)
    except Exception as exc:  # stevedore: NoMatches, or the plugin's import error
        raise exceptions.ConfigurationError(
            f"jobboard driver {name!r} cannot be loaded: {type(exc).__name__}: {exc}"
        ) from exc
    board: Jobboard = manager.driver(conf)
    return board
