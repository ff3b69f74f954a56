"""Listeners that measure how long tasks and flows take.

``DurationListener`` stores ``duration`` (float seconds) in each task's and
the flow's metadata; ``PrintingDurationListener`` also prints it;
``EventTimeListener`` stores a ``<STATE>-timestamp`` for every state.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from opsflow import states
from opsflow.listeners import base

__all__ = ["DurationListener", "EventTimeListener", "PrintingDurationListener"]

LOG = logging.getLogger(__name__)

_STARTS = (states.RUNNING, states.REVERTING)
_ENDS = (
    states.SUCCESS,
    states.FAILURE,
    states.REVERTED,
    states.REVERT_FAILURE,
    states.SUSPENDED,
)


class DurationListener(base.Listener):
    """Records how long each task and the whole flow took, in their metadata."""

    def __init__(self, engine: Any) -> None:
        super().__init__(
            engine,
            task_listen_for=_STARTS + _ENDS,
            flow_listen_for=_STARTS + _ENDS,
            retry_listen_for=(),
        )
        self._started: dict[tuple[str, str], float] = {}

    def deregister(self) -> None:
        super().deregister()
        self._started.clear()

    def _record_ending(self, elapsed: float, kind: str, name: str, state: str) -> None:
        _store(self._engine.storage, kind, name, {"duration": elapsed})

    def _receiver(self, kind: str, name: str, state: str) -> None:
        key = (kind, name)
        if state in _STARTS:
            self._started[key] = time.perf_counter()
        elif state in _ENDS and key in self._started:
            elapsed = time.perf_counter() - self._started.pop(key)
            self._record_ending(elapsed, kind, name, state)

    def _task_receiver(self, state: str, details: dict[str, Any]) -> None:
        self._receiver("task", details["task_name"], state)

    def _flow_receiver(self, state: str, details: dict[str, Any]) -> None:
        self._receiver("flow", details["flow_name"], state)


class PrintingDurationListener(DurationListener):
    """A ``DurationListener`` that also prints each duration."""

    def __init__(self, engine: Any, printer: Any = None) -> None:
        super().__init__(engine)
        self._printer = printer or print

    def _record_ending(self, elapsed: float, kind: str, name: str, state: str) -> None:
        super()._record_ending(elapsed, kind, name, state)
        self._printer(f"It took {elapsed:0.3f} seconds for {kind} '{name}' to finish.")


class EventTimeListener(base.Listener):
    """Stores the wall-clock time of each state change as ``<STATE>-timestamp``."""

    def _task_receiver(self, state: str, details: dict[str, Any]) -> None:
        update = {f"{state}-timestamp": time.time()}
        _store(self._engine.storage, "task", details["task_name"], update)

    def _retry_receiver(self, state: str, details: dict[str, Any]) -> None:
        update = {f"{state}-timestamp": time.time()}
        _store(self._engine.storage, "retry", details["retry_name"], update)

    def _flow_receiver(self, state: str, details: dict[str, Any]) -> None:
        update = {f"{state}-timestamp": time.time()}
        _store(self._engine.storage, "flow", details["flow_name"], update)


def _store(storage: Any, kind: str, name: str, update: dict[str, float]) -> None:
    """Add ``update`` to the metadata of the flow or atom; a failure is only logged."""
    try:
        if kind == "flow":
            storage.update_flow_metadata(update)
        else:
            storage.update_atom_metadata(name, update)
    except Exception:
        LOG.warning("Failed storing %s for %s %s", update, kind, name, exc_info=True)
