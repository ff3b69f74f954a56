"""``celery``: each execute or revert is one JSON message to remote workers.

The engine stays local. A task is sent as the name of its ``opsflow.tasks``
plugin, its constructor keywords (``init``) and its arguments to the generic
worker task ``opsflow.atom`` (:mod:`opsflow.executors.celery_app`), through
RabbitMQ durable quorum queues; workers store states and results in Redis.

One *pump* thread per executor owns every client object (the Celery app and
its producer, a Redis pub/sub connection, a kombu consumer of the dead-letter
queue), because Celery's result backends are not thread-safe. Engine threads
only put requests on a queue and wait on futures. The pump:

* deletes any stale state of the task id, subscribes to its Redis channel,
  then publishes (so no state update can be missed);
* replays ``PROGRESS`` states to the task's progress callback, in order;
* turns ``SUCCESS`` into ``(outcome, result or Failure)``;
* maps Celery-level faults to opsflow exceptions (WorkerLostError:
  ``WorkerLost``; a time limit: ``AtomTimeout``; a revoked task:
  ``AtomCancelled``; an unregistered task: ``WorkerMisconfigured``);
* fails a task nobody started within ``start_timeout`` with
  ``NoWorkerAvailable`` and a task running past ``atom_timeout`` with
  ``AtomTimeout``, revoking it first (workers skip revoked ids, even workers
  started later: the revocation is kept in Redis);
* reads the dead-letter queue: a message RabbitMQ gave up redelivering fails
  its task with ``WorkerLost`` (written to Redis, so whichever engine waits
  for it learns it);
* re-reads the states of every task now and then, in case a pub/sub message
  was missed.

Which plugin a task is: its class's ``plugin_name`` attribute, else the
``opsflow.tasks`` entry point naming its class; its version, the version of
the distribution registering it (or a ``plugin_version`` class attribute).
Its ``init``: what its ``remote_init()`` returns, else the values of its
constructor's own parameters read back from attributes of the same name (or
``_name``).
A plugin sets ``queue = "netops"`` to go to ``<prefix>.netops`` and
``idempotent = False`` to go to a queue that never redelivers.
"""

from __future__ import annotations

import concurrent.futures
import importlib
import json
import logging
import queue
import threading
import time
import urllib.parse
from collections.abc import Iterable, Mapping
from typing import Any

from opsflow import exceptions
from opsflow.executors import celery_app
from opsflow.executors.base import (
    EXECUTED,
    REVERTED,
    Outcome,
    ProgressCallback,
    TaskCall,
    TaskExecutor,
    completed,
)
from opsflow.executors.celery_app import ATOM_TASK, CelerySettings
from opsflow.executors.celery_wire import check_json, describe_task, result_field
from opsflow.task import Task
from opsflow.types.failure import Failure

__all__ = ["CHECK_TIMEOUT", "CeleryTaskExecutor", "describe_task", "safe_url"]

LOG = logging.getLogger(__name__)

#: Where Celery's Redis backend keeps (and publishes) a task's state.
META_PREFIX = "celery-task-meta-"
#: Seconds the pump waits for a request when no task is in flight, and for a
#: Redis message when some are (a new request waits at most that long).
IDLE_WAIT = 0.1
BUSY_WAIT = 0.005
#: Seconds between two reads of the dead-letter queue.
DEAD_LETTER_INTERVAL = 0.2
#: Where the pump records task ids it gave up on; workers skip them.
REVOKED_PREFIX = celery_app.REVOKED_PREFIX
#: Seconds the check before a run gives the broker, then the result backend,
#: to answer (a run is refused within twice that).
CHECK_TIMEOUT = 2.0

_CELERY_FAULTS: dict[str, type[exceptions.OpsflowException]] = {
    "WorkerLostError": exceptions.WorkerLost,
    "WorkerLost": exceptions.WorkerLost,
    "TimeLimitExceeded": exceptions.AtomTimeout,
    "SoftTimeLimitExceeded": exceptions.AtomTimeout,
    "NotRegistered": exceptions.WorkerMisconfigured,
    "ContentDisallowed": exceptions.WorkerMisconfigured,
    "TaskRevokedError": exceptions.AtomCancelled,
    "Terminated": exceptions.AtomCancelled,
}


class _InFlight:
    """One call under way, as the pump sees it."""

    __slots__ = (
        "task_id",
        "outcome",
        "document",
        "queue",
        "once",
        "progress",
        "future",
        "sent_at",
        "started_at",
        "last_progress",
        "pid",
    )

    def __init__(
        self,
        task_id: str,
        outcome: str,
        document: dict[str, Any],
        progress: ProgressCallback | None,
    ) -> None:
        self.task_id = task_id
        self.outcome = outcome
        self.queue = document.pop("queue")
        self.once = document.pop("once")
        self.document = document
        self.progress = progress
        self.future: Outcome = concurrent.futures.Future()
        self.sent_at = 0.0
        self.started_at: float | None = None
        self.last_progress: float | None = None
        self.pid: int | None = None


class CeleryTaskExecutor(TaskExecutor):
    """Sends tasks to ``opsflow-worker`` processes through Celery.

    ``settings`` default to ``[celery_executor]``/``[celery_worker]`` of
    ``conf`` (the configuration ``opsflow-run`` loaded, ``--config-file``
    included), else of the ``opsflow.conf`` oslo.config finds in its usual
    places.
    """

    def __init__(
        self,
        max_workers: int | None = None,
        settings: CelerySettings | None = None,
        conf: Any = None,
    ) -> None:
        if settings is None:
            if conf is None:
                from opsflow.conf import loader

                conf = loader.load(warn=False)
            settings = CelerySettings.from_conf(conf)
        self.settings = settings
        self._requests: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self._pump: threading.Thread | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self._attempts: dict[tuple[str, str], int] = {}
        self._by_future: dict[Outcome, str] = {}
        self._lock = threading.Lock()

    # -- life cycle ------------------------------------------------------
    def start(self) -> None:
        with self._lock:
            if self._pump is not None and self._pump.is_alive():
                return
            self._ready.clear()
            self._startup_error = None
            self._pump = threading.Thread(
                target=self._run_pump, name="opsflow-celery-pump", daemon=True
            )
            self._pump.start()
        self._ready.wait()
        if self._startup_error is not None:
            raise exceptions.ServiceUnavailable(
                f"the celery executor cannot reach its broker "
                f"{safe_url(self.settings.broker_url)} or result backend "
                f"{safe_url(self.settings.result_backend)}: {self._startup_error}"
            ) from self._startup_error

    def check_available(self) -> None:
        """Check Celery, kombu and redis are installed and that the broker and
        the result backend answer, each within :data:`CHECK_TIMEOUT` seconds.

        :raises MissingPackage: a package of ``opsflow[celery]`` is missing.
        :raises ServiceUnavailable: the broker or the result backend does not
            answer (the message names its URL, without the password).
        """
        for package in ("celery", "kombu", "redis"):
            try:
                importlib.import_module(package)
            except ImportError as exc:
                raise exceptions.MissingPackage(
                    "the celery executor", package, "celery"
                ) from exc
        import kombu
        import redis

        settings = self.settings
        try:
            with kombu.Connection(
                settings.broker_url, connect_timeout=CHECK_TIMEOUT
            ) as broker:
                broker.ensure_connection(
                    max_retries=0, interval_start=0, timeout=CHECK_TIMEOUT
                )
        except Exception as exc:
            raise _unreachable("broker", settings.broker_url, exc) from exc
        client = redis.Redis.from_url(
            settings.result_backend,
            socket_connect_timeout=CHECK_TIMEOUT,
            socket_timeout=CHECK_TIMEOUT,
        )
        try:
            client.ping()
        except Exception as exc:
            raise _unreachable("result backend", settings.result_backend, exc) from exc
        finally:
            client.close()

    def stop(self) -> None:
        pump = self._pump
        if pump is not None and pump.is_alive():
            self._requests.put(("stop", None))
            pump.join()
        self._pump = None

    # -- submitting ------------------------------------------------------
    def submit(
        self, call: TaskCall, progress_callback: ProgressCallback | None = None
    ) -> Outcome:
        """Send ``call`` to a worker as a JSON document (see ``celery_wire``)."""
        task, task_uuid, arguments = call.task, call.task_uuid, call.arguments
        action = "execute" if call.action == EXECUTED else "revert"
        extra: dict[str, Any] = {}
        if call.action == REVERTED:
            extra = {
                "result": result_field(call.result),
                "failures": {
                    atom: failure.to_dict(include_args=False)
                    for atom, failure in (call.failures or {}).items()
                },
            }
        outcome = call.action
        try:
            plugin = describe_task(task, self.settings)
            check_json(f"arguments of task {task.name!r}", dict(arguments))
        except exceptions.NotTransferable as exc:
            return completed(outcome, Failure.from_exception(exc))
        with self._lock:
            key = (task_uuid, action)
            attempt = self._attempts[key] = self._attempts.get(key, 0) + 1
        document = {
            "v": celery_app.WIRE_VERSION,
            **plugin,
            "atom": task.name,
            "action": action,
            "arguments": dict(arguments),
            **extra,
            "atom_uuid": task_uuid,
            "attempt": attempt,
        }
        # The secrets this call's arguments carry (no others): the worker
        # scrubs them from its reply before it reaches the result backend.
        secrets = self.redactor.found_in(document["arguments"], plugin["init"])
        if secrets:
            document[celery_app.SECRETS_KEY] = secrets
        flight = _InFlight(
            f"{task_uuid}:{action}:{attempt}", outcome, document, progress_callback
        )
        with self._lock:
            self._by_future[flight.future] = flight.task_id
        self.start()
        self._requests.put(("send", flight))
        return flight.future

    def kill(self, future: concurrent.futures.Future[Any]) -> bool:
        """Revoke the task behind ``future`` and kill it if it runs (SIGKILL)."""
        with self._lock:
            task_id = self._by_future.get(future)
        if task_id is None or future.done():
            return False
        self._requests.put(("kill", task_id))
        return True

    def check_transferable(
        self, tasks: Iterable[Task], values: Mapping[str, Any]
    ) -> None:
        """Raise ``NotTransferable`` for a task that is no plugin, or non-JSON."""
        for task in tasks:
            describe_task(task, self.settings)
        for name, value in values.items():
            check_json(f"input {name!r}", value)

    # -- the pump --------------------------------------------------------
    def _run_pump(self) -> None:
        try:
            pump = _Pump(self.settings)
        except Exception as exc:
            self._startup_error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            pump.run(self._requests)
        finally:
            pump.close()
            with self._lock:
                for future in [f for f in self._by_future if f.done()]:
                    del self._by_future[future]


def safe_url(url: str) -> str:
    """``url`` with its password, if any, replaced by ``***``."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = parts.username or ""
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def _unreachable(what: str, url: str, error: BaseException) -> Exception:
    reason = " ".join(str(error).split()) or type(error).__name__
    return exceptions.ServiceUnavailable(
        f"the celery executor cannot reach its {what} {safe_url(url)} "
        f"(within {CHECK_TIMEOUT:g} s): {reason}"
    )


class _Pump:
    """The one owner of the Celery, Redis and kombu client objects."""

    def __init__(self, settings: CelerySettings) -> None:
        import redis
        from kombu import Consumer

        self.settings = settings
        self.app = celery_app.make_app(settings)
        self.redis = redis.Redis.from_url(settings.result_backend)
        self.pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        self.calls: dict[str, _InFlight] = {}
        self.connection = self.app.connection_for_write()
        self.connection.ensure_connection(max_retries=3)
        self.dead_consumer = Consumer(
            self.connection.channel(),
            queues=[celery_app.dead_queue(settings)],
            on_message=self._on_dead,
            accept=["json"],
        )
        self.dead_consumer.consume()
        self.last_sweep = self.last_dead_check = time.monotonic()

    def close(self) -> None:
        for call in list(self.calls.values()):
            self._fail(call, exceptions.AtomCancelled("the executor stopped"))
        for closing in (self.dead_consumer.cancel, self.pubsub.close):
            try:
                closing()
            except Exception:
                LOG.debug("closing the pump", exc_info=True)
        self.connection.release()
        self.redis.close()

    def run(self, requests: queue.SimpleQueue[tuple[str, Any]]) -> None:
        while True:
            try:
                # Idle: sleep until the engine asks for something. Busy: only
                # look, the wait is spent listening to Redis below.
                timeout = IDLE_WAIT if not self.calls else None
                if timeout is None:
                    request = requests.get_nowait()
                else:
                    request = requests.get(timeout=timeout)
            except queue.Empty:
                request = None
            while request is not None:
                if not self._handle(*request):
                    return
                try:
                    request = requests.get_nowait()
                except queue.Empty:
                    request = None
            if self.calls:
                self._drain_states(BUSY_WAIT)
            now = time.monotonic()
            if now - self.last_dead_check >= DEAD_LETTER_INTERVAL:
                # Dead letters are rare: reading them costs a broker round trip.
                self.last_dead_check = now
                self._drain_dead()
            self._check_deadlines()
            self._sweep()

    def _handle(self, kind: str, payload: Any) -> bool:
        """Carry out one engine request; False on ``stop``."""
        if kind == "stop":
            return False
        if kind == "send":
            self._send(payload)
        elif kind == "kill":
            call = self.calls.get(payload)
            if call is not None:
                self._revoke(call)
                self._fail(call, exceptions.AtomCancelled("killed"))
        return True

    # -- publishing --------------------------------------------------------
    def _send(self, call: _InFlight) -> None:
        key = META_PREFIX + call.task_id
        self.redis.delete(key, REVOKED_PREFIX + call.task_id)
        self.pubsub.subscribe(key)
        self.calls[call.task_id] = call
        options: dict[str, Any] = {}
        if self.settings.atom_timeout:
            options["time_limit"] = self.settings.atom_timeout + 5
        try:
            self.app.send_task(
                ATOM_TASK,
                args=[call.document],
                task_id=call.task_id,
                queue=celery_app.queue_for(self.settings, call.queue, call.once),
                **options,
            )
        except Exception as exc:
            LOG.warning("celery: cannot publish %s", call.task_id, exc_info=True)
            self._fail(
                call,
                exceptions.NoWorkerAvailable(f"the task could not be published: {exc}"),
            )
            return
        call.sent_at = time.monotonic()

    def _revoke(self, call: _InFlight) -> None:
        self.redis.set(
            REVOKED_PREFIX + call.task_id, "1", ex=self.settings.result_expires
        )
        try:
            self.app.control.revoke(call.task_id, terminate=True, signal="SIGKILL")
        except Exception:
            LOG.warning("celery: cannot revoke %s", call.task_id, exc_info=True)

    # -- incoming states ---------------------------------------------------
    def _drain_states(self, wait: float) -> None:
        timeout = wait
        while True:
            if not self.pubsub.subscribed:
                return
            message = self.pubsub.get_message(timeout=timeout)
            if message is None:
                return
            timeout = 0.0
            channel = message["channel"].decode()
            self._on_state(channel[len(META_PREFIX) :], message["data"])

    def _on_state(
        self, task_id: str, raw: bytes | str | None, swept: bool = False
    ) -> None:
        call = self.calls.get(task_id)
        if call is None or raw is None:
            return
        meta = json.loads(raw)
        status = meta.get("status")
        if swept and status == "PROGRESS":
            # Pub/sub delivers progress in order; a re-read could go back.
            status = "STARTED" if call.started_at is None else None
        value = meta.get("result")
        if status == "STARTED":
            pid = value.get("pid") if isinstance(value, dict) else None
            if call.started_at is None or pid != call.pid:
                # First start, or a redelivery: atom_timeout counts from here.
                call.started_at = time.monotonic()
                call.pid = pid
            if call.future.running() is False and not call.future.done():
                call.future.set_running_or_notify_cancel()
        elif status == "PROGRESS":
            if call.started_at is None:
                self._on_state(task_id, json.dumps({"status": "STARTED"}).encode())
            progress = value.get("progress") if isinstance(value, dict) else None
            if (
                progress is not None
                and progress != call.last_progress
                and call.progress is not None
            ):
                call.last_progress = progress
                try:
                    call.progress(progress)
                except Exception:
                    LOG.warning("Progress callback failed", exc_info=True)
        elif status == "SUCCESS":
            self._succeed(call, value)
        elif status == "FAILURE":
            self._fail(call, self._fault(value, meta.get("traceback")))
        elif status == "REVOKED":
            self._fail(call, exceptions.AtomCancelled("the task was revoked"))

    def _fault(self, value: Any, traceback: str | None) -> Exception:
        value = value if isinstance(value, dict) else {}
        name = str(value.get("exc_type", "Exception"))
        message = value.get("exc_message")
        if isinstance(message, list | tuple):
            message = " ".join(str(part) for part in message)
        text = f"celery reported {name}: {message}"
        if traceback:
            text += f"\n{traceback}"
        kind = _CELERY_FAULTS.get(name, exceptions.ExecutionFailure)
        return kind(text)

    def _succeed(self, call: _InFlight, value: Any) -> None:
        if not isinstance(value, dict) or "outcome" not in value:
            self._fail(
                call,
                exceptions.WorkerMisconfigured(f"unexpected worker result {value!r}"),
            )
            return
        if value["outcome"] == "success":
            self._resolve(call, value.get("result"))
        else:
            self._resolve(call, Failure.from_dict(value["failure"]))

    def _fail(self, call: _InFlight, error: Exception) -> None:
        self._resolve(call, Failure.from_exception(error))

    def _resolve(self, call: _InFlight, value: Any) -> None:
        if self.calls.pop(call.task_id, None) is None:
            return
        try:
            self.pubsub.unsubscribe(META_PREFIX + call.task_id)
        except Exception:
            LOG.debug("unsubscribe", exc_info=True)
        if not call.future.done():
            try:
                call.future.set_result((call.outcome, value))
            except concurrent.futures.InvalidStateError:
                pass

    # -- dead letters ------------------------------------------------------
    def _drain_dead(self) -> None:
        try:
            while True:
                self.connection.drain_events(timeout=0.001)
        except TimeoutError:
            return

    def _on_dead(self, message: Any) -> None:
        task_id = (message.headers or {}).get("id")
        deaths = (message.headers or {}).get("x-death") or []
        times = sum(int(death.get("count", 1)) for death in deaths) or 1
        text = (
            f"the workers running this task were lost until RabbitMQ stopped "
            f"redelivering it (dead-lettered {times} time(s), redelivery_limit="
            f"{self.settings.redelivery_limit})"
        )
        if task_id:
            # Whichever engine waits for it hears this, not only this one.
            state = {
                "status": "FAILURE",
                "result": {"exc_type": "WorkerLost", "exc_message": [text]},
                "traceback": None,
                "task_id": task_id,
            }
            raw = json.dumps(state)
            key = META_PREFIX + task_id
            self.redis.set(key, raw, ex=self.settings.result_expires)
            self.redis.publish(key, raw)
            call = self.calls.get(task_id)
            if call is not None:
                self._fail(call, exceptions.WorkerLost(text))
        message.ack()

    # -- deadlines and sweeps ------------------------------------------------
    def _check_deadlines(self) -> None:
        now = time.monotonic()
        start_timeout = self.settings.start_timeout
        atom_timeout = self.settings.atom_timeout
        for call in list(self.calls.values()):
            if not call.sent_at:
                continue
            if call.started_at is None:
                if start_timeout and now - call.sent_at > start_timeout:
                    self._revoke(call)
                    self._fail(
                        call,
                        exceptions.NoWorkerAvailable(
                            f"no worker started task {call.document['atom']!r} "
                            f"within start_timeout={start_timeout:g} s (queue "
                            f"{celery_app.queue_name(self.settings, call.queue)})"
                        ),
                    )
            elif atom_timeout and now - call.started_at > atom_timeout:
                self._revoke(call)
                self._fail(
                    call,
                    exceptions.AtomTimeout(
                        f"task {call.document['atom']!r} ran past "
                        f"atom_timeout={atom_timeout:g} s and was terminated"
                    ),
                )

    def _sweep(self) -> None:
        now = time.monotonic()
        if now - self.last_sweep < self.settings.result_sweep_interval:
            return
        self.last_sweep = now
        ids = list(self.calls)
        if not ids:
            return
        for task_id, raw in zip(
            ids, self.redis.mget([META_PREFIX + i for i in ids]), strict=True
        ):
            if raw is not None:
                self._on_state(task_id, raw, swept=True)
