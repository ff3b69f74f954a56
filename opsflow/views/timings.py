"""Step timings: what ``opsflow-run`` records, and ETAs from past runs.

Each run records, in every step's atom meta under ``timing``, when the step
first started (``started_at``, epoch seconds), how long it ran (``run``,
all attempts) and reverted (``revert``), how many times it ran
(``attempts``) and when its revert ended (``reverted_at``, which orders the
revert path of a picture). The ETA of a new run of the same flow is the
median of each step's duration over the last :data:`HISTORY` finished runs
of that flow; a step never seen before counts as the median of the others.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["HISTORY", "META_KEY", "Estimates", "estimates_from", "timing_of"]

#: Atom meta key of a step's timing.
META_KEY = "timing"
#: How many past runs of a flow the estimates look at.
HISTORY = 20


def timing_of(detail: Any) -> dict[str, Any]:
    """A stored step's timing (empty when the run recorded none).

    A run that only had the ``timing`` listener attached has ``duration``:
    that counts as its run time.
    """
    recorded = detail.meta.get(META_KEY)
    if isinstance(recorded, Mapping):
        return dict(recorded)
    duration = detail.meta.get("duration")
    return {"run": float(duration)} if duration else {}


@dataclass(frozen=True)
class Estimates:
    """Median seconds per step, to run it once and to revert it."""

    run: dict[str, float] = field(default_factory=dict)
    revert: dict[str, float] = field(default_factory=dict)
    runs_seen: int = 0

    def run_time(self, name: str) -> float | None:
        return _with_default(self.run, name)

    def revert_time(self, name: str) -> float | None:
        return _with_default(self.revert, name)

    def __bool__(self) -> bool:
        return bool(self.run or self.revert)


def _with_default(medians: Mapping[str, float], name: str) -> float | None:
    if name in medians:
        return medians[name]
    if medians:
        return statistics.median(medians.values())
    return None


def estimates_from(flow_details: Iterable[Any]) -> Estimates:
    """Medians over ``flow_details`` (past runs of one flow, newest first)."""
    run: dict[str, list[float]] = {}
    revert: dict[str, list[float]] = {}
    seen = 0
    for flow_detail in flow_details:
        if seen >= HISTORY:
            break
        seen += 1
        for detail in flow_detail:
            timing = timing_of(detail)
            attempts = int(timing.get("attempts") or 1)
            if timing.get("run") and str(detail.state) != "PENDING":
                run.setdefault(detail.name, []).append(float(timing["run"]) / attempts)
            if timing.get("revert"):
                revert.setdefault(detail.name, []).append(float(timing["revert"]))
    return Estimates(
        run={name: statistics.median(values) for name, values in run.items()},
        revert={name: statistics.median(values) for name, values in revert.items()},
        runs_seen=seen,
    )
