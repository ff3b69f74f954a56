"""Shared helpers for the engine tests: a thread-safe event recorder and tasks.

Every task here records what the engine asked of it (``execute``/``revert``
start and end, with monotonic timestamps) into a :class:`Recorder`, so a test
can assert on order and timing without relying on whole-test wall time.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from typing import Any

from opsflow import task


class Boom(Exception):
    """What a failing ``execute`` raises."""


class RevertBoom(Exception):
    """What a failing ``revert`` raises."""


@dataclasses.dataclass(frozen=True)
class Event:
    kind: str  # "execute", "executed", "revert", "reverted"
    name: str
    at: float
    info: dict


class Recorder:
    """Collects events from tasks running on any thread, in arrival order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.events: list[Event] = []

    def add(self, kind: str, name: str, **info: Any) -> None:
        with self._lock:
            self.events.append(Event(kind, name, time.monotonic(), info))

    def names(self, kind: str) -> list[str]:
        return [e.name for e in self.events if e.kind == kind]

    def count(self, kind: str, name: str) -> int:
        return self.names(kind).count(name)

    def find(self, kind: str, name: str) -> list[Event]:
        return [e for e in self.events if e.kind == kind and e.name == name]

    def index(self, kind: str, name: str) -> int:
        """Position of the first ``kind`` event of ``name`` in the event log."""
        for i, e in enumerate(self.events):
            if e.kind == kind and e.name == name:
                return i
        raise AssertionError(f"no {kind!r} event for {name!r} in {self.events}")

    def assert_only_executed_tasks_were_reverted(self) -> None:
        executed = set(self.names("execute"))
        reverted = set(self.names("revert"))
        assert reverted <= executed, f"reverted without running: {reverted - executed}"


class Step(task.Task):
    """A task that records its calls.

    ``fail=True`` makes every execute raise :class:`Boom`; ``fail_first=n``
    makes only the first ``n`` executions raise. ``revert_fail=True`` makes
    revert raise :class:`RevertBoom`. ``sleep``/``revert_sleep`` add latency.
    """

    def __init__(
        self,
        name: str,
        rec: Recorder,
        *,
        fail: bool = False,
        fail_first: int = 0,
        revert_fail: bool = False,
        value: Any = None,
        sleep: float = 0.0,
        revert_sleep: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(name=name, **kwargs)
        self.rec = rec
        self.fail = fail
        self.fail_first = fail_first
        self.revert_fail = revert_fail
        self.value = value if value is not None else f"{name}-result"
        self.sleep = sleep
        self.revert_sleep = revert_sleep

    def execute(self):
        self.rec.add("execute", self.name)
        attempt = self.rec.count("execute", self.name)
        if self.sleep:
            time.sleep(self.sleep)
        self.rec.add("executed", self.name)
        if self.fail or attempt <= self.fail_first:
            raise Boom(f"{self.name} failed")
        return self.value

    def revert(self, result, flow_failures, **kwargs):
        self.rec.add("revert", self.name, result=result, flow_failures=flow_failures)
        if self.revert_sleep:
            time.sleep(self.revert_sleep)
        self.rec.add("reverted", self.name)
        if self.revert_fail:
            raise RevertBoom(f"{self.name} revert failed")


class Needs(task.Task):
    """A task whose requirements and provisions are given explicitly.

    It records the keyword arguments it received and returns ``value``
    (or, when ``value`` is callable, ``value(**kwargs)``); with ``fail`` set
    it raises :class:`Boom` after recording.
    """

    def __init__(
        self,
        name: str,
        rec: Recorder,
        *,
        value: Any = None,
        fail: bool = False,
        revert_fail: bool = False,
        revert_sleep: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(name=name, **kwargs)
        self.rec = rec
        self.value = value
        self.fail = fail
        self.revert_fail = revert_fail
        self.revert_sleep = revert_sleep

    def execute(self, *args, **kwargs):
        self.rec.add("execute", self.name, args=kwargs)
        self.rec.add("executed", self.name)
        if self.fail:
            raise Boom(f"{self.name} failed")
        return self.value(**kwargs) if callable(self.value) else self.value

    def revert(self, *args, **kwargs):
        self.rec.add("revert", self.name, args=kwargs)
        if self.revert_sleep:
            time.sleep(self.revert_sleep)
        self.rec.add("reverted", self.name)
        if self.revert_fail:
            raise RevertBoom(f"{self.name} revert failed")
