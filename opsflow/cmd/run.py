"""``opsflow-run``: parse config, load the flow plugin, run it, exit.

The steps of :func:`run` are the whole command; each is one call into
:mod:`opsflow.cli`, :mod:`opsflow.conf` or :mod:`opsflow.plugins`. Every error
becomes one line on stderr and the exit code of the README's table
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
    from opsflow.cli.streams import guard_std_streams

    guard_std_streams()  # a reader that went away never changes the exit code
    _interrupt_once()
    debug = "--debug" in (sys.argv[1:] if argv is None else argv)
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
    from opsflow.cli import plan, preflight, report
    from opsflow.cli.inputs import check_secrets, parse_inputs
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
    check_secrets(inputs)
    masker = Masker(inputs.secrets)
    setup_logging(conf, args.debug, masker)
    as_json = args.format == "json"
    if args.list:
        report.print_plugins(sys.stdout, as_json)
        return ExitCode.SUCCESS
    if args.history or args.show:
        return _stored(conf, args, masker, as_json)
    if args.purge is not None:
        return _purge(conf, args.purge, as_json)
    if args.resume:
        return _resume(conf, args, inputs, masker, as_json)
    if args.revert:
        return _revert(conf, args, inputs, masker, as_json)

    if args.submit:
        return _submit(conf, args, inputs, as_json)
    with masker.masking_std_streams():  # the flow plugin's own code runs here
        flow = preflight.load_flow(args.flow, inputs.store, masker.redactor)
        engine = preflight.checked_engine(
            args.flow,
            flow,
            inputs.store,
            conf,
            executor_flag=args.executor,
            secret_keys=inputs.secret_keys,
        )
    if args.graph:
        from opsflow.views import pictures

        picture = pictures.picture_of(args.flow, engine.compilation)
        fmt = plan.write_graph(args.graph, picture, args.graph_format)
    if args.dry_run:
        preflight.check_store(conf)  # what the run would need, opening nothing
        steps = plan.plan(engine.compilation)
        report.print_plan(args.flow, steps, sys.stdout, as_json)
    if args.graph or args.dry_run:
        if args.graph and args.graph != "-" and not args.dry_run and not as_json:
            print(f"graph of flow {args.flow} written to {args.graph} ({fmt})")
        return ExitCode.SUCCESS

    # Checked: from here on the run is recorded in the persistence store.
    from opsflow.cli import runstore
    from opsflow.persistence import leases

    backend = runstore.open_backend(conf)
    flow_detail = runstore.new_run(
        args.flow, flow, inputs.store, inputs.secret_keys, engine, conf, args.executor
    )
    connection = backend.get_connection()
    estimates = runstore.estimates_for(connection, args.flow)
    lease = leases.acquire(connection, flow_detail.uuid)
    with leases.Heartbeat(connection, lease), _run_lock(conf, lease) as lock:
        engine = runstore.persisted_engine(
            flow, inputs.store, conf, engine, backend, flow_detail, inputs.secret_keys
        )
        return lock.ended(
            _run(engine, args.flow, conf, args, masker, as_json, estimates)
        )


class _HeldRunLock:
    """The run's host lock while this process runs it (see ``runlock``)."""

    def __init__(self, lock: Any) -> None:
        self._lock = lock
        self._over = False

    def ended(self, code: int) -> int:
        """Note the run's exit code: a run that ended for good forgets its lock."""
        self._over = code in (ExitCode.SUCCESS, ExitCode.REVERTED)
        return code

    def __enter__(self) -> _HeldRunLock:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._lock.release(forget=self._over)


def _run_lock(conf: Any, lease: Any, wait: float = 0.0) -> _HeldRunLock:
    """Hold the host lock of the leased run, once its previous owner's
    processes are gone (a fresh run's lock is always free).

    :raises Unavailable: they still run after ``wait`` seconds (exit 69).
    """
    from opsflow.persistence import runlock

    try:
        lock = runlock.RunLock.acquire(conf.state_path, lease.flow_uuid, wait=wait)
    except runlock.ProcessesAlive as exc:
        raise Unavailable(str(exc)) from exc
    return _HeldRunLock(lock)


def _submit(conf: Any, args: Any, inputs: Any, as_json: bool) -> int:
    """``--submit FLOW``: store the run, hand it to the configured jobboard."""
    from opsflow import jobboards
    from opsflow.cli import runstore
    from opsflow.jobboards import runs

    if inputs.secret_keys:
        raise UsageError("--submit: secrets are never stored, give none")
    board = jobboards.load(conf)
    backend = runstore.open_backend(conf)
    try:
        flow_detail = runs.store_run(conf, backend, args.flow, inputs.store, board.name)
    finally:
        backend.close()
    try:
        posted = board.post(flow_detail.uuid)
    finally:
        board.close()
    if as_json:
        print(json.dumps(posted, indent=2))
    else:
        print(f"run {flow_detail.uuid} of flow {args.flow} submitted to {board.name}")
    state = posted.get("state")
    return for_state(state) if state in runstore.FINAL_STATES else ExitCode.SUCCESS


def _run(
    engine: Any,
    flow_name: str,
    conf: Any,
    args: Any,
    masker: Any,
    as_json: bool,
    estimates: Any = None,
    revert: bool = False,
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
        traceback_dir=_traceback_dir(conf),
        estimates=estimates,
        record_timings=True,
        revert=revert,
    )
    _print_report(result, masker, as_json, out)
    return for_state(result.state)


def _traceback_dir(conf: Any) -> str:
    return os.path.join(os.path.expanduser(conf.state_path), "tracebacks")


def _print_report(result: Any, masker: Any, as_json: bool, out: Any) -> None:
    from opsflow.cli import report

    if as_json:
        print(json.dumps(report.json_document(result, masker), indent=2), file=out)
    else:
        report.print_summary(result, masker, out)


def _stored(conf: Any, args: Any, masker: Any, as_json: bool) -> int:
    """``--history`` and ``--show RUN_ID``: read the store, run nothing."""
    from opsflow.cli import report, runstore

    if not runstore.store_exists(conf):
        if args.history:
            print("[]" if as_json else "no runs recorded")
            return ExitCode.SUCCESS
        raise UsageError(f"no run {args.show}: no run was ever recorded here")
    backend = runstore.open_backend(conf, read_only=True)
    try:
        connection = backend.get_connection()
        if args.history:
            since = runstore.parse_since(args.since) if args.since else None
            rows = runstore.history(
                connection, flow=args.flow, state=args.state, since=since
            )
            if as_json:
                print(json.dumps(rows, indent=2))
            else:
                runstore.print_history(rows, sys.stdout)
            return ExitCode.SUCCESS
        _book, flow_detail = runstore.find_run(connection, args.show)
        if args.graph:
            return _draw_run(flow_detail, args, as_json)
        result = runstore.report_of(flow_detail)
        result.interrupted = runstore.interruption(connection, flow_detail)
        result.running_by = runstore.running_owner(connection, flow_detail)
        queued = runstore.queue_fields(connection, flow_detail)  # --submit runs
        if as_json:
            document = {**report.json_document(result, masker), **queued}
            print(json.dumps(document, indent=2))
        else:
            report.print_details(result, masker, sys.stdout)
            if queued:
                holder = queued["held_by"] or "nobody (queued)"
                print(f"jobboard: {json.dumps(queued['jobboard'])}; held by: {holder}")
        return ExitCode.SUCCESS
    finally:
        backend.close()


def _draw_run(flow_detail: Any, args: Any, as_json: bool) -> int:
    """``--show RUN_ID --graph FILE``: the run's picture, states coloured."""
    import contextlib

    from opsflow.cli import plan, runstore
    from opsflow.storage import STORE_META_KEY

    record = flow_detail.meta.get(runstore.RUN_META_KEY) or {}
    flow = None
    if record and not record.get("factory_secrets"):
        with contextlib.suppress(Exception):  # drawn from the stored steps then
            flow = runstore.rebuild_flow(
                record, {}, flow_detail.meta.get(STORE_META_KEY) or {}
            )
    picture = plan.run_picture(flow_detail, flow)
    fmt = plan.write_graph(args.graph, picture, args.graph_format)
    if as_json:
        document = {"run_id": flow_detail.uuid, "graph": args.graph, "format": fmt}
        print(json.dumps(document))
    elif args.graph != "-":
        print(f"graph of run {flow_detail.uuid} written to {args.graph} ({fmt})")
    return ExitCode.SUCCESS


def _purge(conf: Any, days: float, as_json: bool) -> int:
    """``--purge DAYS``: forget old SUCCESS and REVERTED runs."""
    from opsflow.cli import runstore

    if not runstore.store_exists(conf):
        deleted: list[str] = []
        kept = 0
    else:
        backend = runstore.open_backend(conf)
        try:
            deleted, kept = runstore.purge(
                backend.get_connection(), days, _traceback_dir(conf)
            )
        finally:
            backend.close()
    if as_json:
        print(json.dumps({"deleted": deleted, "kept_failure": kept}, indent=2))
    else:
        print(f"deleted {len(deleted)} runs finished more than {days:g} days ago")
        if kept:
            print(
                f"kept {kept} FAILURE runs of that age: they need a person "
                "(opsflow-run --history --state FAILURE)"
            )
    return ExitCode.SUCCESS


def _resume(conf: Any, args: Any, inputs: Any, masker: Any, as_json: bool) -> int:
    """``--resume RUN_ID``: go on from where the run stopped, or report its end."""
    from opsflow.cli import runstore

    def settled(flow_detail: Any) -> int | None:
        if str(flow_detail.state) in runstore.FINAL_STATES:
            return _report_ended(flow_detail, masker, as_json)
        return None

    def start(engine: Any, record: Any, flow_detail: Any, estimates: Any) -> int:
        if not as_json:
            done = sum(1 for d in flow_detail if str(d.state) == "SUCCESS")
            print(
                f"resuming run {args.resume} of flow {record['flow']} "
                f"({done}/{len(flow_detail)} steps done, state {flow_detail.state})",
                file=sys.stderr,
            )
        return _run(engine, record["flow"], conf, args, masker, as_json, estimates)

    return _take_over(
        conf, args, inputs, masker, args.resume, "--resume runs", settled, start
    )


def _revert(conf: Any, args: Any, inputs: Any, masker: Any, as_json: bool) -> int:
    """``--revert RUN_ID``: undo a run that did not end cleanly.

    A SUSPENDED (or killed) run is cancelled: every step that ran is
    reverted. A FAILURE run has its failed reverts tried again, with what
    they held back, once a person has fixed the cause. A REVERTED run is only
    shown (exit 1); a SUCCESS run is refused: undoing a finished change is a
    new decision, not a cleanup. Like ``--resume``, it takes the run's lease.
    """

    def settled(flow_detail: Any) -> int | None:
        return _revert_refused(flow_detail, masker, as_json)

    def start(engine: Any, record: Any, flow_detail: Any, estimates: Any) -> int:
        if not as_json:
            left = [
                d.name
                for d in flow_detail
                if str(d.state) not in ("PENDING", "REVERTED", "IGNORE")
            ]
            print(
                f"reverting run {args.revert} of flow {record['flow']} "
                f"(state {flow_detail.state}; to undo: {', '.join(left) or 'nothing'})",
                file=sys.stderr,
            )
        return _run(
            engine, record["flow"], conf, args, masker, as_json, estimates, True
        )

    return _take_over(
        conf,
        args,
        inputs,
        masker,
        args.revert,
        "--revert undoes the run",
        settled,
        start,
    )


def _take_over(
    conf: Any,
    args: Any,
    inputs: Any,
    masker: Any,
    run_id: str,
    doing: str,
    settled: Any,
    start: Any,
) -> int:
    """Take a recorded run over (its lease held) and hand its engine to ``start``.

    ``settled(flow_detail)`` returns an exit code when there is nothing to
    do with the run; it is asked before and again under the lease, since the
    run's last owner may have moved it on (or ended it) in between.
    """
    from opsflow.cli import runstore
    from opsflow.cli.runner import load_engine
    from opsflow.persistence import leases, runlock
    from opsflow.plugins import flows
    from opsflow.storage import STORE_META_KEY

    public = sorted(set(inputs.store) - inputs.secret_keys)
    if public:
        raise UsageError(
            f"{doing} with the store the run started with; not accepted: "
            + ", ".join(public)
        )
    if not runstore.store_exists(conf):
        raise UsageError(f"no run {run_id}: no run was ever recorded here")
    backend = runstore.open_backend(conf)
    connection = backend.get_connection()
    _book, flow_detail = runstore.find_run(connection, run_id)
    code = settled(flow_detail)
    if code is not None:
        return code
    record = flow_detail.meta.get(runstore.RUN_META_KEY)
    runstore.check_resumable(run_id, record, inputs.secrets, args.force)
    assert record is not None  # check_resumable refuses a run without one
    flows.check_source(
        run_id, record["flow"], flow_detail.meta.get("source"), args.force
    )
    try:
        lease = leases.acquire(connection, run_id)
    except leases.LeaseHeld as exc:
        raise Unavailable(str(exc)) from exc
    with (
        leases.Heartbeat(connection, lease),
        _run_lock(conf, lease, wait=runlock.TAKEOVER_WAIT) as lock,
    ):
        book, flow_detail = runstore.find_run(connection, run_id)
        code = settled(flow_detail)
        if code is not None:
            return code
        with masker.masking_std_streams():  # the flow plugin's own code runs here
            flow = runstore.rebuild_flow(
                record,
                inputs.secrets,
                flow_detail.meta.get(STORE_META_KEY) or {},
                masker.redactor,
            )
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
        estimates = runstore.estimates_for(connection, record["flow"], exclude=run_id)
        return lock.ended(start(engine, record, flow_detail, estimates))


def _revert_refused(flow_detail: Any, masker: Any, as_json: bool) -> int | None:
    """The exit code when ``--revert`` has nothing to do with this run."""
    state = str(flow_detail.state or "PENDING")
    if state == "SUCCESS":
        raise UsageError(
            f"run {flow_detail.uuid} ended SUCCESS: --revert cancels a suspended "
            "run or retries the failed reverts of a FAILURE run"
        )
    if state == "REVERTED":
        if not as_json:
            print(
                f"run {flow_detail.uuid} is already REVERTED: nothing to undo",
                file=sys.stderr,
            )
        from opsflow.cli import runstore

        _print_report(runstore.report_of(flow_detail), masker, as_json, sys.stdout)
        return for_state(state)
    return None


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
    sys.exit(console_main())
