"""What travels to a Celery worker: a task described as a JSON document.

A task is sent as its ``opsflow.tasks`` entry-point name, the version of
the distribution that provides it, and the constructor keywords a worker
needs to build it again (``remote_init()``, or the attributes named like its
constructor's parameters). Arguments and results must be JSON.
"""

from __future__ import annotations

import functools
import importlib.metadata
import inspect
import json
from typing import Any

from opsflow import exceptions
from opsflow.executors import celery_app
from opsflow.executors.celery_app import CelerySettings
from opsflow.task import Task
from opsflow.types.failure import Failure

__all__ = ["check_json", "describe_task", "result_field"]

# Constructor parameters every Task has; they shape the engine's view of a
# task (what it requires/provides), not what a worker needs to rebuild it.
_BASE_PARAMS = frozenset(inspect.signature(Task.__init__).parameters) | {"self"}


@functools.cache
def _plugin_names(namespace: str) -> dict[str, str]:
    """``module:qualname`` of each entry point's target -> its name."""
    names: dict[str, str] = {}
    entry_points = importlib.metadata.entry_points(group=namespace)
    for entry_point in sorted(entry_points, key=lambda each: each.name):
        names.setdefault(entry_point.value.replace(" ", ""), entry_point.name)
    return names


def _plugin_name(task: Task, namespace: str) -> str:
    cls = type(task)
    own = getattr(cls, "plugin_name", None)
    if isinstance(own, str):
        return own
    name = _plugin_names(namespace).get(f"{cls.__module__}:{cls.__qualname__}")
    if name is None:
        raise exceptions.NotTransferable(
            f"task {task.name!r} ({cls.__module__}.{cls.__qualname__}) is not an "
            f"{namespace} plugin: remote workers load tasks by entry-point name"
        )
    return name


def _init_of(task: Task) -> dict[str, Any]:
    remote_init = getattr(task, "remote_init", None)
    if callable(remote_init):
        return dict(remote_init())
    init: dict[str, Any] = {}
    parameters = inspect.signature(type(task).__init__).parameters.values()
    for parameter in parameters:
        if parameter.name in _BASE_PARAMS or parameter.kind in (
            parameter.VAR_POSITIONAL,
            parameter.VAR_KEYWORD,
        ):
            continue
        for attribute in (parameter.name, "_" + parameter.name):
            if attribute in vars(task):
                init[parameter.name] = vars(task)[attribute]
                break
        else:
            if parameter.default is parameter.empty:
                raise exceptions.NotTransferable(
                    f"task {task.name!r}: constructor argument {parameter.name!r} "
                    "is not kept as an attribute; define remote_init()"
                )
    return init


def describe_task(task: Task, settings: CelerySettings) -> dict[str, Any]:
    """The plugin part of a message: name, version, init, queue, idempotency."""
    name = _plugin_name(task, settings.plugin_namespace)
    init = _init_of(task)
    check_json(f"constructor arguments of task {task.name!r}", init)
    version = getattr(type(task), "plugin_version", None)
    if not isinstance(version, str):
        version = celery_app.plugin_version(settings.plugin_namespace, name)
    return {
        "plugin": name,
        "plugin_version": version,
        "init": init,
        "queue": getattr(task, "queue", None) or settings.queues[0],
        "once": getattr(task, "idempotent", True) is False,
    }


def check_json(what: str, value: Any) -> None:
    try:
        json.dumps(value)
    except (TypeError, ValueError) as exc:
        raise exceptions.NotTransferable(
            f"{what} cannot be sent to a celery worker (JSON only): {exc}"
        ) from exc


def result_field(value: Any) -> dict[str, Any]:
    if isinstance(value, Failure):
        return {"type": "failure", "value": value.to_dict(include_args=False)}
    return {"type": "success", "value": value}


# -- one remote call -----------------------------------------------------------
