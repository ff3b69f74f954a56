"""``opsflow.tasks``: task classes that YAML flows and workers load by name."""

from __future__ import annotations

from typing import Any

from opsflow.plugins.loader import Namespace

__all__ = ["NAMESPACE", "load_task", "namespace"]

NAMESPACE = "opsflow.tasks"


def _is_task_class(obj: Any) -> str | None:
    from opsflow.task import Task

    if isinstance(obj, type) and issubclass(obj, Task):
        return None
    return f"{obj!r} is not a subclass of opsflow.task.Task"


namespace: Namespace[type] = Namespace(NAMESPACE, check=_is_task_class)


def load_task(name: str) -> type:
    """The task class registered as ``name``."""
    return namespace.load(name)
