"""``Notifier``: an event-to-callbacks registry.

Engines announce flow and atom state changes through notifiers; listeners
(``opsflow.listeners``) register on them. Callbacks are called as
``callback(event_type, *args, details=details, **kwargs)`` so that both
``def cb(state, details)`` and TaskFlow-style callbacks work. A callback that
raises is logged and never stops the engine.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable, Iterator
from typing import Any, Protocol

__all__ = ["Listener", "Notifier", "RestrictedNotifier"]

LOG = logging.getLogger(__name__)


class Callback(Protocol):
    def __call__(self, event_type: Hashable, *args: Any, **kwargs: Any) -> Any: ...


DetailsFilter = Callable[[dict[str, Any]], bool]


class Listener:
    """One registered callback with its extra arguments and optional filter."""

    __slots__ = ("callback", "args", "kwargs", "details_filter")

    def __init__(
        self,
        callback: Callback,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
        details_filter: DetailsFilter | None = None,
    ) -> None:
        self.callback = callback
        self.args = tuple(args)
        self.kwargs = dict(kwargs or {})
        self.details_filter = details_filter

    def __call__(self, event_type: Hashable, details: dict[str, Any]) -> None:
        if self.details_filter is not None and not self.details_filter(details):
            return
        self.callback(event_type, *self.args, details=details, **self.kwargs)

    def is_equivalent(
        self, callback: Callback, details_filter: DetailsFilter | None = None
    ) -> bool:
        return self.callback == callback and self.details_filter == details_filter


class Notifier:
    """Calls the callbacks registered for an event type (or for ``ANY``)."""

    ANY = "*"
    #: Keyword names a callback's ``kwargs`` may not use: the notifier passes them.
    RESERVED_KEYS = ("details",)

    def __init__(self) -> None:
        self._topics: dict[Any, list[Listener]] = {}

    def __len__(self) -> int:
        return sum(len(listeners) for listeners in self._topics.values())

    def is_registered(
        self,
        event_type: Hashable,
        callback: Callback,
        details_filter: DetailsFilter | None = None,
    ) -> bool:
        """Whether ``callback`` (with that filter) listens to ``event_type``."""
        return any(
            listener.is_equivalent(callback, details_filter)
            for listener in self._topics.get(event_type, ())
        )

    def can_be_registered(self, event_type: Hashable) -> bool:
        """Whether callbacks may listen to ``event_type`` (any hashable may)."""
        return True

    def can_trigger_notification(self, event_type: Hashable) -> bool:
        """Whether ``event_type`` may be notified (``ANY`` itself may not)."""
        return bool(event_type != self.ANY)

    def has_listeners(self, event_type: Hashable) -> bool:
        """Whether a notify for ``event_type`` would reach anybody."""
        # Asked for every state change of every atom, mostly of a notifier
        # nobody listens to; a topic is dropped with its last listener.
        topics = self._topics
        return bool(topics) and (event_type in topics or self.ANY in topics)

    def register(
        self,
        event_type: Hashable,
        callback: Callback,
        args: tuple[Any, ...] | None = None,
        kwargs: dict[str, Any] | None = None,
        details_filter: DetailsFilter | None = None,
    ) -> None:
        """Call ``callback`` on every notify of ``event_type`` (``ANY``: of all)."""
        if not callable(callback):
            raise ValueError("Event callback must be callable")
        if details_filter is not None and not callable(details_filter):
            raise ValueError("Details filter must be callable")
        if not self.can_be_registered(event_type):
            raise ValueError(f"Disallowed event type '{event_type}'")
        for key in self.RESERVED_KEYS:
            if kwargs and key in kwargs:
                raise KeyError(f"Reserved key '{key}' not allowed in kwargs")
        if self.is_registered(event_type, callback, details_filter):
            raise ValueError(f"Event callback already registered for '{event_type}'")
        listener = Listener(callback, args or (), kwargs, details_filter)
        self._topics.setdefault(event_type, []).append(listener)

    def deregister(
        self,
        event_type: Hashable,
        callback: Callback,
        details_filter: DetailsFilter | None = None,
    ) -> bool:
        """Stop calling ``callback`` for ``event_type``; whether it was registered."""
        listeners = self._topics.get(event_type, [])
        for index, listener in enumerate(listeners):
            if listener.is_equivalent(callback, details_filter):
                del listeners[index]
                if not listeners:
                    del self._topics[event_type]
                return True
        return False

    def deregister_event(self, event_type: Hashable) -> int:
        """Drop every callback of ``event_type``; how many there were."""
        return len(self._topics.pop(event_type, []))

    def notify(self, event_type: Hashable, details: dict[str, Any] | None) -> None:
        """Call the callbacks of ``ANY``, then those of ``event_type``.

        Each callback gets its own shallow copy of ``details``, so one that
        changes them does not change what the next one sees.
        """
        if not self.can_trigger_notification(event_type):
            LOG.debug(
                "Event type '%s' is not allowed to trigger notifications", event_type
            )
            return
        listeners = self._topics.get(event_type, [])
        any_listeners = self._topics.get(self.ANY, [])
        if not listeners and not any_listeners:
            return
        for listener in (*any_listeners, *listeners):
            try:
                listener(event_type, dict(details) if details else {})
            except Exception:
                LOG.warning(
                    "Failure calling listener %s for event '%s'",
                    listener.callback,
                    event_type,
                    exc_info=True,
                )

    def copy(self) -> Notifier:
        """A notifier with the same registrations."""
        clone = type(self).__new__(type(self))
        clone.__dict__.update(self.__dict__)
        clone._topics = {event: list(ls) for event, ls in self._topics.items()}
        return clone

    def listeners_iter(self) -> Iterator[tuple[Any, list[Listener]]]:
        """``(event_type, listeners)`` pairs."""
        yield from self._topics.items()

    def reset(self) -> None:
        """Forget every registration."""
        self._topics.clear()


class RestrictedNotifier(Notifier):
    """A notifier that only accepts a fixed set of event types (plus ``ANY``)."""

    def __init__(self, watchable_events: set[Any], allow_any: bool = True) -> None:
        super().__init__()
        self._watchable_events = frozenset(watchable_events)
        self._allow_any = allow_any

    def events_iter(self) -> Iterator[Any]:
        yield from self._watchable_events

    def can_be_registered(self, event_type: Hashable) -> bool:
        return event_type in self._watchable_events or (
            event_type == self.ANY and self._allow_any
        )
