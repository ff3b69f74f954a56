"""futurist, imported only by the drivers (and waits) that use its pools.

futurist imports eventlet whenever it is installed (the greenthread
driver's extra), which costs a quarter of a second and prints eventlet's
deprecation warning. The serial engine needs neither, so nothing imports
futurist until a pool driver is chosen, and then through :func:`futurist`,
which keeps that warning quiet.

Import it in the thread that chooses the driver (a driver module does so
when it is loaded; the engine, when it prepares a run on a driver that
leaves futures pending), never first in the thread that runs the engine:
``opsflow-run`` runs the engine in a thread of its own, and a run on the
``process`` driver whose engine thread was the first to import futurist
(and so eventlet) never let that thread be joined.
"""

from __future__ import annotations

import warnings
from types import ModuleType

from opsflow.utils.eventlet_utils import quiet_eventlet_warning

__all__ = ["futurist", "waiters"]


def futurist() -> ModuleType:
    """The ``futurist`` package (imported on the first call)."""
    with warnings.catch_warnings():
        quiet_eventlet_warning()
        import futurist as package

    return package


def waiters() -> ModuleType:
    """``futurist.waiters``, which waits on thread and green futures alike."""
    futurist()
    from futurist import waiters as module

    return module
