"""The persisted side of ``opsflow-run``: the run store, resume, history.

Each run is one flow detail (in its own logbook) in the store named by
``[persistence] connection`` (default: ``$state_path/opsflow.sqlite``). At
start, ``opsflow-run`` records in the flow detail's meta (key ``run``) what
is needed to rebuild the flow later: the ``opsflow.flows`` entry-point name,
the names of the factory's keyword arguments, the engine options,
and the versions of the plugin distributions whose code the flow runs.
The factory's arguments are recorded by name: their values are the run's
store, kept once in the flow detail's meta (key ``store``) beside the record.
``--resume`` rebuilds the flow from that record, refuses different plugin
versions unless ``--force``, asks for the secrets again, and takes the run's
lease (:mod:`opsflow.persistence.leases`) so that one process runs it.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import os
from collections.abc import Iterable, Mapping
from typing import Any

from oslo_config import cfg

from opsflow import exceptions
from opsflow.cli.exits import Unavailable, UsageError
from opsflow.cli.progress import StepRecord
from opsflow.cli.report import RunReport
from opsflow.persistence import models
from opsflow.redaction import NO_SECRETS, Redactor

__all__ = [
    "FINAL_STATES",
    "RUN_META_KEY",
    "RUN_STATES",
    "SETTLED_STATES",
    "describe",
    "estimates_for",
    "find_run",
    "history",
    "interrupted_note",
    "interruption",
    "parse_since",
    "purge",
    "runs_of",
    "running_owner",
    "open_backend",
    "plugin_versions",
    "rebuild_flow",
    "report_of",
    "run_record",
    "version_changes",
]

#: Flow detail meta key of what ``opsflow-run`` records at start.
RUN_META_KEY = "run"
#: States a run ends in; resuming such a run only reports it.
FINAL_STATES = frozenset({"SUCCESS", "REVERTED", "FAILURE"})
#: States in which a run waits for nothing: ended, or suspended cleanly.
SETTLED_STATES = FINAL_STATES | {"SUSPENDED"}
#: Every state a run (a flow detail) can be in, for ``--history --state``.
RUN_STATES = (
    "PENDING",
    "RUNNING",
    "SUSPENDING",
    "SUSPENDED",
    "RESUMING",
    "SUCCESS",
    "REVERTED",
    "FAILURE",
)


def describe(conf: cfg.ConfigOpts) -> str:
    """The store's URL without its password, for messages."""
    from opsflow.persistence.backends.impl_sqlalchemy import make_url

    connection = conf.persistence.connection
    try:
        return make_url(connection).render_as_string(hide_password=True)
    except Exception:
        return connection.split("://", 1)[0] + "://..."


def store_exists(conf: cfg.ConfigOpts) -> bool:
    """False only for a SQLite store whose file was never created.

    Reading commands (``--history``, ``--show``, ``--resume``) then report
    that there are no runs instead of creating an empty store.
    """
    from opsflow.persistence.backends.impl_sqlalchemy import make_url

    connection = conf.persistence.connection
    if not connection.startswith("sqlite"):
        return True
    path = make_url(connection).database
    return not path or path == ":memory:" or os.path.exists(path)


def open_backend(conf: cfg.ConfigOpts, read_only: bool = False) -> Any:
    """The configured backend, its schema upgraded (created on first use).

    ``read_only`` is for commands that only read (``--history``, ``--show``):
    a SQLite store this process cannot write to (a read-only file system,
    someone else's directory) is then opened for reading, as it is.

    :raises Unavailable: the store cannot be reached or upgraded (exit 69).
    """
    from opsflow.persistence import backends

    if read_only and not _sqlite_writable(conf):
        return backends.fetch(
            {"connection": conf.persistence.connection, "read_only": True}
        )
    backend = backends.fetch({"connection": conf.persistence.connection})
    try:
        backend.get_connection().upgrade()
    except (exceptions.StorageFailure, OSError, ImportError) as exc:
        backend.close()
        raise Unavailable(
            f"persistence store {describe(conf)} is unavailable: {exc}"
        ) from exc
    return backend


def _sqlite_writable(conf: cfg.ConfigOpts) -> bool:
    """False for a SQLite store whose file or directory this process cannot
    write to; True otherwise (other stores say so when they are used)."""
    from opsflow.persistence.backends.impl_sqlalchemy import make_url

    connection = conf.persistence.connection
    if not connection.startswith("sqlite"):
        return True
    path = make_url(connection).database
    if not path or path == ":memory:":
        return True
    directory = os.path.dirname(os.path.abspath(path))
    return os.access(path, os.W_OK) and os.access(directory, os.W_OK)


# -- recording a run --------------------------------------------------------
def plugin_versions(flow_name: str, atoms: Iterable[Any]) -> dict[str, str]:
    """``{distribution: version}`` of the flow plugin and every atom's package."""
    versions: dict[str, str] = {}
    for entry in importlib.metadata.entry_points(group="opsflow.flows", name=flow_name):
        if entry.dist is not None:
            versions[entry.dist.name] = entry.dist.version
    owners = importlib.metadata.packages_distributions()
    for top in {type(atom).__module__.split(".", 1)[0] for atom in atoms}:
        if top in ("opsflow", "builtins", "__main__"):
            continue
        for dist in owners.get(top, ()):
            try:
                versions[dist] = importlib.metadata.version(dist)
            except importlib.metadata.PackageNotFoundError:
                continue
    return dict(sorted(versions.items()))


def run_record(
    flow_name: str,
    factory_kwargs: Mapping[str, Any],
    secret_keys: Iterable[str],
    versions: Mapping[str, str],
    engine: str,
    executor: str | None,
    max_workers: int | None,
) -> dict[str, Any]:
    """What the flow detail keeps to rebuild and resume the run."""
    secret_keys = set(secret_keys)
    try:
        opsflow_version = importlib.metadata.version("opsflow")
    except importlib.metadata.PackageNotFoundError:
        opsflow_version = None
    return {
        "flow": flow_name,
        # Names only: the values are the run's store, saved once beside this.
        "factory_inputs": sorted(k for k in factory_kwargs if k not in secret_keys),
        "factory_secrets": sorted(k for k in factory_kwargs if k in secret_keys),
        "secrets": sorted(secret_keys),
        "versions": dict(versions),
        "opsflow_version": opsflow_version,
        "engine": engine,
        "executor": executor,
        "max_workers": max_workers,
    }


def new_run(
    flow_name: str,
    flow: Any,
    store: Mapping[str, Any],
    secret_keys: Iterable[str],
    checked: Any,
    conf: cfg.ConfigOpts,
    executor: str | None,
) -> models.FlowDetail:
    """A fresh flow detail carrying the run record and, for a YAML flow, its file."""
    from opsflow.plugins import flows

    flow_detail = models.FlowDetail(name=flow.name)
    flow_detail.meta[RUN_META_KEY] = run_record(
        flow_name,
        flows.factory_arguments(flows.load_factory(flow_name), flow_name, store),
        secret_keys,
        plugin_versions(
            flow_name, (node.atom for node in checked.compilation.nodes.values())
        ),
        engine=conf.engine.engine,
        executor=executor,
        max_workers=conf.engine.max_workers,
    )
    source = flows.source_of(flow_name)  # a YAML flow's file and sha256
    if source:
        flow_detail.meta["source"] = source
    return flow_detail


def persisted_engine(
    flow: Any,
    store: Mapping[str, Any],
    conf: cfg.ConfigOpts,
    checked: Any,
    backend: Any,
    flow_detail: models.FlowDetail,
    secret_keys: frozenset[str] = frozenset(),
) -> Any:
    """The engine that runs ``checked``'s flow, writing through ``backend``."""
    from opsflow.cli.runner import load_engine

    options = checked._options  # what preflight resolved for this run
    return load_engine(
        flow,
        dict(store),
        engine=conf.engine.engine,
        executor=options.get("executor"),
        max_workers=options.get("max_workers"),
        task_timeout=options.get("task_timeout"),
        secret_keys=secret_keys,
        backend=backend,
        flow_detail=flow_detail,
    )


# -- finding and rebuilding a run --------------------------------------------
def find_run(connection: Any, run_id: str) -> tuple[models.LogBook, models.FlowDetail]:
    """The logbook and flow detail of run ``run_id`` (``UsageError`` if none)."""
    try:
        book = connection.get_logbook_of(run_id)
    except exceptions.NotFound:
        raise UsageError(f"no run {run_id} in the persistence store") from None
    flow_detail = book.find(run_id)
    assert flow_detail is not None
    return book, flow_detail


def version_changes(record: Mapping[str, Any]) -> list[str]:
    """How the recorded plugin versions differ from the installed ones."""
    changes = []
    for dist, recorded in sorted(record.get("versions", {}).items()):
        try:
            installed = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            installed = "not installed"
        if installed != recorded:
            changes.append(f"{dist} {recorded} -> {installed}")
    return changes


def check_resumable(
    run_id: str,
    record: Mapping[str, Any] | None,
    secrets: Mapping[str, Any],
    force: bool,
) -> None:
    """Refuse a resume whose flow cannot be rebuilt as it was started.

    :raises UsageError: no run record, or secrets not given again (64).
    :raises Unavailable: plugin versions changed and no ``--force`` (69).
    """
    if not record:
        raise UsageError(
            f"run {run_id} was not started by opsflow-run: its flow cannot be rebuilt"
        )
    missing = [key for key in record.get("secrets", []) if key not in secrets]
    if missing:
        flags = " ".join(f"--secret {key}=..." for key in missing)
        raise UsageError(
            f"run {run_id} needs its secrets again (they are never stored): "
            f"{', '.join(missing)}; give them with {flags}"
        )
    changes = version_changes(record)
    if changes and not force:
        raise Unavailable(
            f"run {run_id} was started with other plugin versions "
            f"({'; '.join(changes)}); resuming could run different code: "
            "install the same versions, or resume anyway with --force"
        )


def rebuild_flow(
    record: Mapping[str, Any],
    secrets: Mapping[str, Any],
    stored: Mapping[str, Any],
    redactor: Redactor = NO_SECRETS,
) -> Any:
    """The run's flow, built again by its ``opsflow.flows`` plugin.

    ``stored`` is the run's saved store (where the factory's recorded
    inputs are), ``secrets`` those given again; ``redactor`` scrubs them
    from the factory's error messages.
    """
    from opsflow.plugins import flows

    name = record["flow"]
    factory = flows.load_factory(name)
    # Runs recorded before inputs were kept by name carry their values.
    kwargs = dict(record.get("factory_kwargs", {}))
    kwargs.update(
        {k: stored[k] for k in record.get("factory_inputs", ()) if k in stored}
    )
    kwargs.update({k: secrets[k] for k in record.get("factory_secrets", [])})
    return flows.call_factory(factory, name, kwargs, redactor, doing="rebuild")


# -- reporting stored runs ----------------------------------------------------
def flow_name_of(flow_detail: models.FlowDetail) -> str:
    record = flow_detail.meta.get(RUN_META_KEY) or {}
    return str(record.get("flow") or flow_detail.name)


def _iso(value: datetime.datetime) -> str:
    return value.astimezone(datetime.UTC).isoformat(timespec="seconds")


def parse_since(text: str) -> datetime.datetime:
    """``--since``: an ISO date or time (UTC unless it says), or an age
    such as ``30m``, ``12h``, ``7d``, ``2w``.

    :raises UsageError: neither (exit 64).
    """
    units = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
    now = datetime.datetime.now(datetime.UTC)
    text = text.strip()
    if text[:-1].isdigit() and text[-1:] in units:
        return now - datetime.timedelta(seconds=int(text[:-1]) * units[text[-1]])
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(
            f"--since {text}: give a date or time (2026-01-31, "
            "2026-01-31T08:00) or an age (30m, 12h, 7d, 2w)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment


def _aware(moment: datetime.datetime) -> datetime.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)


def runs_of(
    connection: Any,
    flow: str | None = None,
    state: str | None = None,
    since: datetime.datetime | None = None,
) -> list[tuple[models.FlowDetail, str]]:
    """``(run, logbook uuid)`` pairs, newest first, filtered."""
    runs = list(connection.list_flow_details())
    runs.sort(key=lambda pair: _aware(pair[0].created_at), reverse=True)
    return [
        (fd, book)
        for fd, book in runs
        if (flow is None or flow_name_of(fd) == flow)
        and (state is None or str(fd.state or "PENDING") == state)
        and (since is None or _aware(fd.created_at) >= since)
    ]


def estimates_for(connection: Any, flow: str, exclude: str | None = None) -> Any:
    """Median step durations over the past finished runs of ``flow``."""
    from opsflow.views.timings import HISTORY, estimates_from

    past = [
        fd.uuid
        for fd, _book in runs_of(connection, flow)
        if fd.uuid != exclude and str(fd.state) in FINAL_STATES
    ][:HISTORY]
    # The listing holds no atoms: read each run's steps.
    return estimates_from(connection.get_flow_details(uuid) for uuid in past)


def purge(
    connection: Any, older_than_days: float, traceback_dir: str | None = None
) -> tuple[list[str], int]:
    """Delete SUCCESS and REVERTED runs last changed more than
    ``older_than_days`` ago (and their traceback files); FAILURE runs are
    kept, they still need a person. The deleted run ids, and how many
    FAILURE runs of that age were kept."""
    limit = datetime.datetime.now(datetime.UTC) - datetime.timedelta(
        days=older_than_days
    )
    deleted, kept = [], 0
    for fd, book in runs_of(connection):
        if _aware(fd.updated_at) >= limit:
            continue
        state = str(fd.state or "PENDING")
        if state == "FAILURE":
            kept += 1
            continue
        if state not in ("SUCCESS", "REVERTED"):
            continue  # running, suspended or killed: still resumable
        connection.destroy_logbook(book)
        deleted.append(fd.uuid)
        if traceback_dir:
            path = os.path.join(traceback_dir, f"{fd.uuid}.txt")
            if os.path.exists(path):
                os.unlink(path)
    return deleted, kept


def history(
    connection: Any,
    limit: int | None = None,
    flow: str | None = None,
    state: str | None = None,
    since: datetime.datetime | None = None,
) -> list[dict[str, Any]]:
    """``--history``: every run, newest first, filtered."""
    runs = [fd for fd, _book in runs_of(connection, flow, state, since)]
    return [
        {
            "run_id": fd.uuid,
            "flow": flow_name_of(fd),
            "state": str(fd.state or "PENDING"),
            "started_at": _iso(fd.created_at),
            "updated_at": _iso(fd.updated_at),
            "interrupted": interruption(connection, fd),
            **queue_fields(connection, fd),
        }
        for fd in runs[:limit]
    ]


def interruption(connection: Any, fd: models.FlowDetail) -> dict[str, Any] | None:
    """Why a run that says it is under way is not, and what to do about it.

    A run left RUNNING (or SUSPENDING, PENDING...) whose owner died (``kill
    -9``, a reboot, a second Ctrl-C) still says so in the store. It is
    *interrupted* when no live process holds its lease: then ``{"owner":
    the owner that is gone (None if it left no lease), "resume_command",
    "revert_command"}``; None for a run that ended, was suspended cleanly,
    is being run, waits in a jobboard's queue, or was not started by
    ``opsflow-run`` (which could not resume it).
    """
    state = str(fd.state or "PENDING")
    if state in SETTLED_STATES or fd.meta.get("jobboard"):
        return None
    if not fd.meta.get(RUN_META_KEY):
        return None
    lease = _lease_of(connection, fd.uuid)
    if lease is not None:
        from opsflow.persistence import leases

        if leases.is_alive(lease):
            return None
    return {
        "owner": lease.owner if lease is not None else None,
        "resume_command": f"opsflow-run --resume {fd.uuid}",
        "revert_command": f"opsflow-run --revert {fd.uuid}",
    }


def running_owner(connection: Any, fd: models.FlowDetail) -> str | None:
    """``host pid N`` of the live process running ``fd``, if any."""
    if str(fd.state or "PENDING") in SETTLED_STATES:
        return None
    lease = _lease_of(connection, fd.uuid)
    if lease is None:
        return None
    from opsflow.persistence import leases

    return lease.owner if leases.is_alive(lease) else None


def _lease_of(connection: Any, flow_uuid: str) -> Any:
    """The run's lease, or None (also for a store that keeps no leases)."""
    try:
        return connection.get_lease(flow_uuid)
    except NotImplementedError:
        return None


def queue_fields(connection: Any, fd: models.FlowDetail) -> dict[str, Any]:
    """A submitted run's jobboard record and who holds it (``--submit``)."""
    board = fd.meta.get("jobboard")
    if not board:
        return {}
    lease = connection.get_lease(fd.uuid) if hasattr(connection, "get_lease") else None
    return {"jobboard": board, "held_by": lease.owner if lease else None}


def print_history(rows: list[dict[str, Any]], out: Any) -> None:
    """The text form of ``--history``."""
    if not rows:
        out.write("no runs recorded\n")
        return
    width = max(len(row["flow"]) for row in rows + [{"flow": "FLOW"}])
    out.write(f"{'RUN_ID':<36}  {'FLOW':<{width}}  {'STATE':<10}  STARTED (UTC)\n")
    for row in rows:
        note = ""
        if row.get("interrupted"):
            note = f"  {interrupted_note(row['state'], row['interrupted'])}"
        out.write(
            f"{row['run_id']:<36}  {row['flow']:<{width}}  {row['state']:<10}  "
            f"{row['started_at']}{note}\n"
        )


def interrupted_note(state: str, interrupted: Mapping[str, Any]) -> str:
    """One line on an interrupted run: whose it was, and the commands."""
    owner = interrupted.get("owner")
    gone = f"its owner {owner} is gone" if owner else "no process runs it"
    return (
        f"interrupted, {gone}: {interrupted['resume_command']} "
        f"(or {interrupted['revert_command']} to undo it)"
    )


def report_of(flow_detail: models.FlowDetail) -> RunReport:
    """A stored run as the same report a finished run prints."""
    from opsflow.cli.runner import failure_report
    from opsflow.views.timings import timing_of

    steps, results, failures = [], {}, []
    for detail in flow_detail:
        state = str(detail.state)
        timing = timing_of(detail)
        run = float(timing.get("run") or 0.0)
        revert = float(timing.get("revert") or 0.0)
        steps.append(
            StepRecord(
                detail.name,
                state=state,
                duration=run + revert,
                started_at=timing.get("started_at"),
                reverted_at=timing.get("reverted_at"),
                attempts=int(timing.get("attempts") or 0),
                run_seconds=run,
                revert_seconds=revert,
            )
        )
        if state == "SUCCESS" and detail.kind != "retry":
            results[detail.name] = detail.results
        if detail.failure is not None:
            failures.append(failure_report(detail.name, "execute", detail.failure))
        if detail.revert_failure is not None:
            failures.append(
                failure_report(detail.name, "revert", detail.revert_failure)
            )
    return RunReport(
        run_id=flow_detail.uuid,
        flow=flow_name_of(flow_detail),
        state=str(flow_detail.state or "PENDING"),
        duration=(flow_detail.updated_at - flow_detail.created_at).total_seconds(),
        steps=steps,
        results=results,
        failures=failures,
    )
