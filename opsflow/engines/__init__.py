"""Engines: run flows.

From ``engine.run()`` to ``task.execute()``:

1. ``engine.run()`` drains ``engine.run_iter()`` (``engines/engine.py``);
2. ``run_iter`` compiles, prepares and validates, then drives the builder's
   machine (``engines/builder.py``): RESUMING, SCHEDULING, WAITING,
   ANALYZING ... GAME_OVER;
3. the SCHEDULING reaction asks the scheduler (``engines/scheduler.py``) to
   start what the selector (``engines/selector.py``) found ready;
4. the scheduler calls the atom's action (``engines/actions.py``), which
   records RUNNING and fetches the arguments;
5. the action hands the executor driver a ``TaskCall``
   (``executors/base.py``); the serial engine's driver runs it in line;
6. ``run_task`` calls ``task.execute(**arguments)``.

The ANALYZING reaction hands each finished future to the completer
(``engines/completer.py``), which records the outcome and, on failure,
decides what to revert or retry.
"""

from __future__ import annotations

from opsflow.engines.engine import (
    ActionEngine,
    ParallelActionEngine,
    SerialActionEngine,
)
from opsflow.engines.helpers import (
    flow_from_detail,
    load,
    load_from_detail,
    load_from_factory,
    run,
    save_factory_details,
)

__all__ = [
    "ActionEngine",
    "ParallelActionEngine",
    "SerialActionEngine",
    "flow_from_detail",
    "load",
    "load_from_detail",
    "load_from_factory",
    "run",
    "save_factory_details",
]
