"""Throughput of the ``celery`` executor driver: 1,000 no-op remote tasks.

Starts 1, 2 and 4 ``opsflow-worker`` processes (each with one prefork
child, so N processes run tasks) against RabbitMQ and Redis on 127.0.0.1,
runs an unordered flow of ``remote.noop`` tasks on the parallel engine, and
prints tasks per second. Needs ``pip install opsflow[celery]`` and
``tests/fixtures/opsflow-fixture-remote``. Queues and results use a private
prefix and Redis database, removed at the end. Figures: docs/performance.md.

    python benchmarks/celery.py                    # 1,000 tasks, 1/2/4 workers
    python benchmarks/celery.py --tasks 200 --workers 1 2 --repeat 1
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from pathlib import Path

# This file is named like the package it measures: keep its own directory off
# the import path, or "import celery" would import this script.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent]

BROKER = "amqp://guest:guest@127.0.0.1:5672//"
REDIS_DB = "redis://127.0.0.1:6379/14"


def start_workers(settings, count: int, tmp: Path) -> list[subprocess.Popen]:
    config = tmp / "worker.conf"
    config.write_text(
        "[celery_executor]\n"
        f"broker_url = {settings.broker_url}\n"
        f"result_backend = {settings.result_backend}\n"
        f"queue_prefix = {settings.queue_prefix}\n"
        "[celery_worker]\nconcurrency = 1\npool = prefork\n"
    )
    workers = []
    for n in range(count):
        log = open(tmp / f"worker{n}.log", "wb")  # noqa: SIM115 - kept for Popen
        workers.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "opsflow.cmd.worker",
                    "--config-file",
                    str(config),
                    "--hostname",
                    f"bench{n}-{uuid.uuid4().hex[:4]}@b",
                    "--loglevel",
                    "WARNING",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
    from kombu import Connection

    # Ready when every worker consumes the queue.
    deadline = time.monotonic() + 30
    with Connection(settings.broker_url) as conn:
        name = f"{settings.queue_prefix}.default"
        while time.monotonic() < deadline:
            try:
                _, _, consumers = conn.default_channel.queue_declare(name, passive=True)
            except Exception:
                conn.close()
                conn.connect()
                consumers = 0
            if consumers >= count:
                return workers
            time.sleep(0.1)
    raise SystemExit("workers did not start within 30 s")


def run_once(settings, tasks: int) -> float:
    from opsflow_fixture_remote.tasks import Noop

    from opsflow import engines
    from opsflow.executors.celery import CeleryTaskExecutor
    from opsflow.patterns import unordered_flow

    flow = unordered_flow.Flow("noops").add(
        *(Noop(name=f"noop-{i}") for i in range(tasks))
    )
    executor = CeleryTaskExecutor(settings=settings)
    engine = engines.load(flow, engine="parallel", executor=executor)
    engine.compile()
    engine.prepare()
    started = time.perf_counter()
    engine.run()
    return time.perf_counter() - started


def cleanup(settings) -> None:
    import redis
    from kombu import Connection

    from opsflow.executors.celery_app import dead_queue, queue_for

    with Connection(settings.broker_url) as conn:
        channel = conn.channel()
        for queue in (
            queue_for(settings, "default"),
            queue_for(settings, "default", once=True),
            dead_queue(settings),
        ):
            channel.queue_delete(queue.name)
            channel.exchange_delete(queue.name)
    redis.Redis.from_url(settings.result_backend).flushdb()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--repeat", type=int, default=3, help="best of N runs")
    args = parser.parse_args()

    from opsflow.executors.celery_app import CelerySettings

    base = CelerySettings(
        broker_url=BROKER,
        result_backend=REDIS_DB,
        start_timeout=120,
        result_sweep_interval=5,
    )
    print(f"{args.tasks} no-op remote tasks, parallel engine, best of {args.repeat}")
    print(f"{'workers':>8} {'seconds':>9} {'tasks/s':>9} {'ms/task':>9}")
    for count in args.workers:
        settings = replace(base, queue_prefix=f"opsflow.bench.{uuid.uuid4().hex[:6]}")
        with tempfile.TemporaryDirectory() as tmp:
            workers = start_workers(settings, count, Path(tmp))
            try:
                run_once(settings, min(args.tasks, 50))  # warm-up
                best = min(run_once(settings, args.tasks) for _ in range(args.repeat))
            finally:
                for worker in workers:
                    os.killpg(worker.pid, signal.SIGKILL)
                    worker.wait()
                cleanup(settings)
        print(
            f"{count:>8} {best:>9.2f} {args.tasks / best:>9.0f} "
            f"{1000 * best / args.tasks:>9.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
