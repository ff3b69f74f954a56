"""``opsflow-run``: parse config, load the flow plugin, run it, exit.

The steps of :func:`run` are the whole command; each is one call into
:mod:`opsflow.cli`, :mod:`opsflow.conf` or :mod:`opsflow.plugins`. Every error
becomes one line on stderr and the exit code of SPEC section 7
(:mod:`opsflow.cli.exits`).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence

from opsflow.cli import args as cli_args
from opsflow.cli.exits import ExitCode, Unavailable, for_state, report_error

_NEEDS_PERSISTENCE = (
    "{flag} needs the persistence store, which this opsflow version does not have yet"
)


def main(argv: Sequence[str] | None = None) -> int:
    debug = "--debug" in (sys.argv[1:] if argv is None else argv)
    try:
        return run(argv)
    except KeyboardInterrupt:  # Ctrl-C before the run (and its handlers) began
        print("opsflow-run: interrupted before any step ran", file=sys.stderr)
        return ExitCode.SUSPENDED
    except Exception as exc:
        return report_error(exc, debug)


def run(argv: Sequence[str] | None) -> int:
    from opsflow.cli import plan, preflight, report
    from opsflow.cli.inputs import parse_inputs
    from opsflow.cli.logs import setup_logging
    from opsflow.cli.masking import Masker
    from opsflow.conf import loader

    args = cli_args.parse(argv)
    conf = loader.load(
        args.config_file,
        args.config_dir,
        overrides={
            ("engine", "engine"): ("--engine", args.engine),
            ("engine", "executor"): ("--executor", args.executor),
            ("engine", "max_workers"): ("--max-workers", args.max_workers),
        },
    )
    inputs = parse_inputs(args.store, args.store_file, args.secret)
    masker = Masker(inputs.secrets)
    masker.wrap_std_streams()
    setup_logging(conf, args.debug, masker)
    as_json = args.format == "json"
    if args.list:
        report.print_plugins(sys.stdout, as_json)
        return ExitCode.SUCCESS
    for flag in ("history", "show", "resume"):
        if getattr(args, flag):
            raise Unavailable(_NEEDS_PERSISTENCE.format(flag=f"--{flag}"))

    flow = preflight.load_flow(args.flow, inputs.store)
    engine = preflight.checked_engine(
        args.flow,
        flow,
        inputs.store,
        conf,
        executor_flag=args.executor,
        secret_keys=inputs.secret_keys,
    )
    if args.graph:
        plan.write_graph(args.graph, args.flow, engine.compilation)
    if args.dry_run:
        steps = plan.plan(engine.compilation)
        report.print_plan(args.flow, steps, sys.stdout, as_json)
    if args.graph or args.dry_run:
        if args.graph and not args.dry_run and not as_json:
            print(f"graph of flow {args.flow} written to {args.graph}")
        return ExitCode.SUCCESS
    listeners = preflight.attach_listeners(conf, args.listener, engine)

    from opsflow.cli.runner import run_flow

    out = sys.stdout
    if as_json:
        # stdout carries the JSON document only: what tasks print goes to stderr.
        sys.stdout = sys.stderr
    result = run_flow(
        engine,
        args.flow,
        masker,
        listeners=listeners,
        tty=sys.stderr if sys.stderr.isatty() else None,
        traceback_dir=os.path.join(os.path.expanduser(conf.state_path), "tracebacks"),
    )
    if as_json:
        print(json.dumps(report.json_document(result, masker), indent=2), file=out)
    else:
        report.print_summary(result, masker, out)
    return for_state(result.state)


if __name__ == "__main__":
    sys.exit(main())
