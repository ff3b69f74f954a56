"""``opsflow.executors``: executor drivers, chosen by ``[engine] executor``.

:func:`resolve_executor` is the one place a configured driver name is
checked, with an error that says which file or flag it came from.
"""

from __future__ import annotations

from opsflow.conf.loader import invalid_value
from opsflow.plugins.loader import EntryPoints, Namespace

__all__ = ["NAMESPACE", "namespace", "resolve_executor"]

NAMESPACE = "opsflow.executors"


def namespace(entry_points: EntryPoints | None = None) -> Namespace[object]:
    """The executor namespace over ``entry_points`` (a fresh table if None)."""
    return Namespace(NAMESPACE, entry_points=entry_points)


def resolve_executor(
    drivers: Namespace[object],
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
    available = drivers.names()
    if name in available:
        return name
    allowed = ", ".join(available) or "none installed"
    raise invalid_value(source, option, name, "an installed executor driver", allowed)
