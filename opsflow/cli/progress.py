"""What an operator sees while a flow runs, and the timings for the summary.

:class:`StepRecorder` listens to the engine's notifiers and keeps each step's
state, progress and time spent running or reverting. It forwards every change
to one reporter: :class:`ProgressBar` redraws one live line on a terminal,
:class:`LogLines` writes a log line per change when output is a pipe or file.
Callbacks may come from worker threads (parallel engine), hence the lock.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TextIO

__all__ = ["LogLines", "ProgressBar", "StepRecord", "StepRecorder"]

LOG = logging.getLogger("opsflow.run")

PROGRESS_EVENT = "update_progress"
_TIMED_STATES = frozenset({"RUNNING", "REVERTING"})
_DONE_STATES = frozenset({"SUCCESS", "IGNORE"})
_SHOWN_FLOW_STATES = frozenset(
    {"SUSPENDING", "SUSPENDED", "SUCCESS", "REVERTED", "FAILURE", "REVERTING"}
)


@dataclass
class StepRecord:
    """One step of the run as the operator sees it."""

    name: str
    state: str = "PENDING"
    progress: float = 0.0
    duration: float = 0.0
    since: float | None = None


class Reporter(Protocol):
    def step_changed(self, step: StepRecord, recorder: StepRecorder) -> None: ...

    def progressed(self, step: StepRecord, recorder: StepRecorder) -> None: ...

    def flow_changed(self, state: str, recorder: StepRecorder) -> None: ...

    def finish(self, recorder: StepRecorder) -> None: ...


class StepRecorder:
    """Each step's state, progress and duration, from the engine's events."""

    def __init__(
        self, flow_name: str, order: Sequence[str], reporter: Reporter
    ) -> None:
        self.flow_name = flow_name
        self.steps = {name: StepRecord(name) for name in order}
        self.flow_state = "PENDING"
        self._reporter = reporter
        self._lock = threading.Lock()

    def attach(self, engine: Any) -> None:
        engine.atom_notifier.register("*", self._on_atom_event)
        engine.notifier.register("*", self._on_flow_event)

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for step in self.steps.values():
            counts[step.state] = counts.get(step.state, 0) + 1
        return counts

    def finish(self) -> None:
        with self._lock:
            now = time.monotonic()
            for step in self.steps.values():
                if step.since is not None:
                    step.duration += now - step.since
                    step.since = None
            self._reporter.finish(self)

    def _on_flow_event(self, state: str, details: dict[str, Any]) -> None:
        with self._lock:
            self.flow_state = str(state)
            self._reporter.flow_changed(self.flow_state, self)

    def _on_atom_event(self, event: str, details: dict[str, Any]) -> None:
        name = details.get("task_name") or details.get("retry_name")
        if name is None:
            return
        with self._lock:
            step = self.steps.setdefault(name, StepRecord(name))
            if event == PROGRESS_EVENT:
                step.progress = float(details.get("progress") or 0.0)
                self._reporter.progressed(step, self)
                return
            now = time.monotonic()
            if step.since is not None:
                step.duration += now - step.since
                step.since = None
            if str(event) in _TIMED_STATES:
                step.since = now
            step.state = str(event)
            if step.state in _DONE_STATES:
                step.progress = 1.0
            self._reporter.step_changed(step, self)


class LogLines:
    """One log line per step state change (output is not a terminal)."""

    def __init__(self) -> None:
        self._logged_progress: dict[str, float] = {}

    def step_changed(self, step: StepRecord, recorder: StepRecorder) -> None:
        if step.state == "PENDING":
            return
        if step.state in _DONE_STATES:  # its "100%" would say nothing more
            self._logged_progress[step.name] = 1.0
        LOG.info("%s: step %s %s", recorder.flow_name, step.name, step.state)

    def progressed(self, step: StepRecord, recorder: StepRecorder) -> None:
        # A line per quarter: enough to see life in a log, not a flood.
        last = self._logged_progress.get(step.name, 0.0)
        if step.progress > last and (
            step.progress >= 1.0 or step.progress - last >= 0.25
        ):
            self._logged_progress[step.name] = step.progress
            LOG.info(
                "%s: step %s %d%%", recorder.flow_name, step.name, step.progress * 100
            )

    def flow_changed(self, state: str, recorder: StepRecorder) -> None:
        LOG.info("%s: flow %s", recorder.flow_name, state)

    def finish(self, recorder: StepRecorder) -> None:
        pass


class ProgressBar:
    """One live line on a terminal: steps done, running and reverting."""

    def __init__(self, stream: TextIO, width: int = 24, interval: float = 0.05) -> None:
        self._stream = stream
        self._width = width
        self._interval = interval
        self._drawn_at = 0.0

    def step_changed(self, step: StepRecord, recorder: StepRecorder) -> None:
        self._draw(recorder, force=True)

    def progressed(self, step: StepRecord, recorder: StepRecorder) -> None:
        self._draw(recorder, force=False)

    def flow_changed(self, state: str, recorder: StepRecorder) -> None:
        self._draw(recorder, force=True)

    def finish(self, recorder: StepRecorder) -> None:
        self._draw(recorder, force=True)
        self._stream.write("\n")
        self._stream.flush()

    def render(self, recorder: StepRecorder) -> str:
        steps = list(recorder.steps.values())
        total = len(steps) or 1
        done = sum(1 for s in steps if s.state in _DONE_STATES)
        running = [s for s in steps if s.state == "RUNNING"]
        partial = sum(s.progress for s in running)
        filled = int(self._width * min(1.0, (done + partial) / total))
        bar = "#" * filled + "-" * (self._width - filled)
        parts = [f"{recorder.flow_name} [{bar}] {done}/{len(steps)} done"]
        if running:
            shown = ", ".join(f"{s.name} {int(s.progress * 100)}%" for s in running[:3])
            parts.append(f"running: {shown}")
        reverting = [s.name for s in steps if s.state == "REVERTING"]
        reverted = sum(1 for s in steps if s.state == "REVERTED")
        if reverting or reverted:
            parts.append(
                f"reverting: {', '.join(reverting) or '-'} ({reverted} undone)"
            )
        if recorder.flow_state in _SHOWN_FLOW_STATES:
            parts.append(recorder.flow_state)
        return "  ".join(parts)

    def _draw(self, recorder: StepRecorder, force: bool) -> None:
        now = time.monotonic()
        if not force and now - self._drawn_at < self._interval:
            return
        self._drawn_at = now
        columns = shutil.get_terminal_size((80, 24)).columns
        line = self.render(recorder)[: max(20, columns - 1)]
        self._stream.write("\r\x1b[2K" + line)
        self._stream.flush()
