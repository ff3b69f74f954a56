"""Persistence backends, found by the URL scheme of their connection.

``fetch({"connection": "memory://"})`` loads the ``memory`` plugin of the
``opsflow.persistence`` namespace and builds it with that configuration.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opsflow.persistence.base import Backend

__all__ = ["fetch", "sql"]


def fetch(conf: Mapping[str, Any] | str) -> Backend:
    """A backend for ``conf`` (a mapping with ``connection``, or the URL itself)."""
    from opsflow.plugins import persistence

    if isinstance(conf, str):
        conf = {"connection": conf}
    backend_cls: Any = persistence.load_backend(conf["connection"])
    return backend_cls(conf)


def sql(conf: Mapping[str, Any] | str) -> Backend:
    """SQL databases through SQLAlchemy: ``sqlite``, ``postgresql``, ``mysql``.

    A factory rather than the class itself, so that listing plugins
    (``opsflow-run --list``) does not import SQLAlchemy.
    """
    from opsflow.persistence.backends.impl_sqlalchemy import SQLAlchemyBackend

    return SQLAlchemyBackend(conf)
