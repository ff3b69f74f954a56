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
        add_help=False,  # FLOW --help is the flow's own help (see parse)
    )
    parser.add_argument("flow", nargs="?", help="name of the flow to run")
    _add_flow_help(parser)
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
    only.add_argument(
        "--show",
        metavar="RUN_ID",
        help="show one past run; any RUN_ID may be a unique prefix of the id, "
        "or last (the run started last)",
    )
    only.add_argument(
        "--resume",
        metavar="RUN_ID",
        help="resume a run that was suspended or killed (a run that already "
        "ended is only shown, with its exit code)",
    )
    only.add_argument(
        "--revert",
        metavar="RUN_ID",
        help="undo a run: cancel a suspended run, or retry the failed reverts "
        "of a FAILURE run once the cause is fixed",
    )
    only.add_argument(
        "--purge",
        metavar="DAYS",
        type=_days,
        help="delete SUCCESS and REVERTED runs last changed more than DAYS "
        "days ago (FAILURE runs are kept)",
    )
    modes.add_argument(
        "--submit",
        action="store_true",
        help="store the run and hand it to the [jobboard] driver (queued for "
        "opsflow-conductor with procrastinate) instead of running it here",
    )
    modes.add_argument(
        "--force",
        action="store_true",
        help="with --resume or --revert: go on even though plugin versions changed",
    )
    modes.add_argument(
        "--state",
        type=str.upper,
        metavar="STATE",
        help="with --history: only runs in this state (SUCCESS, FAILURE, ...)",
    )
    modes.add_argument(
        "--since",
        metavar="WHEN",
        help="with --history: only runs started since a date or time "
        "(2026-01-31, 2026-01-31T08:00, UTC) or an age (30m, 12h, 7d)",
    )
    modes.add_argument(
        "--dry-run",
        action="store_true",
        help="check the flow and its inputs, print the plan, run nothing",
    )
    modes.add_argument(
        "--graph",
        metavar="FILE",
        help="draw the flow (or, with --show, the run) and run nothing; the "
        "format follows the extension: .dot, .svg and .png (Graphviz), .mmd "
        "(Mermaid), .txt (text tree); - prints a text tree",
    )
    modes.add_argument(
        "--graph-format",
        choices=["dot", "svg", "png", "mermaid", "text"],
        help="the --graph format, whatever the file's extension",
    )
    output = parser.add_argument_group("output and configuration")
    output.add_argument(
        "-f",
        "--format",
        choices=["text", "json", "table", "yaml", "csv", "value"],
        default="text",
        help="output format; table, yaml, csv and value (and json with -c) "
        "go with the listings: --list, --history, the steps of --show",
    )
    output.add_argument(
        "-c",
        "--column",
        action="append",
        default=[],
        metavar="COLUMN",
        help="with a listing: only this column (repeatable, in that order)",
    )
    output.add_argument(
        "--version",
        action="version",
        version=f"opsflow-run {_version()}",
        help="show the installed opsflow's version and exit",
    )
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
        "--debug",
        action="store_true",
        help="show tracebacks and debug log lines (step progress, the "
        "libraries' own lines)",
    )
    _add_logging_options(parser)
    parser.add_argument(
        "--limit",
        type=_positive,
        metavar="N",
        help="with --history: only the N newest runs",
    )
    return parser


def _version() -> str:
    """The installed distribution's version, from its metadata."""
    from importlib import metadata

    try:
        return metadata.version("opsflow")
    except metadata.PackageNotFoundError:  # a source tree never installed
        return "unknown (not installed)"


def _positive(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError("give 1 or more")
    return number


def _add_logging_options(parser: argparse.ArgumentParser) -> None:
    """oslo.log's command-line options, as OpenStack services take them;
    each wins over its ``[DEFAULT]`` option in opsflow.conf."""
    logs = parser.add_argument_group("logging (oslo.log, override opsflow.conf)")
    logs.add_argument(
        "--log-file",
        metavar="PATH",
        help="write log lines to this file instead of stderr (relative to "
        "--log-dir when both are given)",
    )
    logs.add_argument(
        "--log-dir", metavar="DIR", help="directory of the log file (--log-file)"
    )
    logs.add_argument(
        "--use-json",
        action="store_true",
        default=None,
        help="log lines as JSON documents (the run id and flow under 'context')",
    )
    logs.add_argument(
        "--use-journal",
        action="store_true",
        default=None,
        help="log to journald, with syslog priorities (needs systemd's "
        "Python bindings)",
    )


def _add_flow_help(parser: argparse.ArgumentParser) -> None:
    """``--help``, ``--describe`` and ``--fail-at``: knowing a flow, drilling it."""
    flow = parser.add_argument_group("knowing a flow")
    flow.add_argument(
        "-h",
        "--help",
        action="store_true",
        help="show this help; after a flow name, that flow's own help: its "
        "description, inputs and steps",
    )
    flow.add_argument(
        "--describe",
        action="store_true",
        help="with a flow name: its description, inputs and steps (JSON with "
        "--format json), run nothing",
    )
    flow.add_argument(
        "--fail-at",
        metavar="STEP",
        help="revert drill: the run fails right after STEP succeeds and "
        "everything that ran is reverted (exit 1)",
    )


def listing_rows(args: argparse.Namespace) -> bool:
    """Whether a listing is written as rows (``-f table|yaml|csv|value`` or
    ``-c``) rather than in its own text layout or JSON document."""
    return bool(args.column) or args.format not in ("text", "json")


def _check_listing_format(args: argparse.Namespace) -> None:
    if not listing_rows(args):
        return
    listing = args.list or args.history or (args.show and not args.graph)
    if not listing:
        raise UsageError(
            f"-f {args.format} and -c go with a listing: --list, --history or "
            "--show RUN_ID (text and json go with every mode)"
        )


def _check_graph_path(args: argparse.Namespace) -> None:
    """``--graph FILE``: an extension no picture format has is refused
    (a JPEG name would otherwise get DOT text)."""
    if not args.graph or args.graph_format or args.graph == "-":
        return
    import os

    from opsflow.views.pictures import EXTENSIONS, FORMATS

    extension = os.path.splitext(args.graph)[1].lower()
    if extension and extension not in EXTENSIONS:
        raise UsageError(
            f"--graph {args.graph}: no picture format is written as "
            f"{extension}; name the file {', '.join(EXTENSIONS)}, or give "
            f"--graph-format {'|'.join(FORMATS)}"
        )


def _days(text: str) -> float:
    try:
        days = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of days: {text!r}") from None
    if days < 0:
        raise argparse.ArgumentTypeError("the number of days cannot be negative")
    return days


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parsed arguments; :class:`UsageError` when they do not fit together.

    ``--help`` without a flow name prints the command's help and exits 0;
    with one it asks for the flow's description (``args.describe``).
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.help and not args.flow:
        parser.print_help()
        parser.exit()
    args.describe = args.describe or args.help
    if args.describe and not args.flow:
        raise UsageError("--describe goes with a flow name")
    if args.fail_at and (not args.flow or args.describe or args.graph):
        raise UsageError("--fail-at goes with a flow name, for a run of it")
    by_id = args.show or args.resume or args.revert
    if args.flow and (args.list or by_id or args.purge is not None):
        raise UsageError(
            "give a flow name or one of --list/--history/--show/--resume/"
            "--revert/--purge"
        )
    if not args.flow and not (
        args.list or args.history or by_id or args.purge is not None
    ):
        raise UsageError("missing flow name (see --list for installed flows)")
    if args.submit and (not args.flow or args.dry_run or args.graph or args.secret):
        raise UsageError(
            "--submit goes with a flow name and its --store values (secrets "
            "are never stored, so a submitted run cannot have any)"
        )
    if args.force and not (args.resume or args.revert):
        raise UsageError("--force goes with --resume or --revert")
    if (args.state or args.since) and not args.history:
        raise UsageError("--state and --since go with --history")
    if args.limit is not None and not args.history:
        raise UsageError("--limit goes with --history")
    if args.state:
        from opsflow.states import FLOW_STATES

        if args.state not in FLOW_STATES:
            raise UsageError(
                f"--state {args.state}: no run can be in that state; "
                f"give one of: {', '.join(FLOW_STATES)}"
            )
    _check_listing_format(args)
    _check_graph_path(args)
    if args.graph_format and not args.graph:
        raise UsageError("--graph-format goes with --graph")
    if args.graph and (args.history or args.list or args.resume or args.revert):
        raise UsageError("--graph draws a flow, or a run with --show RUN_ID")
    if args.revert and (args.store or args.dry_run):
        raise UsageError(
            "--revert undoes the run with the store it started with: "
            "only --secret (and --store-file secrets) may be given"
        )
    if args.resume and (args.store or args.dry_run or args.graph):
        raise UsageError(
            "--resume runs with the store the run started with: "
            "only --secret (and --store-file secrets) may be given"
        )
    return args
