"""The run lifecycle as a library: start a run, take one over, ask about runs.

A *run* is one execution of a flow, recorded in the run store (one flow
detail): ``opsflow-run``, ``opsflow-run --submit``, the jobboards,
``opsflow-conductor`` and the web view all go through this package, and
present what it gives.

* :mod:`~opsflow.runs.source`: :class:`FlowSource`, a flow looked up once;
* :mod:`~opsflow.runs.record`: :class:`RunInputs` and :class:`RunRecord`,
  what a run is given and what it keeps to be taken over;
* :mod:`~opsflow.runs.options`: :class:`EngineOptions`, with one
  precedence rule (flag > recorded run > opsflow.conf > default);
* :mod:`~opsflow.runs.service`: :class:`RunService`, ``prepare`` and
  ``start`` a fresh run, ``inspect`` and ``take_over`` a recorded one;
* :mod:`~opsflow.runs.store`: opening the run store, finding a run;
* :mod:`~opsflow.runs.queries`: history, interrupted runs, estimates, purge;
* :mod:`~opsflow.runs.report`: a run as data, and its JSON shapes.
"""

from opsflow.runs.options import EngineOptions
from opsflow.runs.record import RunInputs, RunRecord
from opsflow.runs.service import PreparedRun, RunService, StoredRun
from opsflow.runs.source import FlowSource

__all__ = [
    "EngineOptions",
    "FlowSource",
    "PreparedRun",
    "RunInputs",
    "RunRecord",
    "RunService",
    "StoredRun",
]
