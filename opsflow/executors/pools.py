"""futurist, imported only by the drivers (and waits) that use its pools.

futurist imports eventlet whenever it is installed (the greenthread
driver's extra), which costs a quarter of a second and prints eventlet's
deprecation warning. The serial engine needs neither, so nothing imports
futurist until a pool driver is chosen, and then through :func:`futurist`,
which keeps that warning quiet.

A thread or process pool has no use for eventlet either, so :func:`futurist`
imports futurist with eventlet held back (futurist then sees it as not
installed) unless green threads are asked for or eventlet is already
imported. Its green side is filled in later (:func:`futurist` with
``green=True``, as the greenthread driver asks), or as soon as anything
imports eventlet for real: from then on futurist is as if eventlet had been
there all along.

Import it in the thread that chooses the driver (a driver module does so
when it is loaded; the engine, when it prepares a run on a driver that
leaves futures pending), never first in the thread that runs the engine:
``opsflow-run`` runs the engine in a thread of its own, and a run on the
``process`` driver whose engine thread was the first to import futurist
(and so eventlet) never let that thread be joined.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import sys
import threading
import warnings
from collections.abc import Iterator
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from importlib.abc import Loader

from opsflow.utils.eventlet_utils import EVENTLET_AVAILABLE, quiet_eventlet_warning

__all__ = ["futurist", "waiters"]

#: Held while futurist is imported or its green side filled in.
_LOCK = threading.RLock()
#: True while futurist is loaded without its green side.
_held_back = False


def futurist(green: bool = False) -> ModuleType:
    """The ``futurist`` package (imported on the first call).

    With ``green``, its green thread executors work (eventlet is imported
    if it has not been yet, and :class:`ImportError` raised if it cannot be).
    """
    with _LOCK:
        if "futurist" not in sys.modules:
            _import_futurist(hold_back=not green)
        if green and (_held_back or "eventlet" not in sys.modules):
            _import_eventlet()
        package = sys.modules["futurist"]
    return package


def waiters() -> ModuleType:
    """``futurist.waiters``, which waits on thread and green futures alike."""
    futurist()
    with _LOCK:
        if "futurist.waiters" not in sys.modules:
            with _eventlet_refused(_held_back), _quiet():
                importlib.import_module("futurist.waiters")
        return sys.modules["futurist.waiters"]


def _import_futurist(hold_back: bool) -> None:
    global _held_back
    hold_back = hold_back and EVENTLET_AVAILABLE and "eventlet" not in sys.modules
    with _eventlet_refused(hold_back), _quiet():
        importlib.import_module("futurist")
    if hold_back:
        _held_back = True
        sys.meta_path.insert(0, _EventletWatch())


def _import_eventlet() -> None:
    """Import eventlet (ImportError when it cannot be); a futurist loaded
    without it is filled in (by :class:`_EventletWatch` as it is imported)."""
    with _quiet():
        importlib.import_module("eventlet")
    _fill_in_green()  # in case eventlet was imported before the watch was set


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    with warnings.catch_warnings():
        quiet_eventlet_warning()
        yield


@contextlib.contextmanager
def _eventlet_refused(refuse: bool) -> Iterator[None]:
    """While in the block, this thread cannot import eventlet (other
    threads can): futurist's ``import eventlet`` fails as if it were absent."""
    if not refuse:
        yield
        return
    refusal = _RefuseEventlet(threading.get_ident())
    sys.meta_path.insert(0, refusal)
    try:
        yield
    finally:
        sys.meta_path.remove(refusal)


def _is_eventlet(name: str) -> bool:
    return name == "eventlet" or name.startswith("eventlet.")


class _RefuseEventlet:
    """A meta-path finder refusing eventlet to one thread, as if not installed."""

    def __init__(self, thread: int) -> None:
        self._thread = thread

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if _is_eventlet(name) and threading.get_ident() == self._thread:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


class _EventletWatch:
    """A meta-path finder that, once eventlet is imported for real (by
    anyone), fills in the green side of a futurist loaded without it."""

    def find_spec(
        self, name: str, path: Any = None, target: Any = None
    ) -> ModuleSpec | None:
        if name != "eventlet":
            return None
        with contextlib.suppress(ValueError):  # find the real one, only once
            sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        spec.loader = cast("Loader", _ThenFillIn(spec.loader))
        return spec


class _ThenFillIn:
    """eventlet's own loader, then :func:`_fill_in_green` once it is loaded."""

    def __init__(self, loader: Any) -> None:
        self._loader = loader

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        module: ModuleType | None = self._loader.create_module(spec)
        return module

    def exec_module(self, module: ModuleType) -> None:
        if module.__spec__ is not None:  # as if it had loaded it alone
            module.__spec__.loader = self._loader
        module.__loader__ = self._loader
        self._loader.exec_module(module)  # its warning is the importer's to see
        _fill_in_green()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)


def _fill_in_green() -> None:
    """What futurist does at import when eventlet is there, done now.

    futurist keeps its green side in ``_utils.EVENTLET_AVAILABLE``,
    ``_green`` (read at every use) and two names bound at import:
    ``GreenThreadPoolExecutor.threading`` and ``waiters.greenthreading``.
    """
    global _held_back
    with _LOCK:
        if not _held_back:
            return
        _held_back = False
        from eventlet.green import threading as green_threading

        utils: Any = sys.modules["futurist._utils"]
        utils.EVENTLET_AVAILABLE = True
        utils._eventlet = sys.modules["eventlet"]
        with _quiet():
            green = importlib.reload(sys.modules["futurist._green"])
        sys.modules["futurist"].GreenThreadPoolExecutor.threading = green.threading
        waiting: Any = sys.modules.get("futurist.waiters")
        if waiting is not None:
            waiting.greenthreading = green_threading
