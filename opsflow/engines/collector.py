"""The cyclic garbage collector around a run: what the run keeps from start
to end is not rescanned while it runs.

A run of many atoms builds a few objects per atom (the compiled graph, the
atom records) and keeps them until the end. Left to the collector's
generations, each is scanned once as young, once as middle-aged and again in
the full collection their arrival triggers: at 100,000 atoms that is about a
second of collector time inside the run, most of it cache misses. Instead:

* while the per-atom objects are built, the collector is paused (they are
  long-lived and form no garbage cycles; left on, the collector would rescan
  every live object each time the heap grows by a quarter);
* for the duration of a run, the objects alive when it started, and those
  built while paused during it, are moved into the collector's permanent
  generation (:func:`gc.freeze`), which collections skip. Everything made
  otherwise during the run is collected as usual, and when the run ends
  (whichever way) every frozen object moves back into the oldest
  generation: nothing is kept longer than the run.

Only the collector's schedule changes: reference counting frees what it
frees, and cyclic garbage that already existed when the run started is
collected after the run instead of during it. When something else has
frozen objects (a pre-fork server does, to keep pages shared with its
children) or the collector is disabled, the heap is left alone: its owner's
objects stay where it put them.
"""

from __future__ import annotations

import contextlib
import gc
import os
import threading
from collections.abc import Iterator

__all__ = ["frozen_for_run", "paused"]

#: Whether a run holds a freeze this module made. Only the run that froze
#: the heap thaws it, when it ends: runs that overlap it (nested, or in other
#: threads) run inside it but do not extend it, so in a service whose runs
#: overlap without end a freeze still never outlives the run that made it
#: (held from one run to the next, it would keep every cyclic garbage that
#: later runs froze, forever).
_run_holds_freeze = False
_lock = threading.Lock()


@contextlib.contextmanager
def paused() -> Iterator[None]:
    """Hold off the collector while building per-atom records; inside a run
    that froze the heap, what was built joins the frozen objects."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            with _lock:  # a run ending in another thread thaws under it
                if _run_holds_freeze:
                    gc.freeze()
            gc.enable()


@contextlib.contextmanager
def frozen_for_run() -> Iterator[None]:
    """Keep what is alive now out of the collector's scans until the block ends."""
    with _lock:
        joined = _join_freeze()
    try:
        yield
    finally:
        if joined:
            with _lock:
                _leave_freeze()


def _join_freeze() -> bool:
    """Freeze the heap for this run unless another run or the program did."""
    global _run_holds_freeze
    if _run_holds_freeze or not gc.isenabled() or gc.get_freeze_count():
        return False
    gc.freeze()
    _run_holds_freeze = True
    return True


def _leave_freeze() -> None:
    global _run_holds_freeze
    _run_holds_freeze = False
    gc.unfreeze()


def _forget_runs_in_child() -> None:
    # A process forked during a run (a worker of the process executor) has
    # none of the parent's runs in it: what it inherited frozen stays frozen,
    # as for any fork of a frozen heap, and its own runs leave it alone.
    global _run_holds_freeze, _lock
    _run_holds_freeze = False
    _lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_runs_in_child)
