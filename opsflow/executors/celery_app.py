"""The Celery side of the ``celery`` executor driver: app, queues, worker task.

Both the engine (which only publishes) and ``opsflow-worker`` build their
Celery app here, from the same ``[celery_executor]`` settings, so the wire
stays one place: JSON only, late acks, durable quorum queues with a delivery
limit that dead-letter into ``<prefix>.dead``.

The one task a worker registers, ``opsflow.atom``, runs one execute or
revert of a task plugin loaded by its ``opsflow.tasks`` entry-point name; a
worker never imports flow code. A task's exception is a *result* (a
``Failure`` dict), never a Celery failure: Celery-level failures are kept for
infrastructure faults (a lost worker, a time limit, a revoked task). Every
reply is scrubbed of the secrets the message names (``secrets``: those its
arguments carry) before Celery stores it in the result backend.
"""

from __future__ import annotations

import contextvars
import dataclasses
import fnmatch
import functools
import importlib.metadata
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

from opsflow import exceptions
from opsflow.executors.base import EXECUTED, REVERTED, TaskCall, run_task
from opsflow.redaction import Redactor
from opsflow.types.failure import Failure

__all__ = [
    "ATOM_TASK",
    "CURRENT_CALL",
    "CelerySettings",
    "dead_queue",
    "make_app",
    "plugin_version",
    "queue_for",
    "run_atom",
]

#: The only task name workers register.
ATOM_TASK = "opsflow.atom"
#: Message document version.
WIRE_VERSION = 1
#: Message key listing the secret values the call's arguments carry.
SECRETS_KEY = "secrets"
#: Redis key prefix of task ids an engine gave up on (timed out, killed):
#: a worker that receives one later skips it.
REVOKED_PREFIX = "opsflow-revoked-"

#: While ``opsflow.atom`` runs a plugin: the message's ``atom``, ``atom_uuid``,
#: ``attempt``, ``action`` and ``task_id`` (plugins may read it, e.g. to log).
CURRENT_CALL: contextvars.ContextVar[Mapping[str, Any] | None] = contextvars.ContextVar(
    "opsflow_celery_call", default=None
)


@dataclasses.dataclass(frozen=True)
class CelerySettings:
    """``[celery_executor]`` and ``[celery_worker]`` as one typed record."""

    broker_url: str = "amqp://guest:guest@127.0.0.1:5672//"
    result_backend: str = "redis://127.0.0.1:6379/0"
    queue_prefix: str = "opsflow.atoms"
    redelivery_limit: int = 1
    start_timeout: float = 300.0
    atom_timeout: float = 0.0
    result_sweep_interval: float = 5.0
    progress_min_interval: float = 1.0
    result_expires: int = 604800
    queues: tuple[str, ...] = ("default",)
    concurrency: int = 8
    pool: str = "prefork"
    plugin_namespace: str = "opsflow.tasks"
    allowed_plugins: tuple[str, ...] = ("*",)
    soft_shutdown_timeout: float = 60.0

    @classmethod
    def from_conf(cls, conf: Any) -> CelerySettings:
        """The settings of a loaded ``opsflow.conf`` (see ``opsflow.conf.loader``)."""
        ex, wk = conf.celery_executor, conf.celery_worker
        return cls(
            broker_url=ex.broker_url,
            result_backend=ex.result_backend,
            queue_prefix=ex.queue_prefix,
            redelivery_limit=ex.redelivery_limit,
            start_timeout=ex.start_timeout,
            atom_timeout=ex.atom_timeout,
            result_sweep_interval=ex.result_sweep_interval,
            progress_min_interval=ex.progress_min_interval,
            result_expires=ex.result_expires,
            queues=tuple(wk.queues),
            concurrency=wk.concurrency,
            pool=wk.pool,
            plugin_namespace=wk.plugin_namespace,
            allowed_plugins=tuple(wk.allowed_plugins),
            soft_shutdown_timeout=wk.soft_shutdown_timeout,
        )


# -- queues --------------------------------------------------------------------
def queue_name(settings: CelerySettings, queue: str, once: bool = False) -> str:
    return f"{settings.queue_prefix}.{queue}" + (".once" if once else "")


def dead_queue(settings: CelerySettings) -> Any:
    """The durable quorum queue every task queue dead-letters into."""
    from kombu import Exchange, Queue

    name = f"{settings.queue_prefix}.dead"
    return Queue(
        name,
        Exchange(name, type="direct", durable=True),
        routing_key=name,
        durable=True,
        queue_arguments={"x-queue-type": "quorum"},
    )


def queue_for(settings: CelerySettings, queue: str, once: bool = False) -> Any:
    """The task queue ``<prefix>.<queue>`` (``.once``: never redelivered)."""
    from kombu import Exchange, Queue

    name = queue_name(settings, queue, once)
    dead = f"{settings.queue_prefix}.dead"
    return Queue(
        name,
        Exchange(name, type="direct", durable=True),
        routing_key=name,
        durable=True,
        queue_arguments={
            "x-queue-type": "quorum",
            # Explicit: RabbitMQ 3.x and 4.x default differently.
            "x-delivery-limit": 0 if once else settings.redelivery_limit,
            "x-dead-letter-exchange": dead,
            "x-dead-letter-routing-key": dead,
        },
    )


def worker_queues(settings: CelerySettings) -> list[Any]:
    queues = []
    for queue in settings.queues:
        queues += [queue_for(settings, queue), queue_for(settings, queue, once=True)]
    return queues


# -- the app ---------------------------------------------------------------------
def make_app(settings: CelerySettings, worker: bool = False) -> Any:
    """A Celery app for the engine (publish only) or for ``opsflow-worker``.

    The engine's app has no result backend: its pump reads results from Redis
    itself, so no Celery result consumer is ever subscribed behind its back.
    """
    from celery import Celery

    app = Celery("opsflow", set_as_current=False)
    app.conf.update(
        broker_url=settings.broker_url,
        result_backend=settings.result_backend if worker else "disabled",
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_accept_content=["json"],
        event_serializer="json",
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_track_started=True,
        worker_prefetch_multiplier=1,
        task_default_queue_type="quorum",
        worker_detect_quorum_queues=True,
        broker_transport_options={"confirm_publish": True},
        worker_cancel_long_running_tasks_on_connection_loss=True,
        broker_connection_retry_on_startup=True,
        result_expires=settings.result_expires,
        task_queues=worker_queues(settings),
        task_default_queue=queue_name(settings, settings.queues[0]),
        task_create_missing_queues=False,
        worker_hijack_root_logger=False,
        worker_soft_shutdown_timeout=settings.soft_shutdown_timeout,
        worker_enable_remote_control=True,
        worker_send_task_events=False,
    )
    if worker:
        runner = functools.partial(run_atom, settings)

        @app.task(name=ATOM_TASK, bind=True, acks_late=True)
        def atom(self: Any, document: dict[str, Any]) -> dict[str, Any]:
            from celery.exceptions import Ignore

            if self.backend.client.exists(REVOKED_PREFIX + str(self.request.id)):
                # Revoked while queued, perhaps before this worker started.
                raise Ignore()
            return runner(document, _Progress(self, settings.progress_min_interval))

    return app


class _Progress:
    """Throttled ``update_state(PROGRESS)``; the last value is always sent."""

    def __init__(self, task: Any, min_interval: float) -> None:
        self._task = task
        self._min_interval = min_interval
        self._last_sent = 0.0
        self._pending: float | None = None

    def __call__(self, progress: float, details: Any = None) -> None:
        # Only the value travels back (details stay on the worker).
        now = time.monotonic()
        if now - self._last_sent >= self._min_interval:
            self._send(progress, now)
        else:
            self._pending = progress

    def flush(self) -> None:
        if self._pending is not None:
            self._send(self._pending, time.monotonic())

    def _send(self, progress: float, now: float) -> None:
        self._pending = None
        self._last_sent = now
        self._task.update_state(
            state="PROGRESS", meta={"progress": progress, "pid": os.getpid()}
        )


# -- the worker task -----------------------------------------------------------
@functools.cache
def _load_plugin(namespace: str, name: str) -> type:
    from opsflow.plugins.loader import Namespace
    from opsflow.plugins.tasks import is_task_class

    return Namespace(namespace, check=is_task_class).load(name)


@functools.cache
def plugin_version(namespace: str, name: str) -> str | None:
    """The version of the distribution that registers ``name`` in ``namespace``."""
    for entry_point in importlib.metadata.entry_points(group=namespace):
        if entry_point.name == name:
            dist = getattr(entry_point, "dist", None)
            return dist.version if dist is not None else None
    return None


def _major(version: str | None) -> str | None:
    return version.split(".", 1)[0] if version else None


def _refuse(error: Exception | Failure) -> dict[str, Any]:
    return {"v": WIRE_VERSION, "outcome": "failure", "failure": _failure_dict(error)}


def _failure_dict(error: BaseException | Failure) -> dict[str, Any]:
    failure = error if isinstance(error, Failure) else Failure.from_exception(error)
    data = failure.to_dict()
    try:
        import json

        json.dumps(data["exc_args"])
    except (TypeError, ValueError):
        data = failure.to_dict(include_args=False)
    return data


def _allowed(name: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


def run_atom(
    settings: CelerySettings, document: dict[str, Any], progress: Any = None
) -> dict[str, Any]:
    """Run one execute or revert a message asks for; always returns a result dict.

    The reply holds no secret the message names: results and failures are
    scrubbed here, before Celery stores them in the result backend.
    """
    redactor = Redactor(str(text) for text in document.get(SECRETS_KEY) or ())
    reply = _run_atom(settings, document, progress)
    if not redactor:
        return reply
    if "failure" in reply:
        scrubbed = redactor.failure(Failure.from_dict(reply["failure"]))
        return {**reply, "failure": scrubbed.to_dict("exc_args" in reply["failure"])}
    return {**reply, "result": redactor.value(reply.get("result"))}


def _run_atom(
    settings: CelerySettings, document: dict[str, Any], progress: Any
) -> dict[str, Any]:
    name = str(document.get("plugin"))
    if not _allowed(name, settings.allowed_plugins):
        return _refuse(
            exceptions.IncompatiblePlugin(
                f"task plugin {name!r} is not in this worker's allowed_plugins"
            )
        )
    try:
        cls = _load_plugin(settings.plugin_namespace, name)
    except exceptions.PluginError as exc:
        return _refuse(exc)
    wanted = document.get("plugin_version")
    have = plugin_version(settings.plugin_namespace, name)
    if wanted and have and _major(wanted) != _major(have):
        return _refuse(
            exceptions.IncompatiblePlugin(
                f"task plugin {name!r} is version {have} on this worker, the "
                f"engine sent a task for version {wanted} (major versions differ)"
            )
        )
    try:
        task = cls(name=document["atom"], **(document.get("init") or {}))
    except Exception as exc:
        return _refuse(exc)
    action = EXECUTED if document.get("action") == "execute" else REVERTED
    result = None
    failures = None
    if action == REVERTED:
        sent = document.get("result") or {}
        value: Any = sent.get("value")
        result = Failure.from_dict(value) if sent.get("type") == "failure" else value
        failures = {
            atom: Failure.from_dict(data)
            for atom, data in (document.get("failures") or {}).items()
        }
    token = CURRENT_CALL.set(
        {key: document.get(key) for key in ("atom", "atom_uuid", "attempt", "action")}
    )
    try:
        call = TaskCall(
            task,
            action,
            document.get("arguments") or {},
            document.get("atom_uuid") or "",
            result,
            failures,
        )
        _outcome, value = run_task(call, progress)
    finally:
        CURRENT_CALL.reset(token)
        if progress is not None and hasattr(progress, "flush"):
            progress.flush()
    if isinstance(value, Failure):
        return {
            "v": WIRE_VERSION,
            "outcome": "failure",
            "failure": _failure_dict(value),
        }
    try:
        import json

        json.dumps(value)
    except (TypeError, ValueError) as exc:
        return _refuse(
            exceptions.NotTransferable(
                f"the result of task {document['atom']!r} is not JSON: {exc}"
            )
        )
    return {"v": WIRE_VERSION, "outcome": "success", "result": value}
