"""Whether eventlet (the greenthread executor's pool) can be used here."""

from __future__ import annotations

import importlib.util
import warnings

__all__ = ["EVENTLET_AVAILABLE", "check_for_eventlet", "quiet_eventlet_warning"]

#: The start of the warning eventlet gives on import (futurist imports it).
EVENTLET_WARNING = r"\s*Eventlet is deprecated"


def _installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ImportError:  # a meta-path finder that refuses the name
        return False


#: True when the ``eventlet`` package is installed (``opsflow[eventlet]``).
EVENTLET_AVAILABLE = _installed("eventlet")


def check_for_eventlet(exc: BaseException | None = None) -> None:
    """Raise ``exc`` (a ``RuntimeError`` by default) unless eventlet is there."""
    if not EVENTLET_AVAILABLE:
        raise exc or RuntimeError(
            "eventlet is not installed: pip install 'opsflow[eventlet]'"
        )


def quiet_eventlet_warning() -> None:
    """From now on, ignore eventlet's deprecation warning wherever futurist
    (which imports eventlet when it is installed) is imported, a plugin's
    own import included: it tells an operator nothing about the run."""
    warnings.filterwarnings("ignore", EVENTLET_WARNING)
