"""``opsflow.persistence``: persistence backends, chosen by URL scheme.

``[persistence] connection = postgresql://...`` names the backend
``postgresql``; ``sqlite:///path`` names ``sqlite``.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from opsflow import exceptions
from opsflow.conf.errors import ConfigError
from opsflow.plugins.loader import EntryPoints, Namespace

__all__ = ["NAMESPACE", "UnknownBackend", "backend_name", "load_backend", "namespace"]

NAMESPACE = "opsflow.persistence"


def namespace(entry_points: EntryPoints | None = None) -> Namespace[object]:
    """The persistence namespace over ``entry_points`` (a fresh table if None)."""
    return Namespace(NAMESPACE, entry_points=entry_points)


class UnknownBackend(ConfigError, exceptions.NotFound):
    """No installed persistence backend handles a connection's scheme."""


def backend_name(connection: str) -> str:
    """The backend a connection URL names (``mysql+pymysql://`` -> ``mysql``)."""
    scheme = urlsplit(connection).scheme or connection.partition(":")[0]
    return scheme.split("+", 1)[0].lower()


def load_backend(
    backends: Namespace[object],
    connection: str,
    source: str = "[persistence] connection",
) -> object:
    """The backend class or factory for ``connection``.

    :raises UnknownBackend: no installed backend handles the URL's scheme (a
        ``ConfigError`` for opsflow.conf, a ``NotFound`` for TaskFlow programs).
    :raises PluginBroken: the backend is installed but fails to load.
    """
    name = backend_name(connection)
    available = backends.names()
    if name not in available:
        raise UnknownBackend(
            source,
            f"scheme {name!r} has no installed persistence backend",
            allowed=", ".join(available) or "none installed",
        )
    return backends.load(name)
