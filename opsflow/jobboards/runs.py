"""Running a submitted run under a fenced lease, and giving one up.

A submitted run is an ordinary run record (:mod:`opsflow.runs.record`)
with its store, recorded PENDING, plus a ``jobboard`` entry in the flow
detail's meta: which jobboard took it and, once claimed, which process
holds it. Whoever runs it takes it over like ``--resume`` does
(:meth:`opsflow.runs.service.RunService.take_over`), with every write
fenced by the lease it claimed.
"""

from __future__ import annotations

import datetime
import logging
import os
import socket
from collections.abc import Callable, Hashable, Mapping
from typing import Any

from opsflow import exceptions, states
from opsflow.persistence import base, leases
from opsflow.runs.service import JOBBOARD_META_KEY, RunService

__all__ = ["give_up", "owner", "run_stored"]

LOG = logging.getLogger(__name__)


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def owner() -> str:
    """This process, as a jobboard record names its holder."""
    return f"{socket.gethostname()} pid {os.getpid()}"


def run_stored(
    service: RunService,
    backend: base.Backend,
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
    fenced = leases.FencedBackend(backend, flow_uuid, lease.token)
    connection = fenced.get_connection()
    stored = service.inspect(connection, flow_uuid)
    if stored.state in states.ENDED_STATES:
        return stored.state
    if stored.record is None:
        raise exceptions.OpsflowException(
            f"run {flow_uuid} has no run record: its flow cannot be rebuilt"
        )
    flow_detail = stored.flow_detail
    board = dict(flow_detail.meta.get(JOBBOARD_META_KEY) or {})
    board.update(claim or {})
    board.update(
        owner=owner(), claimed_at=_now(), claims=leases.generation(lease.token)
    )
    flow_detail.meta[JOBBOARD_META_KEY] = board
    connection.save_flow_detail(flow_detail)  # fenced: the claim is ours
    source = service.lookup(stored.record.flow)
    engine = service.take_over(fenced, stored, source, {})

    def between_atoms(event_type: Hashable, *args: Any, **kwargs: Any) -> None:
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


def give_up(backend: base.Backend, flow_uuid: str, reason: str) -> None:
    """End the run FAILURE with ``reason``, for a person to look at.

    Claims the lease first, so a conductor still running it is fenced off.
    """
    connection = backend.get_connection()
    lease = leases.claim(connection, flow_uuid)
    fenced = leases.FencedBackend(backend, flow_uuid, lease.token).get_connection()
    flow_detail = fenced.get_flow_details(flow_uuid, lazy=True)
    if str(flow_detail.state) in states.ENDED_STATES:
        return
    board = dict(flow_detail.meta.get(JOBBOARD_META_KEY) or {})
    board.update(failed_reason=reason, failed_at=_now())
    flow_detail.meta[JOBBOARD_META_KEY] = board
    flow_detail.state = states.FAILURE
    fenced.save_flow_detail(flow_detail)
    connection.delete_lease(flow_uuid, lease.token)
