"""``opsflow.executors``: executor drivers, chosen by ``[engine] executor``.

:func:`resolve_executor` is the one place a driver name is checked; the
engine receives the validated name (``engines.load(executor=...)`` resolves
names through this namespace).
"""

from __future__ import annotations

from opsflow.conf.loader import invalid_value
from opsflow.plugins.loader import Namespace

__all__ = ["NAMESPACE", "load_driver", "namespace", "resolve_executor"]

NAMESPACE = "opsflow.executors"

namespace: Namespace[object] = Namespace(NAMESPACE)


def resolve_executor(
    name: str | None,
    source: str = "opsflow.conf",
    option: str | None = "[engine] executor",
) -> str | None:
    """Check an executor driver name; the name to pass to the engine.

    None (nothing configured) stays None: the engine picks its own driver.

    ``source`` and ``option`` say where the name came from (a file and
    option, or a flag and None), for the error message.

    :raises ConfigError: the name is not installed; lists those that are.
    """
    if name is None:
        return None
    available = namespace.names()
    if name in available:
        return name
    allowed = ", ".join(available) or "none installed"
    raise invalid_value(source, option, name, "an installed executor driver", allowed)


def load_driver(name: str) -> object:
    """The driver registered as ``name`` (a class or factory)."""
    return namespace.load(name)
