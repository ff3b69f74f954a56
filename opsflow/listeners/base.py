"""``Listener``: the base of listeners, registering on an engine's notifiers."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from types import TracebackType
from typing import Any

from opsflow import states
from opsflow.task import EVENT_UPDATE_PROGRESS
from opsflow.types.failure import Failure
from opsflow.types.notifier import Notifier

__all__ = ["DEFAULT_LISTEN_FOR", "Listener", "DumpingListener"]

#: Listen to every state change.
DEFAULT_LISTEN_FOR = (Notifier.ANY,)

#: States after which an atom's ``result`` is worth showing.
FINISH_STATES = (states.FAILURE, states.SUCCESS, states.REVERTED, states.REVERT_FAILURE)


def _is_task(details: dict[str, Any]) -> bool:
    return "task_name" in details


def _is_retry(details: dict[str, Any]) -> bool:
    return "retry_name" in details


class Listener:
    """Registers ``_flow_receiver``/``_task_receiver``/``_retry_receiver`` on an engine.

    Subclasses override the receivers; each is called as
    ``receiver(state, details)``. Progress events are not state changes and
    reach a listener only when it asks for ``update_progress`` by name.
    """

    def __init__(
        self,
        engine: Any,
        task_listen_for: Iterable[str] = DEFAULT_LISTEN_FOR,
        flow_listen_for: Iterable[str] = DEFAULT_LISTEN_FOR,
        retry_listen_for: Iterable[str] = DEFAULT_LISTEN_FOR,
    ) -> None:
        self._engine = engine
        self._listen_for = {
            "task": tuple(task_listen_for),
            "flow": tuple(flow_listen_for),
            "retry": tuple(retry_listen_for),
        }
        self._registered = False

    def _flow_receiver(self, state: str, details: dict[str, Any]) -> None:
        """Called on each flow state change."""

    def _task_receiver(self, state: str, details: dict[str, Any]) -> None:
        """Called on each task state change."""

    def _retry_receiver(self, state: str, details: dict[str, Any]) -> None:
        """Called on each retry controller state change."""

    def _on_flow(self, state: str, details: dict[str, Any]) -> None:
        self._flow_receiver(state, details)

    def _on_task(self, state: str, details: dict[str, Any]) -> None:
        if (
            state != EVENT_UPDATE_PROGRESS
            or EVENT_UPDATE_PROGRESS in self._listen_for["task"]
        ):
            self._task_receiver(state, details)

    def _on_retry(self, state: str, details: dict[str, Any]) -> None:
        self._retry_receiver(state, details)

    def _bindings(self) -> list[tuple[Notifier, str, Any, Any]]:
        engine = self._engine
        return [
            *(
                (engine.notifier, s, self._on_flow, None)
                for s in self._listen_for["flow"]
            ),
            *(
                (engine.atom_notifier, s, self._on_task, _is_task)
                for s in self._listen_for["task"]
            ),
            *(
                (engine.atom_notifier, s, self._on_retry, _is_retry)
                for s in self._listen_for["retry"]
            ),
        ]

    def register(self) -> None:
        """Start listening."""
        if self._registered:
            return
        for notifier, state, callback, matcher in self._bindings():
            if not notifier.is_registered(state, callback, details_filter=matcher):
                notifier.register(state, callback, details_filter=matcher)
        self._registered = True

    def deregister(self) -> None:
        """Stop listening."""
        if not self._registered:
            return
        for notifier, state, callback, matcher in self._bindings():
            notifier.deregister(state, callback, details_filter=matcher)
        self._registered = False

    def __enter__(self) -> Listener:
        self.register()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.deregister()
        except Exception:
            logging.getLogger(__name__).warning(
                "Failed deregistering listener %s", self, exc_info=True
            )


class DumpingListener(Listener):
    """A listener that writes one line per state change through ``_dump``."""

    def _dump(self, message: str, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError

    def _flow_receiver(self, state: str, details: dict[str, Any]) -> None:
        self._dump(
            "Flow '%s' (%s) has moved into state '%s' from state '%s'",
            details["flow_name"],
            details["flow_uuid"],
            state,
            details["old_state"],
        )

    def _task_receiver(self, state: str, details: dict[str, Any]) -> None:
        result = details.get("result")
        if state in FINISH_STATES:
            exc_info = result.exc_info if isinstance(result, Failure) else None
            # A failure's live exception goes with it, so that its traceback
            # is written too.
            self._dump(
                "Task '%s' (%s) of flow '%s' has moved into state '%s' from state "
                "'%s' with result '%s' (failure=%s)",
                details["task_name"],
                details["task_uuid"],
                _flow_name(self._engine),
                state,
                details["old_state"],
                result,
                isinstance(result, Failure),
                exc_info=exc_info,
            )
        else:
            self._dump(
                "Task '%s' (%s) of flow '%s' has moved into state '%s' from state '%s'",
                details["task_name"],
                details["task_uuid"],
                _flow_name(self._engine),
                state,
                details.get("old_state"),
            )


def _flow_name(engine: Any) -> str:
    """The name of the flow ``engine`` runs, as its run records it."""
    storage = getattr(engine, "storage", None)
    name = getattr(storage, "flow_name", None)
    return str(name) if name else type(engine).__name__
