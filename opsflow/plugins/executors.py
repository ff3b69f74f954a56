"""``opsflow.executors``: executor drivers, chosen by ``[engine] executor``.

:func:`resolve_executor` is the one place a driver name is checked; the
engine receives the validated name (``engines.load(executor=...)`` resolves
names through this namespace).
"""

from __future__ import annotations

from opsflow.conf.loader import invalid_value
from opsflow.conf.opts import DEFAULT_EXECUTOR
from opsflow.plugins.loader import Namespace

__all__ = ["NAMESPACE", "load_driver", "namespace", "resolve_executor"]

NAMESPACE = "opsflow.executors"

namespace: Namespace[object] = Namespace(NAMESPACE)


def resolve_executor(
    name: str, source: str = "opsflow.conf", option: str | None = "[engine] executor"
) -> str | None:
    """Check an executor driver name; the name to pass to the engine.

    Returns None for the default driver while no driver is installed, so the
    engine runs tasks in-line as it does by default.

    ``source`` and ``option`` say where the name came from (a file and
    option, or a flag and None), for the error message.

    :raises ConfigError: the name is not installed; lists those that are.
    """
    available = namespace.names()
    if name in available:
        return name
    if not available and name == DEFAULT_EXECUTOR:
        return None
    allowed = ", ".join(available) or DEFAULT_EXECUTOR
    raise invalid_value(source, option, name, "an installed executor driver", allowed)


def load_driver(name: str) -> object:
    """The driver registered as ``name`` (a class or factory)."""
    return namespace.load(name)
