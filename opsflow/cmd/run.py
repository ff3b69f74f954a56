"""``opsflow-run``: parse config, load the flow plugin, run it, exit.

The steps of :func:`run` are the whole command; each is one call into
:mod:`opsflow.cli`, :mod:`opsflow.conf` or :mod:`opsflow.plugins`. Every error
becomes one line on stderr and the exit code of SPEC section 7
(:mod:`opsflow.cli.exits`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from opsflow.cli import args as cli_args
from opsflow.cli.exits import ExitCode, Unavailable, UsageError, for_state, report_error


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
    # Flow factories and tasks (in worker processes too) find the run's state
    # directory here; opsflow.conf is read only by opsflow-run itself.
    os.environ["OPSFLOW_STATE_PATH"] = os.path.expanduser(conf.state_path)
    from opsflow.plugins import flows

    flows.use_flow_dirs(conf.flow_dirs)  # YAML flows are found by name too
    inputs = parse_inputs(args.store, args.store_file, args.secret)
    if args.flow:  # inputs a YAML flow declares `secret: true` are secrets
        inputs = dataclasses.replace(
            inputs, secret_keys=inputs.secret_keys | flows.declared_secrets(args.flow)
        )
    masker = Masker(inputs.secrets)
    masker.wrap_std_streams()
    setup_logging(conf, args.debug, masker)
    as_json = args.format == "json"
    if args.list:
        report.print_plugins(sys.stdout, as_json)
        return ExitCode.SUCCESS
    if args.history or args.show:
        return _stored(conf, args, masker, as_json)
    if args.resume:
        return _resume(conf, args, inputs, masker, as_json)

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

    # Checked: from here on the run is recorded in the persistence store.
    from opsflow.cli import runstore
    from opsflow.persistence import leases, models

    backend = runstore.open_backend(conf)
    flow_detail = models.FlowDetail(name=flow.name)
    flow_detail.meta[runstore.RUN_META_KEY] = runstore.run_record(
        args.flow,
        flows.factory_arguments(flows.load_factory(args.flow), args.flow, inputs.store),
        inputs.secret_keys,
        runstore.plugin_versions(
            args.flow, (node.atom for node in engine.compilation.nodes.values())
        ),
        engine=conf.engine.engine,
        executor=args.executor,
        max_workers=conf.engine.max_workers,
    )
    source = flows.source_of(args.flow)  # a YAML flow's file and sha256
    if source:
        flow_detail.meta["source"] = source
    connection = backend.get_connection()
    lease = leases.acquire(connection, flow_detail.uuid)
    with leases.Heartbeat(connection, lease):
        engine = _persisted_engine(
            flow,
            inputs.store,
            conf,
            engine,
            backend,
            flow_detail,
            None,
            inputs.secret_keys,
        )
        return _run(engine, args.flow, conf, args, masker, as_json)


def _persisted_engine(
    flow: Any,
    store: dict[str, Any],
    conf: Any,
    checked: Any,
    backend: Any,
    flow_detail: Any,
    book: Any,
    secret_keys: frozenset[str],
) -> Any:
    """The engine that runs: like ``checked`` but writing through ``backend``."""
    from opsflow.cli.runner import load_engine

    options = checked._options  # what preflight resolved for this run
    return load_engine(
        flow,
        store,
        engine=conf.engine.engine,
        executor=options.get("executor"),
        max_workers=options.get("max_workers"),
        task_timeout=options.get("task_timeout"),
        secret_keys=secret_keys,
        backend=backend,
        flow_detail=flow_detail,
        book=book,
    )


def _run(
    engine: Any, flow_name: str, conf: Any, args: Any, masker: Any, as_json: bool
) -> int:
    from opsflow.cli import preflight
    from opsflow.cli.runner import run_flow

    listeners = preflight.attach_listeners(conf, args.listener, engine)
    out = sys.stdout
    if as_json:
        # stdout carries the JSON document only: what tasks print goes to stderr.
        sys.stdout = sys.stderr
    result = run_flow(
        engine,
        flow_name,
        masker,
        listeners=listeners,
        tty=sys.stderr if sys.stderr.isatty() else None,
        traceback_dir=os.path.join(os.path.expanduser(conf.state_path), "tracebacks"),
    )
    _print_report(result, masker, as_json, out)
    return for_state(result.state)


def _print_report(result: Any, masker: Any, as_json: bool, out: Any) -> None:
    from opsflow.cli import report

    if as_json:
        print(json.dumps(report.json_document(result, masker), indent=2), file=out)
    else:
        report.print_summary(result, masker, out)


def _stored(conf: Any, args: Any, masker: Any, as_json: bool) -> int:
    """``--history`` and ``--show RUN_ID``: read the store, run nothing."""
    from opsflow.cli import runstore

    if not runstore.store_exists(conf):
        if args.history:
            print("[]" if as_json else "no runs recorded")
            return ExitCode.SUCCESS
        raise UsageError(f"no run {args.show}: no run was ever recorded here")
    backend = runstore.open_backend(conf)
    try:
        connection = backend.get_connection()
        if args.history:
            rows = runstore.history(connection)
            if as_json:
                print(json.dumps(rows, indent=2))
            else:
                runstore.print_history(rows, sys.stdout)
            return ExitCode.SUCCESS
        _book, flow_detail = runstore.find_run(connection, args.show)
        _print_report(runstore.report_of(flow_detail), masker, as_json, sys.stdout)
        return ExitCode.SUCCESS
    finally:
        backend.close()


def _resume(conf: Any, args: Any, inputs: Any, masker: Any, as_json: bool) -> int:
    """``--resume RUN_ID``: go on from where the run stopped, or report its end."""
    from opsflow.cli import runstore
    from opsflow.cli.runner import load_engine
    from opsflow.persistence import leases

    public = sorted(set(inputs.store) - inputs.secret_keys)
    if public:
        raise UsageError(
            "--resume runs with the store the run started with; not accepted: "
            + ", ".join(public)
        )
    run_id = args.resume
    if not runstore.store_exists(conf):
        raise UsageError(f"no run {run_id}: no run was ever recorded here")
    backend = runstore.open_backend(conf)
    connection = backend.get_connection()
    _book, flow_detail = runstore.find_run(connection, run_id)
    if str(flow_detail.state) in runstore.FINAL_STATES:
        return _report_ended(flow_detail, masker, as_json)
    record = flow_detail.meta.get(runstore.RUN_META_KEY)
    runstore.check_resumable(run_id, record, inputs.secrets, args.force)
    from opsflow.plugins import flows

    flows.check_source(
        run_id, record["flow"], flow_detail.meta.get("source"), args.force
    )
    try:
        lease = leases.acquire(connection, run_id)
    except leases.LeaseHeld as exc:
        raise Unavailable(str(exc)) from exc
    with leases.Heartbeat(connection, lease):
        # Read the run again under the lease: its last owner may have moved
        # it on (or ended it) since the first look.
        book, flow_detail = runstore.find_run(connection, run_id)
        if str(flow_detail.state) in runstore.FINAL_STATES:
            return _report_ended(flow_detail, masker, as_json)
        flow = runstore.rebuild_flow(record, inputs.secrets)
        engine = load_engine(
            flow,
            inputs.secrets,
            engine=args.engine or record.get("engine") or conf.engine.engine,
            executor=args.executor or record.get("executor") or conf.engine.executor,
            max_workers=conf.engine.max_workers or record.get("max_workers"),
            task_timeout=conf.engine.task_timeout,
            secret_keys=inputs.secret_keys,
            backend=backend,
            flow_detail=flow_detail,
            book=book,
        )
        if not as_json:
            done = sum(1 for d in flow_detail if str(d.state) == "SUCCESS")
            print(
                f"resuming run {run_id} of flow {record['flow']} "
                f"({done}/{len(flow_detail)} steps done, state {flow_detail.state})",
                file=sys.stderr,
            )
        return _run(engine, record["flow"], conf, args, masker, as_json)


def _report_ended(flow_detail: Any, masker: Any, as_json: bool) -> int:
    from opsflow.cli import runstore

    result = runstore.report_of(flow_detail)
    if not as_json:
        print(
            f"run {flow_detail.uuid} already ended {flow_detail.state}: "
            "nothing to resume",
            file=sys.stderr,
        )
    _print_report(result, masker, as_json, sys.stdout)
    return for_state(result.state)


if __name__ == "__main__":
    sys.exit(main())
