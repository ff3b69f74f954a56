"""``opsflow.tasks``: task classes that YAML flows and workers load by name."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from opsflow.plugins.loader import EntryPoints, Namespace

if TYPE_CHECKING:
    from opsflow.task import Task

__all__ = ["NAMESPACE", "is_task_class", "load_task", "namespace"]

NAMESPACE = "opsflow.tasks"


def is_task_class(obj: Any) -> str | None:
    """None for a :class:`~opsflow.task.Task` subclass, else why it is not one."""
    from opsflow.task import Task

    if isinstance(obj, type) and issubclass(obj, Task):
        return None
    return f"{obj!r} is not a subclass of opsflow.task.Task"


def namespace(entry_points: EntryPoints | None = None) -> Namespace[type]:
    """The task namespace over ``entry_points`` (a fresh table if None)."""
    return Namespace(NAMESPACE, check=is_task_class, entry_points=entry_points)


def load_task(name: str) -> type[Task]:
    """The task class registered as ``name`` (for flow factories composing
    other plugins' tasks), from the installed entry points.

    :raises PluginNotFound: nothing has that name.
    :raises PluginBroken: it fails to import, or is not a Task subclass.
    """
    from opsflow.plugins.catalog import default_catalog

    task_class: type[Task] = default_catalog().tasks.load(name)
    return task_class
