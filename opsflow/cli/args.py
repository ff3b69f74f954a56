"""The ``opsflow-run`` command line.

argparse exits with status 2 on a usage error, which ``opsflow-run``
reserves for a FAILURE run; :class:`_Parser` raises :class:`UsageError`
(exit 64) instead.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import NoReturn

from opsflow.cli.exits import UsageError

__all__ = ["build_parser", "parse"]

_EPILOG = """\
exit codes: 0 success, 1 reverted (a step failed, every change undone),
2 failure (a revert failed: see the report), 3 suspended (resumable),
64 usage error, 69 plugin or persistence unavailable, 70 internal error,
78 configuration error
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="opsflow-run",
        description="Run an opsflow flow plugin; every change is undone if a "
        "step fails.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("flow", nargs="?", help="name of the flow to run")
    inputs = parser.add_argument_group("inputs")
    inputs.add_argument(
        "--store",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a value for the flow's store; VALUE is JSON when it parses "
        "(steps=30 is a number), else a string",
    )
    inputs.add_argument(
        "--store-file",
        metavar="FILE",
        help="JSON or YAML mapping of store values; keys listed under "
        "'secrets:' are treated as secrets",
    )
    inputs.add_argument(
        "--secret",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a store value that is never printed, logged or persisted",
    )
    engine = parser.add_argument_group("engine (override opsflow.conf)")
    engine.add_argument("--engine", metavar="E", help="serial or parallel")
    engine.add_argument("--executor", metavar="X", help="executor driver name")
    engine.add_argument("--max-workers", metavar="N", help="most tasks at once")
    engine.add_argument(
        "--listener",
        action="append",
        default=[],
        metavar="NAME",
        help="attach a listener plugin (opsflow.listeners) to the run",
    )
    modes = parser.add_argument_group("modes")
    only = modes.add_mutually_exclusive_group()
    only.add_argument(
        "--list", action="store_true", help="list flows and tasks, broken ones too"
    )
    only.add_argument("--history", action="store_true", help="list past runs")
    only.add_argument("--show", metavar="RUN_ID", help="show one past run")
    only.add_argument(
        "--resume",
        metavar="RUN_ID",
        help="resume a run that was suspended or killed (a run that already "
        "ended is only shown, with its exit code)",
    )
    modes.add_argument(
        "--force",
        action="store_true",
        help="with --resume: resume even though plugin versions changed",
    )
    modes.add_argument(
        "--dry-run",
        action="store_true",
        help="check the flow and its inputs, print the plan, run nothing",
    )
    modes.add_argument(
        "--graph", metavar="FILE", help="write the flow's graph (DOT) and run nothing"
    )
    output = parser.add_argument_group("output and configuration")
    output.add_argument("--format", choices=["text", "json"], default="text")
    output.add_argument(
        "--config-file",
        action="append",
        default=[],
        metavar="F",
        help="configuration file (repeatable); default: opsflow.conf in "
        "~/.opsflow/, ~/, /etc/opsflow/, /etc/",
    )
    output.add_argument(
        "--config-dir",
        action="append",
        default=[],
        metavar="D",
        help="directory of *.conf files read after --config-file",
    )
    output.add_argument(
        "--debug", action="store_true", help="show tracebacks and debug logs"
    )
    return parser


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parsed arguments; :class:`UsageError` when they do not fit together."""
    args = build_parser().parse_args(argv)
    listing = args.list or args.history
    if args.flow and (listing or args.show or args.resume):
        raise UsageError("give a flow name or one of --list/--history/--show/--resume")
    if not args.flow and not (listing or args.show or args.resume):
        raise UsageError("missing flow name (see --list for installed flows)")
    if args.force and not args.resume:
        raise UsageError("--force goes with --resume")
    if args.resume and (args.store or args.dry_run or args.graph):
        raise UsageError(
            "--resume runs with the store the run started with: "
            "only --secret (and --store-file secrets) may be given"
        )
    return args
