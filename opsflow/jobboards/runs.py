"""Storing a run for later, and running a stored run under a fenced lease.

A submitted run is an ordinary ``opsflow-run`` run record (flow entry-point
name, factory arguments, plugin versions; :mod:`opsflow.cli.runstore`) whose
store is saved with it, plus a ``jobboard`` entry in the flow detail's meta:
which jobboard took it and, once claimed, which process holds it. Whoever
runs it later rebuilds the flow from that record, like ``--resume`` does.
"""

from __future__ import annotations

import datetime
import logging
import os
import socket
from collections.abc import Callable, Mapping
from typing import Any

from opsflow import exceptions, states
from opsflow.persistence import leases, models
from opsflow.storage import STORE_META_KEY

__all__ = ["JOBBOARD_META_KEY", "give_up", "run_stored", "store_run"]

LOG = logging.getLogger(__name__)

#: Flow detail meta key of the jobboard's record of a submitted run.
JOBBOARD_META_KEY = "jobboard"
FINAL_STATES = frozenset({states.SUCCESS, states.REVERTED, states.FAILURE})


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def store_run(
    conf: Any, backend: Any, flow_name: str, store: Mapping[str, Any], board: str
) -> models.FlowDetail:
    """Check ``flow_name`` with ``store`` and save it as a PENDING run."""
    from opsflow.cli import preflight, runstore

    store = dict(store)
    flow = preflight.load_flow(flow_name, store)
    checked = preflight.checked_engine(flow_name, flow, store, conf)
    flow_detail = runstore.new_run(
        flow_name, flow, store, (), checked, conf, conf.engine.executor
    )
    flow_detail.meta[JOBBOARD_META_KEY] = {"driver": board, "submitted_at": _now()}
    # Loading with the backend saves the run and its store (PENDING).
    runstore.persisted_engine(flow, store, conf, checked, backend, flow_detail)
    return flow_detail


def owner() -> str:
    return f"{socket.gethostname()} pid {os.getpid()}"


def run_stored(
    conf: Any,
    backend: Any,
    flow_uuid: str,
    lease: leases.Lease,
    should_abort: Callable[[], bool] = lambda: False,
    claim: Mapping[str, Any] | None = None,
) -> str:
    """Run (or go on with) the stored run ``flow_uuid``; its final state.

    Every write goes through a connection fenced by ``lease``: once another
    process claims the run, the next write raises
    :class:`~opsflow.persistence.leases.LeaseLost` and this engine stops
    where it is, reverting nothing. ``should_abort`` is asked between atoms;
    when it says so the run is suspended (running atoms finish first).
    ``claim`` goes into the run's jobboard record (who holds it).
    """
    from opsflow.cli import runstore
    from opsflow.cli.runner import load_engine

    fenced = leases.FencedBackend(backend, flow_uuid, lease.token)
    connection = fenced.get_connection()
    book, flow_detail = runstore.find_run(connection, flow_uuid)
    if str(flow_detail.state) in FINAL_STATES:
        return str(flow_detail.state)
    record = flow_detail.meta.get(runstore.RUN_META_KEY)
    if not record:
        raise exceptions.OpsflowException(
            f"run {flow_uuid} has no run record: its flow cannot be rebuilt"
        )
    board = dict(flow_detail.meta.get(JOBBOARD_META_KEY) or {})
    board.update(claim or {})
    board.update(
        owner=owner(),
        claimed_at=_now(),
        claims=leases.generation(lease.token),
    )
    flow_detail.meta[JOBBOARD_META_KEY] = board
    connection.save_flow_detail(flow_detail)  # fenced: the claim is ours
    engine = load_engine(
        runstore.rebuild_flow(record, {}, flow_detail.meta.get(STORE_META_KEY) or {}),
        {},
        engine=record.get("engine") or conf.engine.engine,
        executor=record.get("executor") or conf.engine.executor,
        max_workers=record.get("max_workers") or conf.engine.max_workers,
        task_timeout=conf.engine.task_timeout,
        backend=fenced,
        flow_detail=flow_detail,
        book=book,
    )

    def between_atoms(_state: str, details: Mapping[str, Any]) -> None:
        if should_abort():
            LOG.info("run %s: abort requested, suspending", flow_uuid)
            engine.suspend()

    engine.atom_notifier.register(engine.atom_notifier.ANY, between_atoms)
    try:
        engine.run()
    except exceptions.StorageFailure:
        raise  # LeaseLost included: stop here, the new owner is in charge
    except Exception as exc:  # the flow's own failure: REVERTED or FAILURE
        LOG.info("run %s ended with %s: %s", flow_uuid, type(exc).__name__, exc)
    return str(engine.storage.get_flow_state())


def give_up(backend: Any, flow_uuid: str, reason: str) -> None:
    """End the run FAILURE with ``reason``, for a person to look at.

    Claims the lease first, so a conductor still running it is fenced off.
    """
    connection = backend.get_connection()
    lease = leases.claim(connection, flow_uuid)
    fenced = leases.FencedBackend(backend, flow_uuid, lease.token).get_connection()
    flow_detail = fenced.get_flow_details(flow_uuid, lazy=True)
    if str(flow_detail.state) in FINAL_STATES:
        return
    board = dict(flow_detail.meta.get(JOBBOARD_META_KEY) or {})
    board.update(failed_reason=reason, failed_at=_now())
    flow_detail.meta[JOBBOARD_META_KEY] = board
    flow_detail.state = states.FAILURE
    fenced.save_flow_detail(flow_detail)
    connection.delete_lease(flow_uuid, lease.token)
