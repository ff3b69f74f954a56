"""``opsflow.persistence``: persistence backends, chosen by URL scheme.

``[persistence] connection = postgresql://...`` names the backend
``postgresql``; ``sqlite:///path`` names ``sqlite``.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from opsflow.conf.loader import ConfigError
from opsflow.plugins.loader import Namespace

__all__ = ["NAMESPACE", "backend_name", "load_backend", "namespace"]

NAMESPACE = "opsflow.persistence"

namespace: Namespace[object] = Namespace(NAMESPACE)


def backend_name(connection: str) -> str:
    """The backend a connection URL names (``mysql+pymysql://`` -> ``mysql``)."""
    scheme = urlsplit(connection).scheme or connection.partition(":")[0]
    return scheme.split("+", 1)[0].lower()


def load_backend(connection: str, source: str = "[persistence] connection") -> object:
    """The backend class or factory for ``connection``.

    :raises ConfigError: no installed backend handles the URL's scheme.
    :raises PluginBroken: the backend is installed but fails to load.
    """
    name = backend_name(connection)
    available = namespace.names()
    if name not in available:
        raise ConfigError(
            source,
            f"scheme {name!r} has no installed persistence backend",
            allowed=", ".join(available) or "none installed",
        )
    return namespace.load(name)
