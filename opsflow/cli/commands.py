"""What each mode of ``opsflow-run`` does: the run lifecycle, presented.

A :class:`Command` is one invocation, its arguments parsed, its inputs
read and its configuration loaded. Each mode (a fresh run, its plan or
picture, ``--submit``, ``--resume``, ``--revert``, ``--history``,
``--show``, ``--purge``, ``--list``) asks :mod:`opsflow.runs` for what it
needs and prints it; the one thing decided here is how long this process
holds a run (its lease, heartbeat and host lock).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import functools
import json
import os
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TextIO

from oslo_config import cfg

from opsflow import states
from opsflow.cli import args as cli_args
from opsflow.cli import preflight, report
from opsflow.cli.columns import Listing, write_selected
from opsflow.cli.exits import ExitCode, Unavailable, UsageError, for_state
from opsflow.cli.inputs import check_secrets
from opsflow.cli.masking import Masker
from opsflow.plugins.catalog import Catalog
from opsflow.runs import queries, store
from opsflow.runs.record import RunInputs
from opsflow.runs.service import PreparedRun, RunService, StoredRun
from opsflow.runs.source import FlowSource

if TYPE_CHECKING:
    from opsflow.engines.engine import ActionEngine
    from opsflow.persistence import base, leases, runlock
    from opsflow.views.timings import Estimates

__all__ = ["Command"]

#: ``settled(stored)``: the exit code when there is nothing to do with a run.
Settled = Callable[[StoredRun], "int | None"]
#: ``begin(engine, stored, estimates)``: run a taken-over engine; its exit code.
Begin = Callable[["ActionEngine", StoredRun, "Estimates"], int]


class Command:
    """One ``opsflow-run`` invocation."""

    def __init__(
        self,
        args: argparse.Namespace,
        conf: cfg.ConfigOpts,
        catalog: Catalog,
        inputs: RunInputs,
    ) -> None:
        """``inputs`` as given; for a fresh run, the inputs its flow declares
        secret are secrets too. Every secret is checked, then masked."""
        self.args = args
        self.conf = conf
        self.catalog = catalog
        self.service = RunService(conf, catalog)
        self.as_json = args.format == "json"
        if self.starts_a_run:
            declared = self.source.declared_secrets
            inputs = dataclasses.replace(
                inputs, secret_keys=inputs.secret_keys | declared
            )
        check_secrets(inputs)
        self.inputs = inputs
        self.masker = Masker(inputs.secrets)

    @property
    def starts_a_run(self) -> bool:
        """A fresh run (or its plan, picture or submission) of a named flow."""
        args = self.args
        return not (
            args.list
            or args.history
            or args.show
            or args.purge is not None
            or args.resume
            or args.revert
        )

    @functools.cached_property
    def source(self) -> FlowSource:
        """The flow named on the command line, looked up once."""
        return self.service.lookup(self.args.flow)

    @property
    def flags(self) -> dict[str, Any]:
        """The engine options given on the command line (None: not given).

        Their values are read back from the configuration, which took them
        as overrides: checked and typed by oslo.config (``--max-workers 2``
        is the integer 2).
        """
        args, engine = self.args, self.conf.engine
        given = {
            "engine": args.engine,
            "executor": args.executor,
            "max_workers": args.max_workers,
        }
        return {
            name: None if value is None else getattr(engine, name)
            for name, value in given.items()
        }

    def dispatch(self) -> int:
        """Do what the arguments ask; the exit code."""
        args = self.args
        self.resolve_run_id()
        if args.history or args.show:
            return self.stored()
        if args.purge is not None:
            return self.purge()
        if args.resume:
            return self.resume()
        if args.revert:
            return self.revert()
        if args.describe:
            return self.describe()
        if args.submit:
            return self.submit()
        return self.start()

    def resolve_run_id(self) -> None:
        """``--show``/``--resume``/``--revert`` of a unique prefix of a run id,
        or of ``last``: from here on, the whole id.

        :raises UsageError: the prefix starts more than one run id (exit 64).
        """
        args = self.args
        option = next(
            (name for name in ("show", "resume", "revert") if getattr(args, name)),
            None,
        )
        if option is None or _is_whole_id(getattr(args, option)):
            return  # nothing to look up
        if not store.store_exists(self.conf):
            return
        backend = store.open_backend(self.conf, self.catalog, read_only=True)
        try:
            given = getattr(args, option)
            setattr(
                args, option, queries.resolve_run_id(backend.get_connection(), given)
            )
        finally:
            backend.close()

    # -- a fresh run ------------------------------------------------------
    def prepare(self) -> PreparedRun:
        """The run checked: flow built, engine compiled and validated; a
        warning for each store key nothing takes (a typo, most often)."""
        with self.masker.masking_std_streams():  # the flow plugin's own code runs
            prepared = self.service.prepare(
                self.source,
                self.inputs,
                self.flags,
                self.masker.redactor,
                fail_at=self.args.fail_at,
            )
        unused = self.source.unused_inputs(self.inputs.store, prepared.flow)
        for key, closest in unused.items():
            hint = f" (did you mean {closest}?)" if closest else ""
            print(
                f"opsflow-run: warning: store key {key} is taken by no step of "
                f"flow {self.args.flow} nor by its factory{hint}; going on",
                file=sys.stderr,
            )
        return prepared

    def start(self) -> int:
        """``opsflow-run FLOW``: check it, then run it (or draw and plan it)."""
        args = self.args
        prepared = self.prepare()
        preflight.check_listeners(self.conf, self.catalog, args.listener)
        if args.graph or args.dry_run:
            return self.plan(prepared)
        backend = store.open_backend(self.conf, self.catalog)
        flow_detail = self.service.start(prepared, backend)
        run_id = flow_detail.uuid
        print(
            f"opsflow-run: run {run_id} of flow {args.flow} started; if it stops, "
            f"resume it with: opsflow-run --resume {run_id}",
            file=sys.stderr,
            flush=True,
        )
        connection = backend.get_connection()
        estimates = queries.estimates_for(connection, args.flow)
        from opsflow.persistence import leases

        lease = leases.acquire(connection, flow_detail.uuid)
        with leases.Heartbeat(connection, lease), _run_lock(self.conf, lease) as lock:
            code = self.run(prepared.engine, args.flow, estimates, fail_at=args.fail_at)
            return lock.ended(code)

    def plan(self, prepared: PreparedRun) -> int:
        """``--graph FILE`` and ``--dry-run``: the flow's picture and plan."""
        from opsflow.cli import plan

        args = self.args
        compilation = prepared.engine.compilation
        if args.graph:
            from opsflow.views import pictures

            picture = pictures.picture_of(args.flow, compilation)
            fmt = plan.write_graph(args.graph, picture, args.graph_format)
        if args.dry_run:
            preflight.check_store(self.conf, self.catalog)  # opening nothing
            steps = plan.plan(compilation)
            drill = plan.drill_plan(steps, args.fail_at) if args.fail_at else None
            report.print_plan(args.flow, steps, sys.stdout, self.as_json, drill)
        elif args.graph != "-" and not self.as_json:
            print(f"graph of flow {args.flow} written to {args.graph} ({fmt})")
        return ExitCode.SUCCESS

    def describe(self) -> int:
        """``FLOW --help`` and ``--describe``: the flow's inputs and steps."""
        from opsflow.cli import describe

        with self.masker.masking_std_streams():  # the flow plugin's own code runs
            description = self.source.describe(
                self.catalog, self.inputs.store, self.masker.redactor
            )
        describe.print_description(description, sys.stdout, self.as_json)
        return ExitCode.SUCCESS

    def submit(self) -> int:
        """``--submit FLOW``: store the run, hand it to the configured jobboard."""
        from opsflow import jobboards

        board = jobboards.load(self.conf, catalog=self.catalog)
        prepared = self.prepare()
        backend = store.open_backend(self.conf, self.catalog)
        try:
            flow_detail = self.service.submit(prepared, backend, board.name, _now())
        finally:
            backend.close()
        try:
            posted = board.post(flow_detail.uuid)
        finally:
            board.close()
        if self.as_json:
            print(json.dumps(posted, indent=2))
        else:
            run_id, flow = flow_detail.uuid, self.args.flow
            print(f"run {run_id} of flow {flow} submitted to {board.name}")
        state = posted.get("state")
        return for_state(state) if state in states.ENDED_STATES else ExitCode.SUCCESS

    def run(
        self,
        engine: ActionEngine,
        flow_name: str,
        estimates: Estimates,
        revert: bool = False,
        fail_at: str | None = None,
    ) -> int:
        """Run (or revert) ``engine`` with progress and listeners; print its report.

        A revert drill (``fail_at``) that ends SUCCESS never fired: its step
        was skipped, so nothing was rehearsed (exit 64, not 0).
        """
        from opsflow.cli.runner import run_flow

        with self.masker.masking_std_streams():  # a listener keeps the streams
            listeners = preflight.attach_listeners(
                self.conf, self.catalog, self.args.listener, engine
            )
        out = sys.stdout
        with _stdout_to_stderr(self.as_json):  # stdout: the JSON document only
            result = run_flow(
                engine,
                flow_name,
                self.masker,
                listeners=listeners,
                tty=sys.stderr if sys.stderr.isatty() else None,
                traceback_dir=self.traceback_dir,
                estimates=estimates,
                record_timings=True,
                revert=revert,
            )
        self.print_report(result, out)
        if fail_at is not None and result.state == states.SUCCESS:
            return _drill_did_not_fire(result, fail_at)
        return for_state(result.state)

    @property
    def traceback_dir(self) -> str:
        return os.path.join(os.path.expanduser(str(self.conf.state_path)), "tracebacks")

    def print_report(self, result: report.RunReport, out: TextIO) -> None:
        if self.as_json:
            document = report.json_document(result, self.masker)
            print(json.dumps(document, indent=2), file=out)
        else:
            report.print_summary(result, self.masker, out)

    # -- recorded runs ----------------------------------------------------
    def stored(self) -> int:
        """``--history`` and ``--show RUN_ID``: read the store, run nothing."""
        args = self.args
        if not store.store_exists(self.conf):
            if args.history and cli_args.listing_rows(args):
                self.write_rows(report.history_listing([]), "--history")
                return ExitCode.SUCCESS
            if args.history:
                print("[]" if self.as_json else "no runs recorded")
                return ExitCode.SUCCESS
            raise UsageError(f"no run {args.show}: no run was ever recorded here")
        backend = store.open_backend(self.conf, self.catalog, read_only=True)
        try:
            connection = backend.get_connection()
            if args.history:
                from opsflow.cli.inputs import parse_since

                since = parse_since(args.since) if args.since else None
                rows = queries.history(
                    connection,
                    limit=args.limit,
                    flow=args.flow,
                    state=args.state,
                    since=since,
                )
                if cli_args.listing_rows(args):
                    self.write_rows(report.history_listing(rows), "--history")
                elif self.as_json:
                    print(json.dumps(rows, indent=2))
                else:
                    report.print_history(rows, sys.stdout)
                return ExitCode.SUCCESS
            stored = self.service.inspect(connection, args.show)
            if args.graph:
                return self.draw(stored)
            self.show(connection, stored)
            return ExitCode.SUCCESS
        finally:
            backend.close()

    def show(self, connection: base.Connection, stored: StoredRun) -> None:
        """``--show RUN_ID``: the run's report, whether it is under way or not."""
        from opsflow.runs.report import show_document, stored_report

        flow_detail = stored.flow_detail
        result = stored_report(connection, flow_detail)
        if cli_args.listing_rows(self.args):
            self.write_rows(report.steps_listing(result, self.masker), "--show")
            return
        if self.as_json:
            document = show_document(connection, flow_detail, self.masker, result)
            print(json.dumps(document, indent=2))
            return
        queued = queries.queue_fields(connection, flow_detail)  # --submit runs
        report.print_details(result, self.masker, sys.stdout)
        if queued:
            holder = queued["held_by"] or "nobody (queued)"
            print(f"jobboard: {json.dumps(queued['jobboard'])}; held by: {holder}")

    def draw(self, stored: StoredRun) -> int:
        """``--show RUN_ID --graph FILE``: the run's picture, states coloured."""
        from opsflow.cli import plan
        from opsflow.views.stored import picture_of_stored

        args, flow_detail = self.args, stored.flow_detail
        picture = picture_of_stored(self.service, stored)
        fmt = plan.write_graph(args.graph, picture, args.graph_format)
        if self.as_json:
            document = {"run_id": flow_detail.uuid, "graph": args.graph, "format": fmt}
            print(json.dumps(document))
        elif args.graph != "-":
            print(f"graph of run {flow_detail.uuid} written to {args.graph} ({fmt})")
        return ExitCode.SUCCESS

    def write_rows(self, listing: Listing, what: str) -> None:
        """A listing as ``-f`` and ``-c`` ask (a table unless ``-f`` says)."""
        write_selected(listing, self.args.format, self.args.column, what, sys.stdout)

    def purge(self) -> int:
        """``--purge DAYS``: forget old SUCCESS and REVERTED runs."""
        days = self.args.purge
        deleted: list[str] = []
        kept = 0
        if store.store_exists(self.conf):
            backend = store.open_backend(self.conf, self.catalog)
            try:
                deleted, kept = queries.purge(
                    backend.get_connection(), days, self.traceback_dir
                )
            finally:
                backend.close()
        if self.as_json:
            print(json.dumps({"deleted": deleted, "kept_failure": kept}, indent=2))
            return ExitCode.SUCCESS
        print(f"deleted {len(deleted)} runs finished more than {days:g} days ago")
        if kept:
            print(
                f"kept {kept} FAILURE runs of that age: they need a person "
                "(opsflow-run --history --state FAILURE)"
            )
        return ExitCode.SUCCESS

    def resume(self) -> int:
        """``--resume RUN_ID``: go on from where the run stopped, or report its end."""
        run_id = self.args.resume

        def settled(stored: StoredRun) -> int | None:
            if stored.state not in states.ENDED_STATES:
                return None
            if not self.as_json:
                print(
                    f"run {run_id} already ended {stored.state}: nothing to resume",
                    file=sys.stderr,
                )
            return self.report_stored(stored)

        def begin(engine: ActionEngine, stored: StoredRun, estimates: Estimates) -> int:
            flow_detail = stored.flow_detail
            if not self.as_json:
                done = sum(1 for d in flow_detail if str(d.state) == states.SUCCESS)
                print(
                    f"resuming run {run_id} of flow {_flow(stored)} "
                    f"({done}/{len(flow_detail)} steps done, state {stored.state})",
                    file=sys.stderr,
                )
            fail_at = stored.record.fail_at if stored.record else None
            return self.run(engine, _flow(stored), estimates, fail_at=fail_at)

        return self.take_over(run_id, "--resume runs", settled, begin)

    def revert(self) -> int:
        """``--revert RUN_ID``: undo a run that did not end cleanly.

        A SUSPENDED (or killed) run is cancelled: every step that ran is
        reverted. A FAILURE run has its failed reverts tried again, with
        what they held back, once a person has fixed the cause. A REVERTED
        run is only shown (exit 1); a SUCCESS run is refused: undoing a
        finished change is a new decision, not a cleanup.
        """
        run_id = self.args.revert

        def settled(stored: StoredRun) -> int | None:
            if stored.state == states.SUCCESS:
                raise UsageError(
                    f"run {run_id} ended SUCCESS: --revert cancels a suspended "
                    "run or retries the failed reverts of a FAILURE run"
                )
            if stored.state != states.REVERTED:
                return None
            if not self.as_json:
                print(
                    f"run {run_id} is already REVERTED: nothing to undo",
                    file=sys.stderr,
                )
            return self.report_stored(stored)

        def begin(engine: ActionEngine, stored: StoredRun, estimates: Estimates) -> int:
            if not self.as_json:
                left = queries.step_names(
                    stored.flow_detail,
                    skip=(states.PENDING, states.REVERTED, states.IGNORE),
                )
                print(
                    f"reverting run {run_id} of flow {_flow(stored)} (state "
                    f"{stored.state}; to undo: {', '.join(left) or 'nothing'})",
                    file=sys.stderr,
                )
            return self.run(engine, _flow(stored), estimates, revert=True)

        return self.take_over(run_id, "--revert undoes the run", settled, begin)

    def report_stored(self, stored: StoredRun) -> int:
        """Print a run that has nothing left to do; the exit code of its state."""
        result = report.report_of(stored.flow_detail)
        saved = os.path.join(self.traceback_dir, f"{result.run_id}.txt")
        if result.failures and os.path.isfile(saved):
            result.traceback_path = saved  # written when the run ended
        self.print_report(result, sys.stdout)
        return for_state(result.state)

    def take_over(self, run_id: str, doing: str, settled: Settled, begin: Begin) -> int:
        """Take a recorded run over (its lease held) and hand its engine to ``begin``.

        ``settled(stored)`` returns an exit code when there is nothing to do
        with the run; it is asked before and again under the lease, since
        the run's last owner may have moved it on (or ended it) in between.
        """
        from opsflow.persistence import leases, runlock

        public = sorted(set(self.inputs.store) - self.inputs.secret_keys)
        if public:
            raise UsageError(
                f"{doing} with the store the run started with; not accepted: "
                + ", ".join(public)
            )
        if not store.store_exists(self.conf):
            raise UsageError(f"no run {run_id}: no run was ever recorded here")
        backend = store.open_backend(self.conf, self.catalog)
        connection = backend.get_connection()
        stored = self.service.inspect(connection, run_id)
        code = settled(stored)
        if code is not None:
            return code
        preflight.check_listeners(self.conf, self.catalog, self.args.listener)
        secrets = self.inputs.secrets
        source = self.service.check_takeover(stored, secrets, self.args.force)
        try:
            lease = leases.acquire(connection, run_id)
        except leases.LeaseHeld as exc:
            raise Unavailable(str(exc)) from exc
        with (
            leases.Heartbeat(connection, lease),
            _run_lock(self.conf, lease, wait=runlock.TAKEOVER_WAIT) as lock,
        ):
            stored = self.service.inspect(connection, run_id)
            code = settled(stored)
            if code is not None:
                return code
            with self.masker.masking_std_streams():  # the flow plugin's own code
                engine = self.service.take_over(
                    backend, stored, source, secrets, self.flags, self.masker.redactor
                )
            estimates = queries.estimates_for(connection, _flow(stored), exclude=run_id)
            return lock.ended(begin(engine, stored, estimates))


def _drill_did_not_fire(result: report.RunReport, step: str) -> int:
    """Say that the drill after ``step`` never fired; exit 64 (a usage error:
    the rehearsal asked for did not happen, and the run's changes stay)."""
    state = next((s.state for s in result.steps if s.name == step), "not run")
    why = "was skipped" if state == states.IGNORE else f"ended {state}"
    print(
        f"opsflow-run: warning: drill did not fire: {step} {why}, so nothing "
        f"was rehearsed; the run ended SUCCESS and its changes stay",
        file=sys.stderr,
    )
    return ExitCode.USAGE


def _is_whole_id(text: str) -> bool:
    """A run id as runs get them (a UUID), not a prefix or ``last``."""
    import uuid

    try:
        return str(uuid.UUID(text)) == text.lower()
    except ValueError:
        return False


def _flow(stored: StoredRun) -> str:
    assert stored.record is not None  # checked before any take-over
    return stored.record.flow


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


@contextlib.contextmanager
def _stdout_to_stderr(active: bool) -> Iterator[None]:
    """While active, what tasks print goes to stderr (stdout carries JSON)."""
    if not active:
        yield
        return
    out, sys.stdout = sys.stdout, sys.stderr
    try:
        yield
    finally:
        sys.stdout = out


class _HeldRunLock:
    """The run's host lock while this process runs it (see ``runlock``)."""

    def __init__(self, lock: runlock.RunLock) -> None:
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


def _run_lock(
    conf: cfg.ConfigOpts, lease: leases.Lease, wait: float = 0.0
) -> _HeldRunLock:
    """Hold the host lock of the leased run, once its previous owner's
    processes are gone (a fresh run's lock is always free).

    :raises ProcessesAlive: they still run after ``wait`` seconds (exit 69).
    """
    from opsflow.persistence import runlock

    return _HeldRunLock(
        runlock.RunLock.acquire(str(conf.state_path), lease.flow_uuid, wait=wait)
    )
