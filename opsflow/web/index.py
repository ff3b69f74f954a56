"""The runs of the store, kept in memory and brought up to date per request.

Reading every run of a large store (10,000 runs) takes longer than a page
may. The store lists runs latest ``updated_at`` first, and every change to
a run's state or record stamps its ``updated_at`` with the writer's clock,
so a run that changed since the last read is stamped after that read
(less :data:`CLOCK_MARGIN`, for writers whose clocks run behind or whose
transactions commit late): :meth:`RunIndex.runs` reads the head of the
listing, more while it is all that recent, and keeps the rest. Runs
deleted by ``--purge`` leave the index at the next full reread, every
``full_every`` seconds.
"""

from __future__ import annotations

import datetime
import threading
import time

from opsflow.persistence import base, models
from opsflow.runs.queries import flow_name_of

__all__ = ["CLOCK_MARGIN", "RunIndex"]

#: Writers' clocks may be this far behind this one's (or commit this late).
CLOCK_MARGIN = datetime.timedelta(seconds=5)
_FIRST_READ = 64

Run = tuple[models.FlowDetail, str]


def _aware(moment: datetime.datetime) -> datetime.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class RunIndex:
    """Every run of one store (flow details without atoms), kept fresh."""

    def __init__(self, connection: base.Connection, full_every: float = 60.0) -> None:
        self._connection = connection
        self._full_every = full_every
        self._lock = threading.Lock()
        self._runs: dict[str, Run] = {}
        #: Every run stamped before this is as the store holds it.
        self._known_until: datetime.datetime | None = None
        self._read_all_at = 0.0
        self._changed = True
        self._ordered: list[Run] = []
        self._flows: list[str] = []
        #: Counts the changes seen: a cache of what was built from the runs
        #: is good while it is the same.
        self.version = 0

    def runs(self) -> list[Run]:
        """``(run, logbook uuid)`` pairs of every run as the store holds them
        now, newest (``created_at``) first. The list is shared: read it only."""
        with self._lock:
            if (
                self._known_until is None
                or time.monotonic() - self._read_all_at >= self._full_every
            ):
                self._read_all()
            else:
                self._read_news()
            if self._changed:
                self._ordered = sorted(
                    self._runs.values(),
                    key=lambda run: _aware(run[0].created_at),
                    reverse=True,
                )
                self._flows = sorted({flow_name_of(fd) for fd, _ in self._ordered})
                self.version += 1
                self._changed = False
            return self._ordered

    def flows(self) -> list[str]:
        """The flows that have runs, as of the last :meth:`runs`."""
        return self._flows

    def _read_all(self) -> None:
        reading = _now()
        listed = self._connection.list_flow_details()
        runs = {fd.uuid: (fd, book) for fd, book in listed}
        if _summary(runs) != _summary(self._runs):
            self._changed = True
        self._runs = runs
        self._known_until = reading - CLOCK_MARGIN
        self._read_all_at = time.monotonic()

    def _read_news(self) -> None:
        known = self._known_until
        assert known is not None
        reading = _now()
        limit = _FIRST_READ
        while True:
            listed = self._connection.list_flow_details(limit=limit)
            for fd, book in listed:
                held = self._runs.get(fd.uuid)
                if held is None or _stamp(held[0]) != _stamp(fd):
                    self._changed = True
                self._runs[fd.uuid] = (fd, book)
            oldest = _aware(listed[-1][0].updated_at) if listed else None
            if len(listed) < limit or (oldest is not None and oldest < known):
                break
            limit *= 4
        self._known_until = reading - CLOCK_MARGIN


def _stamp(fd: models.FlowDetail) -> tuple[object, ...]:
    return (fd.updated_at, fd.state)


def _summary(runs: dict[str, Run]) -> dict[str, tuple[object, ...]]:
    return {uuid: _stamp(fd) for uuid, (fd, _book) in runs.items()}
