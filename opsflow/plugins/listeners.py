"""``opsflow.listeners``: listener classes ``opsflow-run`` attaches by name.

A listener class takes the engine as its first argument and is a context
manager around ``engine.run()``, as TaskFlow's listeners are.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opsflow.conf.errors import invalid_value
from opsflow.plugins.loader import EntryPoints, Namespace, PluginNotFound

__all__ = ["NAMESPACE", "create_listeners", "listener_classes", "namespace"]

NAMESPACE = "opsflow.listeners"


def _is_listener_class(obj: Any) -> str | None:
    if isinstance(obj, type) and hasattr(obj, "__enter__") and hasattr(obj, "__exit__"):
        return None
    return f"{obj!r} is not a listener class (a context manager taking the engine)"


def namespace(entry_points: EntryPoints | None = None) -> Namespace[type]:
    """The listener namespace over ``entry_points`` (a fresh table if None)."""
    return Namespace(NAMESPACE, check=_is_listener_class, entry_points=entry_points)


def create_listeners(
    classes: Namespace[type],
    names: Sequence[str],
    engine: Any,
    source: str | None = None,
    option: str | None = "[engine] listeners",
) -> list[Any]:
    """One listener per name, bound to ``engine``, in the order given.

    With ``source`` (the file the names come from), an unknown name is a
    :class:`~opsflow.conf.loader.ConfigError` listing the installed
    listeners; without it (a command-line flag), a :class:`PluginNotFound`.
    """
    return [
        listener_class(engine)
        for listener_class in listener_classes(classes, names, source, option)
    ]


def listener_classes(
    classes: Namespace[type],
    names: Sequence[str],
    source: str | None = None,
    option: str | None = "[engine] listeners",
) -> list[type]:
    """The listener class of each name, loaded (nothing is attached yet);
    unknown names raise as in :func:`create_listeners`."""
    loaded = []
    for name in names:
        try:
            loaded.append(classes.load(name))
        except PluginNotFound as exc:
            if source is None:
                raise
            allowed = ", ".join(exc.available) or "none installed"
            raise invalid_value(
                source, option, name, "an installed listener", allowed
            ) from exc
    return loaded
