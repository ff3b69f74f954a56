"""The runs of the store, kept in memory and brought up to date per request.

Reading every run of a large store (10,000 runs) takes longer than a page
may. The store lists runs latest ``updated_at`` first, and every change to
a run's state or record moves its ``updated_at`` on, so only the head of
that listing can hold news: :meth:`RunIndex.runs` reads a few rows, more
while every row is new, and stops at the first one older than what it
already knew (less a margin for writers whose clocks run behind). Runs
deleted by ``--purge`` leave the index at the next full reread, every
``full_every`` seconds.
"""

from __future__ import annotations

import datetime
import threading
import time

from opsflow.persistence import base, models

__all__ = ["RunIndex"]

#: Writers' clocks may be this far behind this one's.
CLOCK_MARGIN = datetime.timedelta(seconds=5)
_FIRST_READ = 64


def _aware(moment: datetime.datetime) -> datetime.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)


class RunIndex:
    """Every run of one store (flow details without atoms), kept fresh."""

    def __init__(self, connection: base.Connection, full_every: float = 60.0) -> None:
        self._connection = connection
        self._full_every = full_every
        self._lock = threading.Lock()
        self._runs: dict[str, tuple[models.FlowDetail, str]] = {}
        self._newest: datetime.datetime | None = None
        self._read_all_at = 0.0

    def runs(self) -> list[tuple[models.FlowDetail, str]]:
        """``(run, logbook uuid)`` pairs of every run, as the store holds them now."""
        with self._lock:
            if time.monotonic() - self._read_all_at >= self._full_every:
                self._read_all()
            else:
                self._read_news()
            return list(self._runs.values())

    def _read_all(self) -> None:
        listed = self._connection.list_flow_details()
        self._runs = {fd.uuid: (fd, book) for fd, book in listed}
        self._newest = _aware(listed[0][0].updated_at) if listed else None
        self._read_all_at = time.monotonic()

    def _read_news(self) -> None:
        known = self._newest
        if known is None:
            self._read_all()
            return
        limit = _FIRST_READ
        while True:
            listed = self._connection.list_flow_details(limit=limit)
            for fd, book in listed:
                self._runs[fd.uuid] = (fd, book)
            if listed:
                self._newest = max(known, _aware(listed[0][0].updated_at))
            oldest = _aware(listed[-1][0].updated_at) if listed else None
            if len(listed) < limit or (oldest and oldest < known - CLOCK_MARGIN):
                return
            limit *= 4
