"""``opsflow-conductor``: claim queued runs and run them until stopped.

Reads ``opsflow.conf`` like ``opsflow-run`` and serves the jobboard of
``[jobboard] driver`` (one that queues runs: ``procrastinate``). SIGTERM or
SIGINT stops taking runs and waits for the running ones to end; SIGKILL is
survived by the runs, which another conductor resumes after
``stalled_after`` seconds.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    from opsflow.cli.exits import report_error

    parser = argparse.ArgumentParser(
        prog="opsflow-conductor",
        description="Claim runs queued with opsflow-run --submit and run them.",
    )
    parser.add_argument("--config-file", action="append", default=[], metavar="F")
    parser.add_argument("--config-dir", action="append", default=[], metavar="D")
    parser.add_argument("--debug", action="store_true")
    args = parser.parse_args(argv)
    try:
        return _serve(args)
    except KeyboardInterrupt:
        return 0
    except Exception as exc:
        return report_error(exc, args.debug, prog="opsflow-conductor")


def _serve(args: argparse.Namespace) -> int:
    from opsflow import exceptions, jobboards
    from opsflow.conf import loader
    from opsflow.plugins.catalog import Catalog
    from opsflow.runs.service import plugin_environment

    conf = loader.load(args.config_file, args.config_dir)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.INFO,
        format="%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("procrastinate").setLevel(
        logging.DEBUG if args.debug else logging.WARNING
    )
    board = jobboards.load(conf, catalog=Catalog(conf.flow_dirs))
    serve = getattr(board, "run_conductor", None)
    if serve is None:
        raise exceptions.ConfigurationError(
            f"jobboard {board.name!r} queues nothing for a conductor to run: "
            "set [jobboard] driver = procrastinate"
        )
    try:
        with plugin_environment(conf):
            serve()
    finally:
        board.close()
    return 0


def console_main() -> None:
    """The console script: exits without joining leftover threads.

    Once the worker has stopped, every run has ended; a thread of an idle
    pool can still keep the interpreter's exit waiting (seen with eventlet
    imported by futurist), so the process ends here, its logs flushed.
    """
    code = main()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    console_main()
