"""The ``celery`` executor driver against real RabbitMQ and Redis on 127.0.0.1.

Workers are ``python -m opsflow.cmd.worker`` subprocesses, each in its own
session (process group), killed with ``os.killpg(SIGKILL)`` like a host that
dies. Their tasks come from ``tests/fixtures/opsflow-fixture-remote`` and push
``<verb> <atom> <pid> <attempt>`` markers to a Redis list. Each test has its
own queue prefix (``opsflow.t<session>.<n>``, queues deleted after) and the
session has its own Redis database (flushed after).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from opsflow import engines, exceptions
from opsflow.patterns import linear_flow
from opsflow.plugins.loader import PluginNotFound
from opsflow.task import FunctorTask

pytestmark = pytest.mark.integration

BROKER = "amqp://guest:guest@127.0.0.1:5672//"
REDIS = "redis://127.0.0.1:6379"
SESSION = uuid.uuid4().hex[:8]


def _unavailable(reason: str) -> None:
    if os.environ.get("OPSFLOW_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} (OPSFLOW_REQUIRE_SERVICES=1)", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


try:
    import celery  # noqa: F401
    import redis
    from kombu import Connection

    from opsflow.executors.celery import CeleryTaskExecutor, describe_task
    from opsflow.executors.celery_app import CelerySettings, dead_queue, queue_for
except ImportError as exc:  # pragma: no cover - depends on the environment
    _unavailable(f"the celery extra is not installed: {exc}")

try:
    from opsflow_fixture_remote import tasks as remote
except ImportError:  # pragma: no cover - depends on the environment
    _unavailable("tests/fixtures/opsflow-fixture-remote is not installed")


def wait_for(
    condition: Callable[[], Any], timeout: float, what: str, interval: float = 0.05
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


@pytest.fixture(scope="session")
def redis_db() -> Iterator[int]:
    try:
        with Connection(BROKER, connect_timeout=2) as conn:
            conn.ensure_connection(max_retries=1)
    except Exception as exc:
        _unavailable(f"RabbitMQ is not reachable at 127.0.0.1:5672: {exc}")
    try:
        redis.Redis.from_url(REDIS, socket_connect_timeout=2).ping()
    except Exception as exc:
        _unavailable(f"Redis is not reachable at 127.0.0.1:6379: {exc}")
    # A database nobody uses (no keys), claimed for this session.
    for db in range(15, 0, -1):
        client = redis.Redis.from_url(f"{REDIS}/{db}")
        if client.dbsize() == 0 and client.set("opsflow-test-claim", SESSION, nx=True):
            try:
                yield db
            finally:
                client.flushdb()
                client.close()
            return
        client.close()
    pytest.fail("no free Redis database for the celery tests")


@dataclass
class Env:
    """One test's queues, workers and markers."""

    settings: CelerySettings
    tmp: Any
    markers_key: str
    redis: Any
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: list[str] = field(default_factory=list)

    def executor(self, **overrides: Any) -> CeleryTaskExecutor:
        return CeleryTaskExecutor(settings=replace(self.settings, **overrides))

    def start_worker(self, **overrides: Any) -> subprocess.Popen[bytes]:
        settings = replace(self.settings, **overrides)
        n = len(self.workers)
        config = self.tmp / f"worker{n}.conf"
        config.write_text(
            "[celery_executor]\n"
            f"broker_url = {settings.broker_url}\n"
            f"result_backend = {settings.result_backend}\n"
            f"queue_prefix = {settings.queue_prefix}\n"
            f"redelivery_limit = {settings.redelivery_limit}\n"
            "progress_min_interval = 0\n"
            "[celery_worker]\n"
            "concurrency = 1\n"
            "pool = prefork\n"
            f"allowed_plugins = {','.join(settings.allowed_plugins)}\n"
            "soft_shutdown_timeout = 0\n"
        )
        log = str(self.tmp / f"worker{n}.log")
        env = dict(
            os.environ, OPSFLOW_FIXTURE_MARKERS=f"{self.redis_url}#{self.markers_key}"
        )
        with open(log, "wb") as out:
            worker = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "opsflow.cmd.worker",
                    "--config-file",
                    str(config),
                    "--hostname",
                    f"w{n}-{SESSION}@test",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )
        self.workers.append(worker)
        self.logs.append(log)
        wait_for(
            lambda: worker.poll() is not None or " ready." in self.log(n),
            20,
            f"worker {n} to be ready",
        )
        assert worker.poll() is None, self.log(n)
        return worker

    @property
    def redis_url(self) -> str:
        return self.settings.result_backend

    def log(self, n: int) -> str:
        with open(self.logs[n], encoding="utf-8", errors="replace") as f:
            return f.read()

    def kill(self, worker: subprocess.Popen[bytes]) -> None:
        """SIGKILL a worker and its pool children, as if its host died."""
        try:
            os.killpg(worker.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        worker.wait(timeout=10)

    def kill_worker_of(self, pid: int) -> None:
        for worker in self.workers:
            if worker.poll() is None and os.getpgid(pid) == worker.pid:
                self.kill(worker)
                return
        raise AssertionError(f"pid {pid} belongs to no live worker")

    def markers(self, verb: str | None = None, atom: str | None = None) -> list[list]:
        found = []
        for raw in self.redis.lrange(self.markers_key, 0, -1):
            each = raw.decode().split()
            if (verb is None or each[0] == verb) and (atom is None or each[1] == atom):
                found.append(each)
        return found


@pytest.fixture
def env(redis_db: int, tmp_path: Any, request: Any) -> Iterator[Env]:
    prefix = f"opsflow.t{SESSION}.{uuid.uuid4().hex[:6]}"
    url = f"{REDIS}/{redis_db}"
    settings = CelerySettings(
        broker_url=BROKER,
        result_backend=url,
        queue_prefix=prefix,
        redelivery_limit=1,
        start_timeout=20,
        result_sweep_interval=1,
        progress_min_interval=0,
        result_expires=3600,
        allowed_plugins=("remote.*",),
    )
    client = redis.Redis.from_url(url)
    env = Env(settings, tmp_path, f"markers:{prefix}", client)
    try:
        yield env
    finally:
        for worker in env.workers:
            if worker.poll() is None:
                env.kill(worker)
        with Connection(BROKER) as conn:
            channel = conn.channel()
            for declared in (
                queue_for(settings, "default"),
                queue_for(settings, "default", once=True),
                dead_queue(settings),
            ):
                channel.queue_delete(declared.name)
                channel.exchange_delete(declared.name)
        client.close()


def gone(pid: int) -> bool:
    """True once ``pid`` has exited (a zombie counts as exited)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def run_in_thread(engine: Any) -> tuple[threading.Thread, dict[str, Any]]:
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            engine.run()
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def failure_of(engine: Any, atom: str) -> Any:
    return engine.storage.get_execute_failures()[atom]


# -- round trips -----------------------------------------------------------------
def test_a_remote_task_gets_its_init_and_arguments_and_reports_progress_in_order(env):
    # Given one worker and a plugin task built with a constructor keyword
    env.start_worker()
    flow = linear_flow.Flow("roundtrip").add(
        remote.Echo(name="echo", greeting="bonjour", steps=4, provides="echoed")
    )
    engine = engines.load(
        flow, store={"value": {"a": [1, 2.5, None]}}, executor=env.executor()
    )
    progress: list[float] = []
    engine.atom_notifier.register(
        "update_progress", lambda state, details: progress.append(details["progress"])
    )
    # When the flow runs
    engine.run()
    # Then the worker rebuilt the task from JSON and ran it in another process
    echoed = engine.storage.fetch("echoed")
    assert echoed["greeting"] == "bonjour"
    assert echoed["value"] == {"a": [1, 2.5, None]}
    assert echoed["pid"] != os.getpid()
    assert env.markers("started", "echo") == [
        ["started", "echo", str(echoed["pid"]), "1"]
    ]
    # And every progress update reached the local notifier, in order
    assert len(progress) >= 3
    assert progress == sorted(progress)
    assert progress[-1] == 1.0


def test_a_remote_exception_comes_back_with_its_types_and_traceback_and_reverts(env):
    # Given a flow whose second task raises on the worker
    env.start_worker()
    flow = linear_flow.Flow("boom").add(
        remote.Echo(name="first", steps=1), remote.Boom(name="boom")
    )
    engine = engines.load(flow, store={"value": 7}, executor=env.executor())
    # When it runs (a remote exception is re-raised wrapped: no foreign import)
    with pytest.raises(exceptions.WrappedFailure, match="boom from the plugin with 7"):
        engine.run()
    # Then the failure names the exception's classes and the plugin's line
    failure = failure_of(engine, "boom")
    assert failure.exc_type_names[:2] == ("RuntimeError", "Exception")
    assert "opsflow_fixture_remote/tasks.py" in failure.traceback_str
    assert 'raise RuntimeError(f"boom from the plugin' in failure.traceback_str
    # And the earlier task was reverted on the worker too
    assert env.markers("reverted", "first")
    assert engine.storage.get_flow_state() == "REVERTED"


def test_a_secret_is_scrubbed_by_the_worker_before_the_result_backend_stores_it(
    env,
):
    # Given a secret that one remote task returns and another raises with
    env.start_worker()
    secret = "hunter2-Zq9"
    flow = linear_flow.Flow("secret").add(
        remote.Echo(name="echo", steps=1, provides="echoed"), remote.Boom(name="boom")
    )
    engine = engines.load(flow, executor=env.executor())
    engine.storage.inject_secrets({"value": secret})
    # When the flow runs (and is reverted)
    with pytest.raises(
        exceptions.WrappedFailure, match=r"boom from the plugin with '\*\*\*'"
    ):
        engine.run()
    # Then the workers got it, but neither Redis nor the run's record holds it
    assert env.markers("started", "boom")
    assert engine.storage.atom_detail("echo").results["value"] == "***"
    stored = []
    for key in env.redis.keys("*"):
        kind = env.redis.type(key)
        if kind == b"string":
            stored.append(env.redis.get(key))
        elif kind == b"list":
            stored.extend(env.redis.lrange(key, 0, -1))
    metas = [raw for raw in stored if b"boom from the plugin" in raw]
    assert metas, "the failure's result is in Redis"
    assert all(secret.encode() not in raw for raw in stored)
    from opsflow.persistence import codec

    record = json.dumps([codec.encode(d.to_dict()) for d in engine.storage.flow_detail])
    assert "***" in record and secret not in record


# -- lost workers ------------------------------------------------------------------
def test_a_task_whose_worker_is_killed_completes_on_the_other_worker(env):
    # Given two workers and a task that runs for a while
    env.start_worker()
    env.start_worker()
    flow = linear_flow.Flow("kill").add(
        remote.Slow(name="slow", seconds=1.5, provides="out")
    )
    engine = engines.load(flow, executor=env.executor())
    thread, outcome = run_in_thread(engine)
    # When the worker running it dies mid-execute (the whole process group)
    first = wait_for(lambda: env.markers("started", "slow"), 20, "the first start")
    env.kill_worker_of(int(first[0][2]))
    thread.join(30)
    # Then RabbitMQ redelivered it to the other worker, where it completed
    assert not thread.is_alive() and "error" not in outcome, outcome
    assert engine.storage.fetch("out") == "slept 1.5"
    starts = env.markers("started", "slow")
    assert len(starts) == 2
    assert starts[0][2] != starts[1][2]
    assert len(env.markers("finished", "slow")) == 1


def test_a_killed_pool_child_is_requeued_and_run_once_more(env):
    # Given one worker whose pool child runs a task
    env.start_worker()
    flow = linear_flow.Flow("child").add(
        remote.Slow(name="slow", seconds=1.0, provides="out")
    )
    engine = engines.load(flow, executor=env.executor())
    thread, outcome = run_in_thread(engine)
    first = wait_for(lambda: env.markers("started", "slow"), 20, "the first start")
    # When only that child dies (WorkerLostError in the worker)
    os.kill(int(first[0][2]), signal.SIGKILL)
    thread.join(30)
    # Then reject_on_worker_lost requeued the message and a new child ran it
    assert not thread.is_alive() and "error" not in outcome, outcome
    assert engine.storage.fetch("out") == "slept 1.0"
    assert len(env.markers("started", "slow")) == 2


def test_a_task_that_kills_every_worker_ends_in_worker_lost_and_the_flow_reverts(env):
    # Given one worker at a time and a delivery limit of one redelivery
    worker = env.start_worker()
    flow = linear_flow.Flow("exhausted").add(
        remote.Echo(name="first", steps=1), remote.Slow(name="slow", seconds=30)
    )
    engine = engines.load(flow, store={"value": 1}, executor=env.executor())
    thread, outcome = run_in_thread(engine)
    # When the worker dies each time the task starts
    for starts in (1, 2):
        wait_for(
            lambda n=starts: len(env.markers("started", "slow")) == n,
            20,
            f"start {starts}",
        )
        env.kill(worker)
        worker = env.start_worker()
    thread.join(30)
    # Then the dead-letter queue turned it into WorkerLost and the flow reverted
    assert not thread.is_alive()
    assert isinstance(outcome.get("error"), exceptions.WorkerLost), outcome
    assert failure_of(engine, "slow").check(exceptions.WorkerLost)
    assert len(env.markers("started", "slow")) == 2
    assert env.markers("reverted", "first")
    assert engine.storage.get_flow_state() == "REVERTED"


def test_a_non_idempotent_task_never_runs_twice(env):
    # Given a plugin that declares idempotent = False
    worker = env.start_worker()
    flow = linear_flow.Flow("once").add(remote.Once(name="once", seconds=30))
    engine = engines.load(flow, executor=env.executor())
    thread, outcome = run_in_thread(engine)
    # When its worker dies mid-execute and another worker is there
    wait_for(lambda: env.markers("started", "once"), 20, "the start")
    env.kill(worker)
    env.start_worker()
    thread.join(30)
    # Then it was not redelivered: WorkerLost after one start
    assert not thread.is_alive()
    assert isinstance(outcome.get("error"), exceptions.WorkerLost), outcome
    assert len(env.markers("started", "once")) == 1


# -- bounded waits -------------------------------------------------------------------
def test_no_worker_gives_no_worker_available_and_a_later_worker_skips_it(env):
    # Given no worker consumes the queue
    flow = linear_flow.Flow("nobody").add(remote.Echo(name="echo", steps=1))
    engine = engines.load(
        flow, store={"value": 1}, executor=env.executor(start_timeout=3)
    )
    # When the flow runs
    started = time.monotonic()
    with pytest.raises(exceptions.NoWorkerAvailable, match="start_timeout=3"):
        engine.run()
    # Then it failed after start_timeout, not before and not much later
    assert 3 <= time.monotonic() - started < 10
    # And a worker started later skips the revoked message
    env.start_worker()
    wait_for(lambda: " ignored" in env.log(0), 20, "the worker to skip the task")
    assert env.markers("started") == []


def test_a_task_past_atom_timeout_is_terminated_and_the_flow_reverts(env):
    # Given an atom_timeout shorter than the task
    env.start_worker()
    flow = linear_flow.Flow("late").add(
        remote.Echo(name="first", steps=1), remote.Slow(name="slow", seconds=20)
    )
    engine = engines.load(
        flow, store={"value": 1}, executor=env.executor(atom_timeout=1.5)
    )
    # When it runs
    with pytest.raises(exceptions.AtomTimeout, match="atom_timeout=1.5"):
        engine.run()
    # Then the task was stopped on the worker and the flow reverted remotely
    child = int(env.markers("started", "slow")[0][2])
    wait_for(lambda: gone(child), 10, f"pool child {child} to be killed")
    assert engine.storage.get_flow_state() == "REVERTED"
    assert env.markers("reverted", "first")
    assert env.markers("reverted", "slow")
    assert env.markers("finished", "slow") == []
    assert len(env.markers("started", "slow")) == 1


def test_a_task_past_its_own_timeout_is_revoked_by_the_engine_and_reverted(env):
    # Given a task whose own timeout (an engine deadline) is short
    env.start_worker()
    flow = linear_flow.Flow("own-timeout").add(
        remote.Slow(name="slow", seconds=20, timeout=1.0)
    )
    engine = engines.load(flow, executor=env.executor())
    # When it runs past it
    started = time.monotonic()
    with pytest.raises(exceptions.Timeout, match="timeout of 1 s"):
        engine.run()
    # Then the engine killed the process running it and reverted it remotely
    assert time.monotonic() - started < 10
    child = int(env.markers("started", "slow")[0][2])
    wait_for(lambda: gone(child), 10, f"pool child {child} to be killed")
    wait_for(lambda: env.markers("reverted", "slow"), 20, "the remote revert")
    assert env.markers("finished", "slow") == []


# -- refused input ---------------------------------------------------------------------
class Missing(remote.Echo):
    plugin_name = "remote.missing"


class NewerMajor(remote.Echo):
    plugin_name = "remote.echo"
    plugin_version = "9.0.0"


@pytest.mark.parametrize(
    ("task_class", "error_type", "message"),
    [
        (Missing, PluginNotFound, "remote.missing"),
        (remote.Forbidden, exceptions.IncompatiblePlugin, "allowed_plugins"),
        (NewerMajor, exceptions.IncompatiblePlugin, "major versions differ"),
    ],
)
def test_a_bad_plugin_fails_at_once_without_redelivery(
    env, task_class, error_type, message
):
    # Given a worker that allows only remote.* plugins
    env.start_worker()
    flow = linear_flow.Flow("bad").add(task_class(name="bad"))
    engine = engines.load(flow, store={"value": 1}, executor=env.executor())
    # When a task it cannot or must not run is sent
    started = time.monotonic()
    with pytest.raises(exceptions.OpsflowException, match=message):
        engine.run()
    # Then it fails at once, and nothing ran
    assert time.monotonic() - started < 10
    assert failure_of(engine, "bad").check(error_type)
    assert env.markers("started") == []


def test_a_pickled_message_is_refused_and_never_runs(env):
    # Given a worker
    env.start_worker()
    target = queue_for(env.settings, "default")
    task_id = f"pickled-{uuid.uuid4().hex}"
    document = {"v": 1, "plugin": "remote.echo", "atom": "pickled", "init": {}}
    document.update(action="execute", arguments={"value": 1}, attempt=1)
    # When someone publishes a pickle-serialized opsflow.atom message
    with Connection(BROKER) as conn:
        conn.Producer().publish(
            [[document], {}, {}],
            exchange=target.exchange,
            routing_key=target.routing_key,
            declare=[target],
            serializer="pickle",
            headers={"lang": "py", "task": "opsflow.atom", "id": task_id},
        )
    # Then the worker refuses its content and never runs it
    wait_for(lambda: "ContentDisallowed" in env.log(0), 20, "the refusal")
    # And it still runs JSON tasks
    flow = linear_flow.Flow("after").add(remote.Echo(name="after", steps=1))
    engines.load(flow, store={"value": 2}, executor=env.executor()).run()
    assert [m[1] for m in env.markers("started")] == ["after"]


# -- what is sent (no services needed) -------------------------------------------------
def test_a_task_is_sent_as_its_plugin_name_version_and_constructor_keywords():
    # Given a plugin task built with its own keywords and the Task ones
    task = remote.Echo(name="echo", greeting="salut", steps=2, provides="x")
    # When the driver describes it for the wire
    described = describe_task(task, CelerySettings())
    # Then only the plugin's own keywords travel, with its name and version
    assert described["plugin"] == "remote.echo"
    assert described["plugin_version"] == "1.0.0"
    assert described["init"] == {"greeting": "salut", "steps": 2}
    assert (described["queue"], described["once"]) == ("default", False)
    assert describe_task(remote.Once(name="o"), CelerySettings())["once"] is True


def test_a_task_that_is_no_plugin_or_a_non_json_input_is_refused_before_sending():
    # Given the celery driver (never started: validate sends nothing)
    executor = CeleryTaskExecutor(settings=CelerySettings())
    # When a flow has a task that no entry point names
    local = FunctorTask(lambda: 1, name="local")
    engine = engines.load(linear_flow.Flow("f").add(local), executor=executor)
    # Then validation refuses it, naming the task
    with pytest.raises(exceptions.NotTransferable, match="'local'.*opsflow.tasks"):
        engine.validate()
    # And an input that is not JSON is refused the same way
    flow = linear_flow.Flow("g").add(remote.Echo(name="echo"))
    engine = engines.load(flow, store={"value": {1, 2}}, executor=executor)
    with pytest.raises(exceptions.NotTransferable, match="input 'value'"):
        engine.validate()
