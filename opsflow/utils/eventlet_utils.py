"""Whether eventlet (the greenthread executor's pool) can be used here."""

from __future__ import annotations

import importlib.util

__all__ = ["EVENTLET_AVAILABLE", "check_for_eventlet"]

#: True when the ``eventlet`` package is installed (``opsflow[eventlet]``).
EVENTLET_AVAILABLE = importlib.util.find_spec("eventlet") is not None


def check_for_eventlet(exc: BaseException | None = None) -> None:
    """Raise ``exc`` (a ``RuntimeError`` by default) unless eventlet is there."""
    if not EVENTLET_AVAILABLE:
        raise exc or RuntimeError(
            "eventlet is not installed: pip install 'opsflow[eventlet]'"
        )
