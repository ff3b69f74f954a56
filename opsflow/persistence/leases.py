"""One owner per run: a lease row with host, pid and a heartbeat.

``opsflow-run`` takes the lease of a run before it writes anything to it
and renews it from a heartbeat thread while the run goes on. Another process
that wants the same run (``--resume``) finds the lease held and is told who
holds it. A lease whose owner died is taken over: on the same host at once
(the pid is gone, or is now another process), from another host once its
``expires_at`` has passed. Taking over is a compare-and-swap on the old
token, so of two processes racing for a dead owner's run only one wins.

Backends provide the row operations (``insert_lease``, ``get_lease``,
``replace_lease``, ``renew_lease``, ``delete_lease``); the policy lives here.
A conductor (``opsflow-conductor``) claims a queued run with :func:`claim`
instead: it takes the lease whoever holds it (the job queue already decided
it is this conductor's turn) and its token counts the claims
(``"<generation>-<random>"``). Its engine writes through a connection fenced
with that token (:class:`FencedBackend`): each write first reads the lease
row ``FOR SHARE`` in its own transaction and raises :class:`LeaseLost` when
the token changed, so a conductor that froze and came back writes nothing.

Times are the hosts' wall clocks (``time.time()``): hosts sharing a store
should run NTP, and ``ttl`` should be far above their skew.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import threading
import time
import uuid
from typing import Any

from opsflow import exceptions
from opsflow.persistence import base

__all__ = [
    "DEFAULT_TTL",
    "FencedBackend",
    "Heartbeat",
    "Lease",
    "LeaseHeld",
    "LeaseLost",
    "acquire",
    "claim",
    "generation",
    "is_alive",
]

LOG = logging.getLogger(__name__)

#: Seconds a lease lasts without a heartbeat.
DEFAULT_TTL = 30.0


@dataclasses.dataclass(frozen=True)
class Lease:
    """Who runs a run, until when."""

    flow_uuid: str
    host: str
    pid: int
    token: str
    heartbeat_at: float
    expires_at: float
    #: Start time of the owner process (``/proc/<pid>/stat``), to tell a
    #: reused pid from the owner; empty when unknown.
    proc_start: str = ""

    @property
    def owner(self) -> str:
        return f"{self.host} pid {self.pid}"


#: The run is owned by another live process (exit 69).
LeaseHeld = exceptions.LeaseHeld


class LeaseLost(exceptions.StorageFailure):
    """Another process took this run's lease: this one must stop writing."""


def generation(token: str) -> int:
    """How many times a run was claimed, from a claim's token (0: not a claim)."""
    head = token.split("-", 1)[0]
    return int(head) if head.isdigit() else 0


def _proc_start(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            # Field 22 (starttime) comes after the parenthesised command name.
            return handle.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def _is_dead(holder: Lease, now: float) -> bool:
    if holder.expires_at < now:
        return True
    if holder.host != socket.gethostname():
        return False
    if holder.pid == os.getpid():
        return False
    try:
        os.kill(holder.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, owned by another user
        return False
    return bool(holder.proc_start) and _proc_start(holder.pid) != holder.proc_start


def is_alive(holder: Lease) -> bool:
    """Whether the process holding ``holder`` still runs its run: on this
    host its pid lives and is the same process; elsewhere the lease has not
    expired."""
    return not _is_dead(holder, time.time())


def new_lease(flow_uuid: str, ttl: float = DEFAULT_TTL) -> Lease:
    """A lease on ``flow_uuid`` for this process."""
    now = time.time()
    pid = os.getpid()
    return Lease(
        flow_uuid=flow_uuid,
        host=socket.gethostname(),
        pid=pid,
        token=uuid.uuid4().hex,
        heartbeat_at=now,
        expires_at=now + ttl,
        proc_start=_proc_start(pid),
    )


def acquire(connection: Any, flow_uuid: str, ttl: float = DEFAULT_TTL) -> Lease:
    """Take the lease of ``flow_uuid`` for this process.

    :raises LeaseHeld: a live process holds it.
    """
    lease = new_lease(flow_uuid, ttl)
    for _attempt in range(5):
        if connection.insert_lease(lease):
            return lease
        holder = connection.get_lease(flow_uuid)
        if holder is None:  # released between our insert and our read
            continue
        if not _is_dead(holder, time.time()):
            raise LeaseHeld(holder)
        if connection.replace_lease(holder.token, lease):
            return lease
    holder = connection.get_lease(flow_uuid)
    raise LeaseHeld(holder or lease)


def claim(connection: Any, flow_uuid: str, ttl: float = DEFAULT_TTL) -> Lease:
    """Take the lease of ``flow_uuid`` whoever holds it, one generation on.

    For a conductor that the job queue handed the run to: the previous
    holder, if alive, is a zombie and is fenced off by the new token.
    """

    def successor(holder: Lease | None) -> Lease:
        lease = new_lease(flow_uuid, ttl)
        number = generation(holder.token) + 1 if holder is not None else 1
        return dataclasses.replace(lease, token=f"{number}-{lease.token[:16]}")

    lease: Lease = connection.claim_lease(flow_uuid, successor)
    return lease


class FencedBackend:
    """A backend whose connections write only while ``token`` holds the lease.

    Give it to ``engines.load(..., backend=...)``: every write of the engine
    then checks the lease in the same transaction and raises
    :class:`LeaseLost` once another conductor claimed the run.
    """

    def __init__(self, backend: Any, flow_uuid: str, token: str) -> None:
        self.backend = backend
        self.fence = (flow_uuid, token)

    def get_connection(self) -> base.Connection:
        connection: base.Connection = self.backend.get_connection()
        connection.fence = self.fence
        return connection


class Heartbeat:
    """Renews a lease every ``ttl / 3`` seconds in a daemon thread.

    ``lost`` is set when the lease was taken by another process (this one
    was frozen past its expiry); the owner should then stop writing.
    """

    def __init__(self, connection: Any, lease: Lease, ttl: float = DEFAULT_TTL):
        self._connection = connection
        self.lease = lease
        self._ttl = ttl
        self._stop = threading.Event()
        self.lost = threading.Event()
        self._thread = threading.Thread(
            target=self._beat, name="opsflow-lease", daemon=True
        )

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._stop.set()
        self._thread.join()
        if self.lost.is_set():
            return
        try:
            self._connection.delete_lease(self.lease.flow_uuid, self.lease.token)
        except exceptions.StorageFailure:
            # The store is gone: the lease stays, naming this process, which
            # is about to exit; a resume on this host takes it over at once
            # (elsewhere once it expires).
            LOG.debug("lease of run %s left in place", self.lease.flow_uuid)

    def _beat(self) -> None:
        while not self._stop.wait(self._ttl / 3):
            now = time.time()
            try:
                kept = self._connection.renew_lease(
                    self.lease.flow_uuid, self.lease.token, now, now + self._ttl
                )
            except Exception:  # the store is away for a moment: try again later
                continue
            if not kept:
                self.lost.set()
                return
