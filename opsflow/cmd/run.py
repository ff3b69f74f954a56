"""``opsflow-run``: parse config, load the flow plugin, run it, exit.

The steps of :func:`main` are the whole command; each is one call into
:mod:`opsflow.cli`, :mod:`opsflow.conf` or :mod:`opsflow.plugins`. Every error
becomes one line on stderr and the exit code of SPEC section 7.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

from opsflow.cli import args as cli_args
from opsflow.cli.exits import ExitCode, Unavailable, UsageError, for_state
from opsflow.exceptions import (
    ConfigurationError,
    DependencyFailure,
    MissingDependencies,
    OpsflowException,
    PluginError,
)

_NEEDS_PERSISTENCE = (
    "{flag} needs the persistence store, which this opsflow version does not have yet"
)


def main(argv: Sequence[str] | None = None) -> int:
    debug = "--debug" in (sys.argv[1:] if argv is None else argv)
    try:
        return _run(argv)
    except Exception as exc:
        code = exit_code_for(exc)
        if debug:
            import traceback

            traceback.print_exc()
        message = " ".join(str(exc).split()) or type(exc).__name__
        if code is None:  # not an operator's mistake: a bug to report
            message = f"internal error: {type(exc).__name__}: {message}"
            if not debug:
                message += " (run with --debug for the traceback)"
        print(f"opsflow-run: error: {message}", file=sys.stderr)
        return int(code if code is not None else ExitCode.INTERNAL)


def exit_code_for(exc: BaseException) -> ExitCode | None:
    """The exit code for an error raised before or around a run."""
    from opsflow.plugins.loader import PluginNotFound

    if isinstance(exc, UsageError | MissingDependencies | PluginNotFound):
        return ExitCode.USAGE
    if isinstance(exc, ConfigurationError):
        return ExitCode.CONFIG
    if isinstance(exc, Unavailable | PluginError | DependencyFailure):
        return ExitCode.UNAVAILABLE
    if isinstance(exc, OpsflowException):
        return ExitCode.USAGE
    return None


def _run(argv: Sequence[str] | None) -> int:
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
        return _list(as_json)
    for flag in ("history", "show", "resume"):
        if getattr(args, flag):
            raise Unavailable(_NEEDS_PERSISTENCE.format(flag=f"--{flag}"))

    from opsflow.plugins import executors, flows, listeners

    executor = executors.resolve_executor(
        conf.engine.executor, **_where(conf, args.executor, "executor")
    )
    factory = flows.load_factory(args.flow)
    try:
        flow = flows.build_flow(factory, args.flow, inputs.store)
    except MissingDependencies as exc:
        raise _missing_inputs(args.flow, exc) from exc
    engine = _checked_engine(args.flow, flow, inputs.store, conf, executor)
    if args.graph or args.dry_run:
        return _describe(args, engine)
    attached = [
        *listeners.create_listeners(
            conf.engine.listeners, engine, **_where(conf, None, "listeners")
        ),
        *listeners.create_listeners(args.listener, engine),
    ]

    from opsflow.cli import report as reporting
    from opsflow.cli.runner import run_flow

    out = sys.stdout
    if as_json:
        # The JSON document is all stdout carries: whatever tasks or
        # listeners print goes to stderr.
        sys.stdout = sys.stderr
    result = run_flow(
        engine,
        args.flow,
        masker,
        listeners=attached,
        tty=sys.stderr if sys.stderr.isatty() else None,
        traceback_dir=os.path.join(os.path.expanduser(conf.state_path), "tracebacks"),
    )
    if as_json:
        import json

        print(json.dumps(reporting.json_document(result, masker), indent=2), file=out)
    else:
        reporting.print_summary(result, masker, out)
    return int(for_state(result.state))


def _checked_engine(
    name: str, flow: Any, store: dict[str, Any], conf: Any, executor: str | None
) -> Any:
    """A compiled, validated engine: missing inputs fail here, by name."""
    from opsflow.cli.runner import load_engine

    engine = load_engine(
        flow,
        store,
        engine=conf.engine.engine,
        executor=executor,
        max_workers=conf.engine.max_workers,
        task_timeout=conf.engine.task_timeout,
    )
    engine.compile()
    engine.prepare()
    try:
        engine.validate()
    except MissingDependencies as exc:
        raise _missing_inputs(name, exc) from exc
    return engine


def _missing_inputs(name: str, exc: MissingDependencies) -> UsageError:
    missing = ", ".join(getattr(exc, "missing_requirements", [])) or str(exc)
    return UsageError(
        f"flow {name} needs inputs that were not given: {missing} "
        "(give them with --store KEY=VALUE or --store-file)"
    )


def _describe(args: Any, engine: Any) -> int:
    from opsflow.cli import plan, report

    if args.graph:
        try:
            with open(args.graph, "w", encoding="utf-8") as handle:
                handle.write(plan.to_dot(args.flow, engine.compilation))
        except OSError as exc:
            raise UsageError(f"--graph {args.graph}: {exc.strerror or exc}") from exc
    if args.dry_run:
        steps = plan.plan(engine.compilation)
        report.print_plan(args.flow, steps, sys.stdout, args.format == "json")
    elif args.format == "text":
        print(f"graph of flow {args.flow} written to {args.graph}")
    return int(ExitCode.SUCCESS)


def _list(as_json: bool) -> int:
    from opsflow.cli.report import print_listing
    from opsflow.plugins import executors, flows, listeners, persistence, tasks

    sections = []
    for module in (flows, tasks, executors, persistence, listeners):
        loaded, broken = module.namespace.scan()
        sections.append((module.NAMESPACE, loaded, broken))
    print_listing(sections, sys.stdout, as_json)
    return int(ExitCode.SUCCESS)


def _where(conf: Any, flag_value: str | None, option: str) -> dict[str, Any]:
    """Where an ``[engine]`` option's value came from, for error messages."""
    from opsflow.conf.loader import where_set

    if flag_value is not None:
        return {"source": f"--{option.replace('_', '-')}", "option": None}
    path, _ = where_set(conf, "engine", option)
    return {"source": path, "option": f"[engine] {option}"}


if __name__ == "__main__":
    sys.exit(main())
