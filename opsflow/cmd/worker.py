"""``opsflow-worker``: a Celery worker that runs opsflow task plugins.

Reads ``[celery_executor]`` and ``[celery_worker]`` from ``opsflow.conf``,
builds the worker app of :mod:`opsflow.executors.celery_app` and hands over
to Celery. It consumes ``<prefix>.<queue>`` and ``<prefix>.<queue>.once`` for
each configured queue and registers one task, ``opsflow.atom``.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
from collections.abc import Sequence

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="opsflow-worker",
        description="Run opsflow task plugins sent by engines that use the "
        "celery executor driver.",
    )
    parser.add_argument(
        "--config-file",
        action="append",
        default=[],
        metavar="PATH",
        help="opsflow.conf to read (repeatable); default: oslo.config's usual places",
    )
    parser.add_argument(
        "--hostname",
        default=None,
        help="Celery node name (default opsflow-<pid>@<host>)",
    )
    parser.add_argument(
        "--loglevel", default="INFO", help="Celery log level (default INFO)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from opsflow.conf import loader
    from opsflow.executors.celery_app import CelerySettings, make_app, queue_name

    try:
        conf = loader.load(config_files=args.config_file)
    except loader.ConfigError as exc:
        print(f"opsflow-worker: {exc}", file=sys.stderr)
        return 78  # EX_CONFIG
    settings = CelerySettings.from_conf(conf)
    app = make_app(settings, worker=True)
    queues = []
    for name in settings.queues:
        queues += [queue_name(settings, name), queue_name(settings, name, once=True)]
    hostname = args.hostname or f"opsflow-{os.getpid()}@{socket.gethostname()}"
    app.worker_main(
        [
            "worker",
            "--queues",
            ",".join(queues),
            "--concurrency",
            str(settings.concurrency),
            "--pool",
            settings.pool,
            "--hostname",
            hostname,
            "--prefetch-multiplier",
            "1",
            "--loglevel",
            args.loglevel,
            # Revocations live in Redis (celery_app.REVOKED_PREFIX), so a new
            # worker needs no state from its neighbours: start faster.
            "--without-mingle",
            "--without-gossip",
        ]
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
