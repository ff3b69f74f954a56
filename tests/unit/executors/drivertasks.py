"""Tasks and a journal shared by the executor driver tests.

Every task here is a module-level class, so the ``process`` driver can send it
to a worker, and every task writes what it does to a :class:`Journal`: a file
that each process appends one JSON line to (flushed and fsynced), so the
parent reads back the events of every worker, in the order they happened,
with ``time.monotonic()`` stamps (one clock for all processes on Linux).
"""

from __future__ import annotations

import importlib.util
import json
import os
import time
from dataclasses import dataclass
from typing import Any

import pytest

from opsflow import engines, task
from opsflow.types.failure import Failure

#: eventlet (found and imported by futurist whenever it is installed) warns when
#: the ``process`` driver forks, and futurist warns that its green pool is
#: deprecated: both are expected here, see docs/executors.md.
EVENTLET_WARNINGS = (
    r"ignore:Using class 'Green.*:DeprecationWarning",
    r"ignore:Using fork\(\) is a bad idea:DeprecationWarning",
)


class Boom(Exception):
    """What a failing ``execute`` raises."""


class RevertBoom(Exception):
    """What a failing ``revert`` raises."""


def pause(seconds: float) -> None:
    """Sleep without blocking the other tasks of the pool.

    In an eventlet green thread (``greenthread`` driver, no monkey-patching in
    the test process) only a green sleep lets other green threads run; a
    plain ``time.sleep`` would make them run one after the other.
    """
    try:
        import greenlet
    except ImportError:  # pragma: no cover - greenlet comes with eventlet
        time.sleep(seconds)
        return
    if greenlet.getcurrent().parent is not None:
        import eventlet

        eventlet.sleep(seconds)
    else:
        time.sleep(seconds)


@dataclass(frozen=True)
class Entry:
    event: str  # "execute", "executed", "revert", "reverted", or a task's own
    name: str
    at: float
    pid: int
    info: dict[str, Any]


class Journal:
    """An append-only file of events, shared by every process of a run."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = str(path)

    def add(self, event: str, name: str, **info: Any) -> None:
        line = json.dumps(
            {
                "event": event,
                "name": name,
                "at": time.monotonic(),
                "pid": os.getpid(),
                "info": info,
            }
        )
        # One write of one line with O_APPEND: lines from several processes
        # never interleave.
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, (line + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    def entries(self) -> list[Entry]:
        if not os.path.exists(self.path):
            return []
        with open(self.path, encoding="utf-8") as handle:
            return [Entry(**json.loads(line)) for line in handle if line.strip()]

    def names(self, event: str) -> list[str]:
        return [e.name for e in self.entries() if e.event == event]

    def count(self, event: str, name: str) -> int:
        return self.names(event).count(name)

    def find(self, event: str, name: str) -> list[Entry]:
        return [e for e in self.entries() if e.event == event and e.name == name]

    def one(self, event: str, name: str) -> Entry:
        found = self.find(event, name)
        assert len(found) == 1, f"{len(found)} {event!r} entries for {name!r}"
        return found[0]

    def interval(self, name: str, start: str = "execute", end: str = "executed"):
        """(start, end) monotonic times of ``name``'s only ``start``/``end``."""
        return self.one(start, name).at, self.one(end, name).at


def describe(result: Any) -> Any:
    """A JSON-friendly view of what ``revert`` received as ``result``."""
    if isinstance(result, Failure):
        return {"failure": list(result.exc_type_names), "text": result.exception_str}
    return result


class Step(task.Task):
    """Journals its execute and revert; fails, sleeps or returns on request.

    ``fail_first=n`` fails the first ``n`` executions (counted in the journal,
    so it holds across worker processes).
    """

    def __init__(
        self,
        name: str,
        journal: Journal,
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
        self.journal = journal
        self.fail = fail
        self.fail_first = fail_first
        self.revert_fail = revert_fail
        self.value = value if value is not None else f"{name}-result"
        self.sleep = sleep
        self.revert_sleep = revert_sleep

    def execute(self):
        self.journal.add("execute", self.name)
        attempt = self.journal.count("execute", self.name)
        if self.sleep:
            pause(self.sleep)
        self.journal.add("executed", self.name)
        if self.fail or attempt <= self.fail_first:
            raise Boom(f"{self.name} failed on attempt {attempt}")
        return self.value

    def revert(self, result, flow_failures, **kwargs):
        self.journal.add(
            "revert",
            self.name,
            result=describe(result),
            flow_failures=sorted(flow_failures),
        )
        if self.revert_sleep:
            pause(self.revert_sleep)
        self.journal.add("reverted", self.name)
        if self.revert_fail:
            raise RevertBoom(f"{self.name} could not be undone")


class Progressing(Step):
    """Reports each of ``values`` as progress while it runs."""

    def __init__(self, name: str, journal: Journal, values, **kwargs: Any) -> None:
        super().__init__(name, journal, **kwargs)
        self.values = list(values)

    def execute(self):
        for value in self.values:
            self.update_progress(value)
        return super().execute()


class ProgressingRevert(Step):
    """Reports 0.5 while it is reverted."""

    def revert(self, result, flow_failures, **kwargs):
        self.update_progress(0.5)
        return super().revert(result, flow_failures, **kwargs)


class Add(task.Task):
    """Needs ``x`` and ``y`` (from the store, ``inject`` or another task)."""

    def __init__(self, journal: Journal, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.journal = journal

    def execute(self, x, y):
        self.journal.add("execute", self.name, x=x, y=y, pid=os.getpid())
        return x + y


class HoldsFirstRun(task.Task):
    """Writes its pid to ``pid_file``, then, on its first run only, hangs.

    Used to kill the worker running it; later runs return at once, to show
    that the driver works again afterwards.
    """

    def __init__(self, journal: Journal, pid_file: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.journal = journal
        self.pid_file = pid_file

    def execute(self):
        self.journal.add("execute", self.name)
        first = self.journal.count("execute", self.name) == 1
        tmp = f"{self.pid_file}.tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(str(os.getpid()))
        os.replace(tmp, self.pid_file)
        if first:
            pause(30)
        self.journal.add("executed", self.name)
        return os.getpid()

    def revert(self, result, **kwargs):
        self.journal.add("revert", self.name, result=describe(result))


class ReturnsLock(task.Task):
    """Returns what no pickle can carry back from a worker: a lock."""

    def execute(self):
        import threading

        return threading.Lock()


def skip_without_eventlet(driver: str) -> None:
    if driver == "greenthread" and importlib.util.find_spec("eventlet") is None:
        pytest.skip(
            "eventlet is not importable: install test-requirements.txt "
            "(or opsflow[eventlet]) to test the greenthread driver"
        )


def loader_for(driver: str):
    def _load(flow, **kwargs):
        kwargs.setdefault("max_workers", 4)
        return engines.load(flow, engine="parallel", executor=driver, **kwargs)

    return _load


class UsesSecret(task.Task):
    """Returns its ``password`` in a result, or fails naming it."""

    def __init__(self, name: str, journal: Journal, fail: bool = False) -> None:
        super().__init__(name=name)
        self.journal = journal
        self.fail = fail

    def execute(self, password):
        self.journal.add("execute", self.name, got=password == "hunter2-Zq9")
        if self.fail:
            raise Boom(f"login refused for password {password}")
        return {"token": f"token-for-{password}"}

    def revert(self, password, result, flow_failures, **kwargs):
        self.journal.add(
            "revert",
            self.name,
            result=describe(result),
            flow_failures={k: v.exception_str for k, v in flow_failures.items()},
        )


class Paced(task.Task):
    """Takes ``seconds`` and returns ``(x, the pid of the process it ran in)``."""

    def __init__(self, journal: Journal | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.journal = journal

    def execute(self, x, seconds):
        if self.journal is not None:
            self.journal.add("execute", self.name)
        if seconds:
            time.sleep(seconds)
        return x, os.getpid()


class FailsAfterwards(task.Task):
    """Its execute returns; its ``post_execute`` hook raises."""

    def execute(self):
        return "done"

    def post_execute(self):
        raise RuntimeError(f"post_execute of {self.name} failed")
