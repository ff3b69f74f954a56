"""Persistence backends, found by the URL scheme of their connection.

``fetch({"connection": "memory://"})`` loads the ``memory`` plugin of the
``opsflow.persistence`` namespace and builds it with that configuration.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from opsflow.persistence.base import Backend

if TYPE_CHECKING:
    from opsflow.plugins.catalog import Catalog

__all__ = ["check_available", "fetch", "sql"]


def _backend_class(conf: Mapping[str, Any], catalog: Catalog | None) -> Any:
    from opsflow.plugins import catalog as catalogs
    from opsflow.plugins import persistence

    plugins = catalog or catalogs.default_catalog()
    return persistence.load_backend(plugins.persistence, conf["connection"])


def fetch(conf: Mapping[str, Any] | str, catalog: Catalog | None = None) -> Backend:
    """A backend for ``conf`` (a mapping with ``connection``, or the URL itself).

    :raises MissingPackage: the database driver it needs is not installed.
    """
    if isinstance(conf, str):
        conf = {"connection": conf}
    backend: Backend = _backend_class(conf, catalog)(conf)
    return backend


def check_available(
    conf: Mapping[str, Any] | str, catalog: Catalog | None = None
) -> None:
    """Check the backend ``conf`` names can be used here, opening nothing.

    :raises MissingPackage: the database driver it needs is not installed.
    """
    if isinstance(conf, str):
        conf = {"connection": conf}
    backend_cls = _backend_class(conf, catalog)
    check = getattr(backend_cls, "check_available", None)
    if check is not None:
        check(conf)


class _SQLBackends:
    """SQL databases through SQLAlchemy: ``sqlite``, ``postgresql``, ``mysql``.

    A factory rather than the class itself, so that listing plugins
    (``opsflow-run --list``) does not import SQLAlchemy.
    """

    def __call__(self, conf: Mapping[str, Any] | str) -> Backend:
        from opsflow.persistence.backends.impl_sqlalchemy import SQLAlchemyBackend

        return SQLAlchemyBackend(conf)

    def check_available(self, conf: Mapping[str, Any] | str) -> None:
        """The database driver of the URL is installed (``MissingPackage``)."""
        from opsflow.persistence.backends.impl_sqlalchemy import SQLAlchemyBackend

        SQLAlchemyBackend.check_available(conf)


#: The ``sqlite``, ``postgresql``, ``mysql`` and ``mariadb`` entry points.
sql = _SQLBackends()
