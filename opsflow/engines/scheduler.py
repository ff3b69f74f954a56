"""Scheduler: starts the atoms the selector found ready.

Each atom goes to its action by intention: EXECUTE starts ``execute``,
REVERT starts ``revert``, RETRY restarts a controller's subflow. A retry
with a ``delay`` is parked until its time comes; the engine keeps running
other branches meanwhile and wakes it from the WAITING state.
"""

from __future__ import annotations

import concurrent.futures
import heapq
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

from opsflow import exceptions, states
from opsflow.executors.base import EXECUTED, REVERTED, completed
from opsflow.retry import Retry
from opsflow.types.failure import Failure

if TYPE_CHECKING:
    from opsflow.engines.compiler import Node
    from opsflow.engines.runtime import Runtime

__all__ = ["Scheduler"]

Future = concurrent.futures.Future


class Scheduler:
    """Starts atoms; keeps delayed retries until they are due."""

    def __init__(self, runtime: Runtime, default_timeout: float | None = None) -> None:
        self._runtime = runtime
        self._parked: list[tuple[float, int, Node]] = []
        self._default_timeout = default_timeout or None
        #: Execute futures with a deadline: future -> (monotonic deadline, node).
        self._deadlines: dict[Future[tuple[str, Any]], tuple[float, Node]] = {}
        #: Execute futures with a timeout still queued in their pool: the clock
        #: starts when a worker picks them up, not while they wait for one.
        self._queued: dict[Future[tuple[str, Any]], tuple[float, Node]] = {}
        #: Futures that ran in-line and finished after their deadline.
        self._overran: set[Future[tuple[str, Any]]] = set()

    def schedule(self, nodes: Sequence[Node]) -> dict[Future[tuple[str, Any]], Node]:
        """Start each node; returns ``{future: node}`` for what is now under way."""
        runtime = self._runtime
        started: dict[Future[tuple[str, Any]], Node] = {}
        selector = runtime.selector
        if len(nodes) > 1:
            nodes = sorted(nodes, key=_run_order)
        for node in nodes:
            intention = runtime.details[node.index].intention
            # A failure analysed after this atom was found ready may have
            # changed what is to be done with it: check again.
            if intention == states.EXECUTE:
                if not selector.may_execute(node):
                    continue
            elif not selector.may_revert(node):
                continue
            if intention == states.RETRY:
                if not self._restart_subflow(node):
                    continue
                intention = states.EXECUTE
            action = runtime.action_for(node)
            if intention == states.EXECUTE:
                # Read as the task starts: a timeout may be set until then.
                timeout = self.timeout_of(node)
                began = time.monotonic() if timeout else 0.0
                try:
                    future = action.schedule_execution(node)
                except exceptions.StorageFailure:
                    raise  # not the task's failure: its RUNNING was not recorded
                except Exception:
                    future = completed(EXECUTED, Failure())
                if timeout:
                    if future.done():
                        self._deadlines[future] = (began + timeout, node)
                        if time.monotonic() > began + timeout:
                            # An in-line executor ran it to the end, too slowly.
                            self._overran.add(future)
                    else:
                        self._queued[future] = (timeout, node)
            else:
                try:
                    future = action.schedule_reversion(node)
                except exceptions.StorageFailure:
                    raise
                except Exception:
                    future = completed(REVERTED, Failure())
            started[future] = node
        return started

    def _restart_subflow(self, controller: Node) -> bool:
        """Reset the subflow for another attempt; False when the attempt must wait."""
        runtime = self._runtime
        action = runtime.action_for(controller)
        action.change_state(controller, states.RETRYING)
        runtime.reset(runtime.retry_scope(controller))
        detail = runtime.details[controller.index]
        detail.intention = states.EXECUTE
        runtime.storage.save_atom_detail(detail)
        attempt = len(detail.results) + 1
        delay = cast(Retry, controller.atom).delay_before(attempt)
        if delay > 0:
            heapq.heappush(
                self._parked, (time.monotonic() + delay, controller.index, controller)
            )
            return False
        return True

    # -- deadlines ------------------------------------------------------------
    def timeout_of(self, node: Node) -> float | None:
        """Seconds ``node``'s execute may take: its own timeout, else the default."""
        if node.is_retry:
            return None
        return getattr(node.atom, "timeout", None) or self._default_timeout

    def next_deadline_in(self) -> float | None:
        """Seconds until the nearest task deadline, or the next look at queued ones."""
        self._start_clocks()
        bounds = [
            deadline - time.monotonic() for deadline, _ in self._deadlines.values()
        ]
        if self._queued:
            bounds.append(_QUEUED_POLL)
        return max(0.0, min(bounds)) if bounds else None

    def _start_clocks(self) -> None:
        """Start the deadline of queued futures a worker has picked up."""
        if not self._queued:
            return
        now = time.monotonic()
        for future, (timeout, node) in list(self._queued.items()):
            if future.running() or future.done():
                del self._queued[future]
                self._deadlines[future] = (now + timeout, node)

    def finished(self, future: Future[tuple[str, Any]]) -> None:
        """Forget the deadline of a future that completed."""
        if not self._deadlines and not self._queued:
            return
        self._deadlines.pop(future, None)
        self._queued.pop(future, None)
        self._overran.discard(future)

    def expired(self) -> list[tuple[Future[tuple[str, Any]], Node]]:
        """Execute futures past their deadline (their deadlines are dropped)."""
        if not self._deadlines and not self._queued:
            return []  # no task under way has a timeout (the usual case)
        self._start_clocks()
        now = time.monotonic()
        late = [
            (future, node)
            for future, (deadline, node) in self._deadlines.items()
            if deadline <= now and (not future.done() or future in self._overran)
        ]
        for future, _node in late:
            del self._deadlines[future]
            self._overran.discard(future)
        return late

    # -- delayed retries ------------------------------------------------------
    @property
    def has_parked(self) -> bool:
        return bool(self._parked)

    def next_wake_in(self) -> float | None:
        """Seconds until the next parked retry is due (None if none)."""
        if not self._parked:
            return None
        return max(0.0, self._parked[0][0] - time.monotonic())

    def due(self) -> list[Node]:
        """Parked retries whose time has come (removed from the parking)."""
        if not self._parked:
            return []
        now = time.monotonic()
        woken = []
        while self._parked and self._parked[0][0] <= now:
            woken.append(heapq.heappop(self._parked)[2])
        return woken


#: How often (seconds) queued futures with a timeout are checked for a start.
_QUEUED_POLL = 0.02


def _run_order(node: Node) -> tuple[int, int]:
    return (-node.atom.priority, node.index)
