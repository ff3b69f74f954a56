"""What an operator sees while a flow runs, and the timings for the summary.

:class:`StepRecorder` listens to the engine's notifiers and keeps each step's
state, progress and time spent running or reverting. It forwards every change
to one reporter: :class:`ProgressBar` redraws one live line on a terminal,
:class:`LogLines` writes a log line per change when output is a pipe or file.
Callbacks may come from worker threads (parallel engine), hence the lock.
With the run's storage, the recorder also keeps each step's timing in its
atom meta (:mod:`opsflow.views.timings`): ``--show`` and later ETAs read it.
With :class:`~opsflow.views.timings.Estimates` from past runs, the bar shows
an ETA; the revert phase gets a bar of its own on a new line.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from collections.abc import Sequence
from typing import Any, NamedTuple, Protocol, TextIO

from opsflow.runs.report import StepRecord
from opsflow.task import made_changes

__all__ = ["LogLines", "ProgressBar", "StepRecord", "StepRecorder", "format_seconds"]

LOG = logging.getLogger("opsflow.run")

PROGRESS_EVENT = "update_progress"
_TIMED_STATES = frozenset({"RUNNING", "REVERTING"})
_DONE_STATES = frozenset({"SUCCESS", "IGNORE"})
_FAILED_STATES = frozenset({"FAILURE", "REVERT_FAILURE"})
_SHOWN_FLOW_STATES = frozenset(
    {"SUSPENDING", "SUSPENDED", "SUCCESS", "REVERTED", "FAILURE", "REVERTING"}
)


class Reporter(Protocol):
    def step_changed(self, step: StepRecord, recorder: StepRecorder) -> None: ...

    def progressed(self, step: StepRecord, recorder: StepRecorder) -> None: ...

    def flow_changed(self, state: str, recorder: StepRecorder) -> None: ...

    def finish(self, recorder: StepRecorder) -> None: ...

    def tick(self, recorder: StepRecorder) -> None: ...


class StepRecorder:
    """Each step's state, progress and duration, from the engine's events."""

    def __init__(
        self, flow_name: str, order: Sequence[str], reporter: Reporter
    ) -> None:
        self.flow_name = flow_name
        self.steps = {name: StepRecord(name) for name in order}
        self.flow_state = "PENDING"
        #: The last state change of any step (progress is no state change).
        self.last_event: str | None = None
        #: Steps that failed in this run, in the order they failed.
        self.failed: list[str] = []
        self._reporter = reporter
        self._lock = threading.Lock()
        self._storage: Any = None
        #: Steps that never count as changed: retry controllers, and tasks
        #: that only read or check (``changes_nothing``).
        self._unchanging: set[str] = set()

    def attach(self, engine: Any, record: bool = False) -> None:
        """Listen to ``engine``; with ``record``, keep timings in its storage.

        Steps of a resumed run start from the state and timing stored.
        """
        from opsflow.views.timings import timing_of

        storage = engine.storage
        self._unchanging = {
            node.name
            for node in engine.compilation
            if node.is_retry or getattr(node.atom, "changes_nothing", False)
        }
        for name, step in self.steps.items():
            try:
                step.state = str(storage.get_atom_state(name))
                timing = timing_of(storage.atom_detail(name)) if record else {}
            except Exception:  # an atom the storage does not know yet
                continue
            step.started_at = timing.get("started_at")
            step.reverted_at = timing.get("reverted_at")
            step.attempts = int(timing.get("attempts") or 0)
            step.run_seconds = float(timing.get("run") or 0.0)
            step.revert_seconds = float(timing.get("revert") or 0.0)
            step.duration = step.run_seconds + step.revert_seconds
            step.changed = timing.get("changed")
        if record:
            self._storage = storage
        engine.atom_notifier.register("*", self._on_atom_event)
        engine.notifier.register("*", self._on_flow_event)

    def tick(self) -> None:
        """Let the reporter refresh what changes with time alone (the ETA)."""
        with self._lock:
            self._reporter.tick(self)

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
                elapsed = now - step.since
                step.duration += elapsed
                if step.state == "RUNNING":
                    step.run_seconds += elapsed
                else:
                    step.revert_seconds += elapsed
                step.since = None
            if str(event) in _TIMED_STATES:
                step.since = now
            if str(event) == "RUNNING":
                step.attempts += 1
                step.progress = 0.0
                if step.started_at is None:
                    step.started_at = time.time()
            if str(event) in ("REVERTED", "REVERT_FAILURE"):
                step.reverted_at = time.time()
            step.state = str(event)
            self.last_event = step.state
            if step.state == "FAILURE" and name not in self.failed:
                self.failed.append(name)
            if step.state in _FAILED_STATES:
                step.error = _describe(details.get("result"))
            if step.state == "SUCCESS":
                step.changed = name not in self._unchanging and made_changes(
                    details.get("result")
                )
            if step.state in _DONE_STATES:
                step.progress = 1.0
            self._save_timing(step)
            self._reporter.step_changed(step, self)

    def _save_timing(self, step: StepRecord) -> None:
        if self._storage is None:
            return
        from opsflow.views.timings import META_KEY

        try:
            self._storage.update_atom_metadata(step.name, {META_KEY: step.timing()})
        except Exception:  # timings are a nicety: never stop a run for them
            LOG.warning("could not record the timing of step %s", step.name)


#: Log levels that let ``grep ERROR`` (or a journald priority) find what went
#: wrong: a failed step or revert and a failed run are errors, undoing and
#: retrying are warnings, everything else is information.
STEP_LEVELS = {
    "FAILURE": logging.ERROR,
    "REVERT_FAILURE": logging.ERROR,
    "REVERTED": logging.WARNING,
    "RETRYING": logging.WARNING,
}
FLOW_LEVELS = {
    "FAILURE": logging.ERROR,
    "REVERTING": logging.WARNING,
    "REVERTED": logging.WARNING,
    "SUSPENDED": logging.WARNING,
}


class LogLines:
    """One log line per step state change (output is not a terminal).

    Progress within a step is logged at DEBUG only, a line per quarter.
    """

    def __init__(self) -> None:
        self._logged_progress: dict[str, float] = {}

    def step_changed(self, step: StepRecord, recorder: StepRecorder) -> None:
        if step.state == "PENDING":
            return
        if step.state in _DONE_STATES:  # its "100%" would say nothing more
            self._logged_progress[step.name] = 1.0
        level = STEP_LEVELS.get(step.state, logging.INFO)
        if step.state in _FAILED_STATES and step.error:
            LOG.log(
                level,
                "%s: step %s %s: %s",
                recorder.flow_name,
                step.name,
                step.state,
                step.error,
            )
        else:
            LOG.log(level, "%s: step %s %s", recorder.flow_name, step.name, step.state)

    def progressed(self, step: StepRecord, recorder: StepRecorder) -> None:
        last = self._logged_progress.get(step.name, 0.0)
        if step.progress > last and (
            step.progress >= 1.0 or step.progress - last >= 0.25
        ):
            self._logged_progress[step.name] = step.progress
            LOG.debug(
                "%s: step %s %d%%", recorder.flow_name, step.name, step.progress * 100
            )

    def flow_changed(self, state: str, recorder: StepRecorder) -> None:
        LOG.log(
            FLOW_LEVELS.get(state, logging.INFO),
            "%s: flow %s",
            recorder.flow_name,
            state,
        )

    def finish(self, recorder: StepRecorder) -> None:
        pass

    def tick(self, recorder: StepRecorder) -> None:
        pass


_TO_UNDO = frozenset({"SUCCESS", "FAILURE", "REVERTING", "REVERTED", "REVERT_FAILURE"})


#: Atom events after which the run is undoing steps.
_REVERT_EVENTS = frozenset({"REVERTING", "REVERTED", "REVERT_FAILURE"})
#: Flow states of a run that is being, or has been, undone.
_REVERT_FLOW_STATES = frozenset({"REVERTING", "REVERTED", "FAILURE"})


class ProgressBar:
    """A live line on a terminal: steps done, running and reverting.

    With ``estimates`` it ends with the time left. When a revert starts, the
    run's line is closed with what it came to (steps done, the step that
    failed; no ETA) and a second line shows the revert, redrawn in place to
    the end. Lines fit the width of the terminal they are drawn on, so none
    wraps (a wrapped line cannot be redrawn in place): the bar narrows and
    the name shortens before the final state or a failure would be cut.
    """

    def __init__(
        self,
        stream: TextIO,
        width: int = 24,
        interval: float = 0.05,
        estimates: Any = None,
    ) -> None:
        self._stream = stream
        self._width = width
        self._interval = interval
        self._drawn_at = 0.0
        self._estimates = estimates
        #: The revert's line has been started: everything is drawn on it now.
        self._second_line = False

    def tick(self, recorder: StepRecorder) -> None:
        if self._estimates:
            self._draw(recorder, force=False, interval=0.5)

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
        if self._in_revert(recorder):
            return self.render_revert(recorder)
        return self.render_run(recorder)

    def render_run(self, recorder: StepRecorder, closing: bool = False) -> str:
        """The run's line; ``closing``: as it stays once a revert begins."""
        steps = list(recorder.steps.values())
        total = len(steps) or 1
        done = sum(1 for s in steps if s.state in _DONE_STATES)
        running = [s for s in steps if s.state == "RUNNING"]
        partial = 0.0 if closing else sum(s.progress for s in running)
        parts: list[_Part] = []
        if running and not closing:
            shown = ", ".join(f"{s.name} {int(s.progress * 100)}%" for s in running[:3])
            parts.append(_Part(f"running: {shown}"))
        if recorder.failed:
            parts.append(_Part(f"failed: {', '.join(recorder.failed[:3])}", keep=True))
        final = recorder.flow_state in _SHOWN_FLOW_STATES
        eta = None if closing or final else self.eta(recorder)
        if eta is not None:
            parts.append(_Part(f"ETA {format_seconds(eta)}"))
        if final and not closing:
            parts.append(_Part(recorder.flow_state, keep=True))
        return self._fit(
            _Head(recorder.flow_name, "", "#", (done + partial) / total),
            f"{done}/{len(steps)} done",
            parts,
        )

    def render_revert(self, recorder: StepRecorder) -> str:
        """The revert phase's own bar: steps undone of those that ran."""
        steps = list(recorder.steps.values())
        to_undo = [s for s in steps if s.state in _TO_UNDO]
        undone = sum(1 for s in to_undo if s.state == "REVERTED")
        total = len(to_undo) or 1
        parts: list[_Part] = []
        reverting = [s.name for s in steps if s.state == "REVERTING"]
        if reverting:
            parts.append(_Part(f"reverting: {', '.join(reverting[:3])}"))
        failed = [s.name for s in steps if s.state == "REVERT_FAILURE"]
        if failed:
            parts.append(_Part(f"revert failed: {', '.join(failed[:3])}", keep=True))
        final = recorder.flow_state in _SHOWN_FLOW_STATES - {"REVERTING"}
        eta = None if final else self.revert_eta(recorder)
        if eta is not None:
            parts.append(_Part(f"ETA {format_seconds(eta)}"))
        if final:
            parts.append(_Part(recorder.flow_state, keep=True))
        return self._fit(
            _Head(recorder.flow_name, " revert", "<", undone / total),
            f"{undone}/{len(to_undo)} undone",
            parts,
        )

    def _fit(self, head: _Head, counts: str, parts: Sequence[_Part]) -> str:
        """The line, made to fit the terminal without losing what it says.

        What gives way first is what says least: the bar narrows (down to
        none), then the flow's name shortens, then the passing details
        (running steps, ETA) go, and last the name and the counts; what
        failed and the final state stay. Only a line still too long after
        that is cut.
        """
        limit = max(20, self._columns() - 1)
        texts = [part.text for part in parts]
        for width in (*range(self._width, _MIN_BAR - 1, -1), 0):
            line = _line(head.name, head, width, counts, texts)
            if len(line) <= limit:
                return line
        kept = [part.text for part in parts if part.keep]
        for details in (texts, kept):
            room = limit - len(_line("", head, 0, counts, details))
            if room >= _MIN_NAME:
                return _line(_shortened(head.name, room), head, 0, counts, details)
        if kept and len("  ".join(kept)) <= limit:
            return "  ".join(kept)  # what went wrong and how it ended, alone
        return _line(_shortened(head.name, _MIN_NAME), head, 0, counts, kept)[:limit]

    def eta(self, recorder: StepRecorder) -> float | None:
        """Seconds left: each step not done at its median past duration
        (minus what a running step has already spent); None without history.

        Steps are summed, which is exact for the serial engine and an upper
        bound for the parallel one.
        """
        if not self._estimates:
            return None
        now = time.monotonic()
        left = 0.0
        for step in recorder.steps.values():
            expected = self._estimates.run_time(step.name) or 0.0
            if step.state == "PENDING":
                left += expected
            elif step.state == "RUNNING" and step.since is not None:
                left += max(0.0, expected - (now - step.since))
        return left

    def revert_eta(self, recorder: StepRecorder) -> float | None:
        """Seconds left to undo what ran, from past revert durations."""
        if not self._estimates or not self._estimates.revert:
            return None
        now = time.monotonic()
        left = 0.0
        for step in recorder.steps.values():
            expected = self._estimates.revert_time(step.name) or 0.0
            if step.state in ("SUCCESS", "FAILURE"):
                left += expected
            elif step.state == "REVERTING" and step.since is not None:
                left += max(0.0, expected - (now - step.since))
        return left

    def _in_revert(self, recorder: StepRecorder) -> bool:
        """Undoing: the flow says so, or the last step event was a revert's
        (the flow stays RUNNING while a retry undoes its subflow)."""
        return (
            recorder.flow_state in _REVERT_FLOW_STATES
            or recorder.last_event in _REVERT_EVENTS
        )

    def _draw(
        self, recorder: StepRecorder, force: bool, interval: float | None = None
    ) -> None:
        now = time.monotonic()
        if not force and now - self._drawn_at < (interval or self._interval):
            return
        self._drawn_at = now
        reverting = self._in_revert(recorder)
        if reverting and not self._second_line:
            # The run's line stays, with what it came to; the revert gets the
            # next one, which is redrawn from then on (a retry's new attempt too).
            self._second_line = True
            self._write_line(self.render_run(recorder, closing=True))
            self._stream.write("\n")
        if reverting:
            self._write_line(self.render_revert(recorder))
        else:
            self._write_line(self.render_run(recorder))
        self._stream.flush()

    def _write_line(self, line: str) -> None:
        self._stream.write("\r\x1b[2K" + line)

    def _columns(self) -> int:
        """The width of the terminal drawn on (stdout may go elsewhere);
        a terminal that does not know its size (0) goes by ``COLUMNS``, 80."""
        try:
            columns = os.get_terminal_size(self._stream.fileno()).columns
        except (AttributeError, OSError, ValueError):
            columns = 0
        return columns or shutil.get_terminal_size((80, 24)).columns


#: The narrowest bar drawn; below it, none is (the counts say as much).
_MIN_BAR = 4
#: The fewest characters of a flow's name a narrowed line keeps.
_MIN_NAME = 6


class _Head(NamedTuple):
    """The start of a bar's line: ``name label [bar]``, filled to ``fraction``."""

    name: str
    label: str
    fill: str
    fraction: float


class _Part(NamedTuple):
    """A detail after the counts; ``keep``: it stays however narrow the line."""

    text: str
    keep: bool = False


def _line(name: str, head: _Head, width: int, counts: str, parts: list[str]) -> str:
    start = f"{name}{head.label}"
    if width:
        filled = int(width * min(1.0, head.fraction))
        start += f" [{head.fill * filled}{'-' * (width - filled)}]"
    return "  ".join([f"{start} {counts}", *parts])


def _shortened(name: str, room: int) -> str:
    """``name`` in at most ``room`` characters (at least :data:`_MIN_NAME`),
    its cut marked with ``..``."""
    room = max(room, _MIN_NAME)
    return name if len(name) <= room else name[: room - 2] + ".."


def _describe(result: Any) -> str | None:
    """``Type: message`` of a step's failure result (a ``Failure``)."""
    names = getattr(result, "exc_type_names", None)
    if not names:
        return None
    return f"{names[0].rsplit('.', 1)[-1]}: {getattr(result, 'exception_str', '')}"


def format_seconds(seconds: float) -> str:
    """``4.2s`` under a minute, else ``3m05s`` or ``1h02m``."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    whole = int(round(seconds))
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"
