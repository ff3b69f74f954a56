"""A timeout that can be waited on and interrupted early (``Timeout``)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

__all__ = ["Timeout", "convert_to_timeout"]


class Timeout:
    """Wait up to ``value`` seconds, unless :meth:`interrupt` ends it sooner."""

    def __init__(
        self, value: float, event_factory: Callable[[], Any] = threading.Event
    ) -> None:
        if value < 0:
            raise ValueError(
                f"Timeout value must be greater or equal to zero and not '{value}'"
            )
        self._value = value
        self._event = event_factory()

    @property
    def value(self) -> float:
        """The number of seconds a :meth:`wait` lasts at most."""
        return self._value

    def interrupt(self) -> None:
        """End every wait now."""
        self._event.set()

    def is_stopped(self) -> bool:
        """Whether :meth:`interrupt` was called (since the last :meth:`reset`)."""
        return bool(self._event.is_set())

    def wait(self) -> None:
        """Block until interrupted or until the timeout passes."""
        self._event.wait(self._value)

    def reset(self) -> None:
        """Allow waiting (and interrupting) again."""
        self._event.clear()


def convert_to_timeout(
    value: Timeout | float | str | None = None,
    default_value: float | None = None,
    event_factory: Callable[[], Any] = threading.Event,
) -> Timeout:
    """``value`` (seconds, or ``default_value`` for None) as a :class:`Timeout`."""
    if value is None:
        value = default_value
    if isinstance(value, Timeout):
        return value
    if isinstance(value, int | float | str):
        return Timeout(float(value), event_factory=event_factory)
    raise ValueError(f"Invalid timeout literal '{value}'")
