"""``opsflow.persistence``: persistence backends, chosen by URL scheme.

``[persistence] connection = postgresql://...`` names the backend
``postgresql``; ``sqlite:///path`` names ``sqlite``.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from opsflow import exceptions
from opsflow.conf.loader import ConfigError
from opsflow.plugins.loader import Namespace

__all__ = ["NAMESPACE", "UnknownBackend", "backend_name", "load_backend", "namespace"]

NAMESPACE = "opsflow.persistence"

namespace: Namespace[object] = Namespace(NAMESPACE)


class UnknownBackend(ConfigError, exceptions.NotFound):
    """No installed persistence backend handles a connection's scheme."""


def backend_name(connection: str) -> str:
    """The backend a connection URL names (``mysql+pymysql://`` -> ``mysql``)."""
    scheme = urlsplit(connection).scheme or connection.partition(":")[0]
    return scheme.split("+", 1)[0].lower()


def load_backend(connection: str, source: str = "[persistence] connection") -> object:
    """The backend class or factory for ``connection``.

    :raises UnknownBackend: no installed backend handles the URL's scheme (a
        ``ConfigError`` for opsflow.conf, a ``NotFound`` for TaskFlow programs).
    :raises PluginBroken: the backend is installed but fails to load.
    """
    name = backend_name(connection)
    available = namespace.names()
    if name not in available:
        raise UnknownBackend(
            source,
            f"scheme {name!r} has no installed persistence backend",
            allowed=", ".join(available) or "none installed",
        )
    return namespace.load(name)
