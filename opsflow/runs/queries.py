"""Questions about recorded runs: history, interrupted runs, estimates, purge.

Everything here reads (or deletes) what the run store holds and returns
plain values; how they are shown is the CLI's and the web view's business.
"""

from __future__ import annotations

import datetime
import os
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from opsflow import exceptions, states
from opsflow.persistence import base, leases, models
from opsflow.runs.record import RUN_META_KEY
from opsflow.runs.service import JOBBOARD_META_KEY

if TYPE_CHECKING:
    from opsflow.views.timings import Estimates

__all__ = [
    "estimates_for",
    "filter_runs",
    "flow_name_of",
    "history",
    "history_row",
    "interruption",
    "iso",
    "parse_since",
    "purge",
    "queue_fields",
    "resolve_run_id",
    "running_owner",
    "runs_of",
]

#: A run in one of these waits for nothing: ended, or suspended cleanly.
_SETTLED = states.FINAL_STATES


def flow_name_of(flow_detail: models.FlowDetail) -> str:
    """The name of the flow a run runs (its record's, else the flow detail's)."""
    record = flow_detail.meta.get(RUN_META_KEY) or {}
    return str(record.get("flow") or flow_detail.name)


def iso(value: datetime.datetime) -> str:
    """A time as the listings show it: UTC, to the second."""
    return value.astimezone(datetime.UTC).isoformat(timespec="seconds")


def _aware(moment: datetime.datetime) -> datetime.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)


def _state(flow_detail: models.FlowDetail) -> str:
    return str(flow_detail.state or states.PENDING)


def runs_of(
    connection: base.Connection,
    flow: str | None = None,
    state: str | None = None,
    since: datetime.datetime | None = None,
) -> list[tuple[models.FlowDetail, str]]:
    """``(run, logbook uuid)`` pairs, newest first, filtered (runs hold no atoms)."""
    return filter_runs(connection.list_flow_details(), flow, state, since)


def filter_runs(
    runs: Iterable[tuple[models.FlowDetail, str]],
    flow: str | None = None,
    state: str | None = None,
    since: datetime.datetime | None = None,
) -> list[tuple[models.FlowDetail, str]]:
    """Those of ``runs`` of ``flow``, in ``state``, started since ``since``;
    newest first."""
    ordered = sorted(runs, key=lambda pair: _aware(pair[0].created_at), reverse=True)
    return [
        (fd, book)
        for fd, book in ordered
        if (flow is None or flow_name_of(fd) == flow)
        and (state is None or _state(fd) == state)
        and (since is None or _aware(fd.created_at) >= since)
    ]


#: The run id that means the run started last.
LAST = "last"


def resolve_run_id(connection: base.Connection, given: str) -> str:
    """The full id of the run ``given`` names: its id, a unique prefix of
    it, or ``last`` (the run started last).

    :raises RunNotFound: no run matches (exit 64).
    :raises UsageError: the prefix starts more than one run id (exit 64).
    """
    runs = [str(fd.uuid) for fd, _book in runs_of(connection)]
    if given == LAST:
        if not runs:
            raise exceptions.RunNotFound("no run last: no run is recorded")
        return runs[0]
    wanted = given.lower()
    matches = [run_id for run_id in runs if run_id.lower().startswith(wanted)]
    if wanted in matches or not matches:
        # A whole id, or none: find_run reports a missing one.
        return given
    if len(matches) > 1:
        shown = ", ".join(matches[:3]) + (", ..." if len(matches) > 3 else "")
        raise exceptions.UsageError(
            f"run id {given!r} is the start of {len(matches)} runs ({shown}): "
            "give more of it"
        )
    return matches[0]


def history(
    connection: base.Connection,
    limit: int | None = None,
    flow: str | None = None,
    state: str | None = None,
    since: datetime.datetime | None = None,
) -> list[dict[str, Any]]:
    """Every run, newest first, filtered: the rows of ``--history``."""
    runs = [fd for fd, _book in runs_of(connection, flow, state, since)]
    return [history_row(connection, fd) for fd in runs[:limit]]


def history_row(connection: base.Connection, fd: models.FlowDetail) -> dict[str, Any]:
    """One row of ``--history``: the run, its state, and whether it is
    interrupted or queued."""
    return {
        "run_id": fd.uuid,
        "flow": flow_name_of(fd),
        "state": _state(fd),
        "started_at": iso(fd.created_at),
        "updated_at": iso(fd.updated_at),
        "interrupted": interruption(connection, fd),
        **queue_fields(connection, fd),
    }


#: An age for ``--since``: ASCII digits and a unit.
_AGE = re.compile(r"([0-9]+)([mhdw])")


def parse_since(text: str) -> datetime.datetime:
    """``--since``: an ISO date or time (UTC unless it says), or an age
    such as ``30m``, ``12h``, ``7d``, ``2w``.

    :raises UsageError: neither (exit 64).
    """
    units = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
    now = datetime.datetime.now(datetime.UTC)
    text = text.strip()
    refused = exceptions.UsageError(
        f"--since {text[:40]}: give a date or time (2026-01-31, "
        "2026-01-31T08:00) or an age (30m, 12h, 7d, 2w)"
    )
    age = _AGE.fullmatch(text)
    if age is not None:
        digits, unit = age.groups()
        try:
            if len(digits) > 12:  # int() of thousands of digits is slow, then fails
                raise OverflowError
            return now - datetime.timedelta(seconds=int(digits) * units[unit])
        except OverflowError:
            raise exceptions.UsageError(
                f"--since {text[:40]}: an age that reaches back before year 1"
            ) from None
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise refused from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment


def estimates_for(
    connection: base.Connection, flow: str, exclude: str | None = None
) -> Estimates:
    """Median step durations over the past finished runs of ``flow``."""
    from opsflow.views.timings import HISTORY, estimates_from

    past = [
        fd.uuid
        for fd, _book in runs_of(connection, flow)
        if fd.uuid != exclude and _state(fd) in states.ENDED_STATES
    ][:HISTORY]
    # The listing holds no atoms: read the runs' steps, all in one go.
    read = connection.get_many_flow_details(past)
    return estimates_from(read[uuid] for uuid in past if uuid in read)


def purge(
    connection: base.Connection,
    older_than_days: float,
    traceback_dir: str | None = None,
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
        state = _state(fd)
        if state == states.FAILURE:
            kept += 1
            continue
        if state not in (states.SUCCESS, states.REVERTED):
            continue  # running, suspended or killed: still resumable
        connection.destroy_logbook(book)
        deleted.append(fd.uuid)
        if traceback_dir:
            path = os.path.join(traceback_dir, f"{fd.uuid}.txt")
            if os.path.exists(path):
                os.unlink(path)
    return deleted, kept


def _lease_of(connection: base.Connection, flow_uuid: str) -> leases.Lease | None:
    """The run's lease, or None (also for a store that keeps no leases)."""
    try:
        lease: leases.Lease | None = connection.get_lease(flow_uuid)
    except NotImplementedError:
        return None
    return lease


def interruption(
    connection: base.Connection, fd: models.FlowDetail
) -> dict[str, Any] | None:
    """Why a run that says it is under way is not, and what to do about it.

    A run left RUNNING (or SUSPENDING, PENDING...) whose owner died (``kill
    -9``, a reboot, a second Ctrl-C) still says so in the store. It is
    *interrupted* when no live process holds its lease: then ``{"owner":
    the owner that is gone (None if it left no lease), "resume_command",
    "revert_command"}``; None for a run that ended, was suspended cleanly,
    is being run, waits in a jobboard's queue, or was not started by
    ``opsflow-run`` (which could not resume it).
    """
    if _state(fd) in _SETTLED or fd.meta.get(JOBBOARD_META_KEY):
        return None
    if not fd.meta.get(RUN_META_KEY):
        return None
    lease = _lease_of(connection, fd.uuid)
    if lease is not None and leases.is_alive(lease):
        return None
    return {
        "owner": lease.owner if lease is not None else None,
        "resume_command": f"opsflow-run --resume {fd.uuid}",
        "revert_command": f"opsflow-run --revert {fd.uuid}",
    }


def running_owner(connection: base.Connection, fd: models.FlowDetail) -> str | None:
    """``host pid N`` of the live process running ``fd``, if any."""
    if _state(fd) in _SETTLED:
        return None
    lease = _lease_of(connection, fd.uuid)
    if lease is None:
        return None
    return lease.owner if leases.is_alive(lease) else None


def queue_fields(connection: base.Connection, fd: models.FlowDetail) -> dict[str, Any]:
    """A submitted run's jobboard record and who holds it (``--submit``)."""
    board = fd.meta.get(JOBBOARD_META_KEY)
    if not board:
        return {}
    lease = _lease_of(connection, fd.uuid)
    return {"jobboard": board, "held_by": lease.owner if lease else None}


def step_names(flow_detail: models.FlowDetail, skip: Iterable[str] = ()) -> list[str]:
    """The names of a run's steps whose state is not in ``skip``."""
    excluded = set(skip)
    return [d.name for d in flow_detail if str(d.state) not in excluded]
