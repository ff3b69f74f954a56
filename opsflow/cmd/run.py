"""``opsflow-run``: parse arguments and configuration, do what they ask, exit.

:func:`run` reads the command line and ``opsflow.conf``, builds the plugin
catalog and the run's inputs, and hands them to
:class:`opsflow.cli.commands.Command`, which presents the run lifecycle of
:mod:`opsflow.runs`. Every error becomes one line on stderr and the exit
code of the README's table (:mod:`opsflow.cli.exits`); signals are handled
here until a run starts, and by :mod:`opsflow.cli.runner` while it runs.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from opsflow.cli import args as cli_args
from opsflow.cli.exits import ExitCode, report_error


def main(argv: Sequence[str] | None = None) -> int:
    from opsflow.cli.streams import guard_std_streams

    guard_std_streams()  # a reader that went away never changes the exit code
    _interrupt_once()
    debug = "--debug" in (sys.argv[1:] if argv is None else argv)
    if not debug:
        from opsflow.utils.eventlet_utils import quiet_eventlet_warning

        quiet_eventlet_warning()  # plugins importing futurist would show it
    try:
        return run(argv)
    except KeyboardInterrupt:  # a signal outside the run (its handlers suspend it)
        from opsflow.cli import runner

        when = (
            "after the run" if runner.ENGINE_STARTED.is_set() else "before any step ran"
        )
        print(f"opsflow-run: interrupted {when}", file=sys.stderr)
        return ExitCode.SUSPENDED
    except Exception as exc:
        return report_error(exc, debug)


def console_main() -> int:
    """The ``opsflow-run`` console script: :func:`main`, then signals ignored.

    Python puts the default SIGINT/SIGTERM dispositions back while it shuts
    down, so a signal arriving once the command has decided its exit code
    (a second Ctrl-C, say) would end it by the signal instead. Ignored
    dispositions are left alone.
    """
    import signal

    try:
        return main()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, signal.SIG_IGN)


def _interrupt_once() -> None:
    """SIGINT/SIGTERM outside a run: the first one interrupts the command
    (``KeyboardInterrupt``, exit 3), later ones are ignored while it unwinds.

    Without this, a second Ctrl-C arriving while the first one is being
    handled ends the process by the signal (exit -2) instead of 3, and
    SIGTERM before the run kills it outright. During a run, the runner's own
    handlers take over (suspend, then stop at once).
    """
    import signal

    fired = False

    def interrupt(signum: int, frame: Any) -> None:
        nonlocal fired
        if not fired:
            fired = True
            raise KeyboardInterrupt

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, interrupt)


def run(argv: Sequence[str] | None) -> int:
    """Parse, configure, then do what the arguments ask; the exit code."""
    from opsflow.conf import loader
    from opsflow.plugins.catalog import Catalog

    args = cli_args.parse(argv)
    conf = loader.load(
        args.config_file or _config_from_environment(),
        args.config_dir,
        overrides={
            ("engine", "engine"): ("--engine", args.engine),
            ("engine", "executor"): ("--executor", args.executor),
            ("engine", "max_workers"): ("--max-workers", args.max_workers),
            (None, "log_file"): ("--log-file", args.log_file),
            (None, "log_dir"): ("--log-dir", args.log_dir),
            (None, "use_json"): ("--use-json", args.use_json),
            (None, "use_journal"): ("--use-journal", args.use_journal),
        },
    )
    catalog = Catalog(conf.flow_dirs)  # YAML flows are found by name too
    if args.list:  # plugins only: no inputs, run service or log set-up to pay for
        from opsflow.cli import columns, report

        if cli_args.listing_rows(args):
            listing = report.plugin_listing(catalog)
            columns.write_selected(
                listing, args.format, args.column, "--list", sys.stdout
            )
        else:
            report.print_listing(catalog, sys.stdout, as_json=args.format == "json")
        return ExitCode.SUCCESS
    from opsflow.cli.commands import Command
    from opsflow.cli.inputs import parse_inputs
    from opsflow.cli.logs import setup_logging
    from opsflow.runs.service import plugin_environment

    with plugin_environment(conf):
        inputs = parse_inputs(args.store, args.store_file, args.secret)
        command = Command(args, conf, catalog, inputs)
        given = {"log_file": "--log-file", "log_dir": "--log-dir"}
        flags = {name: flag for name, flag in given.items() if getattr(args, name)}
        setup_logging(conf, args.debug, command.masker, flags)
        return command.dispatch()


def _config_from_environment() -> list[str]:
    """``OPSFLOW_CONFIG``: the configuration file when no --config-file is given."""
    import os

    path = os.environ.get("OPSFLOW_CONFIG")
    return [path] if path else []


if __name__ == "__main__":
    sys.exit(console_main())
