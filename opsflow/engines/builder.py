"""Builder: the engine's state machine, one transition table and its reactions.

::

    UNDEFINED --start--> RESUMING --schedule--> SCHEDULING --wait--> WAITING
    WAITING --analyze--> ANALYZING --schedule--> SCHEDULING
                         ANALYZING --wait--> WAITING
                         ANALYZING --finish--> GAME_OVER
    GAME_OVER --success|reverted|failed|suspended--> SUCCESS|REVERTED|FAILURE|SUSPENDED

Each state's reaction (a method below) does that stage's work and returns
the next event; ``run_iter`` feeds it to the automaton machine and yields
each state entered.
"""

from __future__ import annotations

import collections
import concurrent.futures
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from automaton import machines

from opsflow import exceptions, states
from opsflow.executors import base as outcomes
from opsflow.executors import pools
from opsflow.types.failure import Failure

LOG = logging.getLogger(__name__)
Future = concurrent.futures.Future

if TYPE_CHECKING:
    from opsflow.engines.compiler import Node
    from opsflow.engines.runtime import Runtime

__all__ = ["MachineBuilder", "TRANSITIONS"]

START = "start"
SCHEDULE = "schedule"
WAIT = "wait"
ANALYZE = "analyze"
FINISH = "finish"
SUCCESS = "success"
REVERTED = "reverted"
FAILED = "failed"
SUSPENDED = "suspended"

#: (from state, event, to state): the whole engine machine.
TRANSITIONS = (
    (states.UNDEFINED, START, states.RESUMING),
    (states.RESUMING, SCHEDULE, states.SCHEDULING),
    (states.SCHEDULING, WAIT, states.WAITING),
    (states.WAITING, ANALYZE, states.ANALYZING),
    (states.ANALYZING, SCHEDULE, states.SCHEDULING),
    (states.ANALYZING, WAIT, states.WAITING),
    (states.ANALYZING, FINISH, states.GAME_OVER),
    (states.GAME_OVER, SUCCESS, states.SUCCESS),
    (states.GAME_OVER, REVERTED, states.REVERTED),
    (states.GAME_OVER, FAILED, states.FAILURE),
    (states.GAME_OVER, SUSPENDED, states.SUSPENDED),
)
#: The machine's terminal states, in the order the table reaches them.
FINAL_STATES = tuple(t for _s, _e, t in TRANSITIONS if t in states.FINAL_STATES)


class _EngineMachine(machines.FiniteMachine):
    """automaton's finite machine, taking an event in one table lookup.

    automaton's own ``process_event`` checks the machine, calls the enter
    and exit callbacks and builds a new ``Effect`` for every event. The
    engine's machine is frozen, has no callbacks, and takes three events
    per task: a valid event moves the state here, through the same tables;
    anything else goes to automaton, which refuses it with its own error.
    """

    #: (state, event) -> (automaton's record of the state entered, the
    #: effect, the state's name); the table is frozen, so is this.
    _moves: dict[tuple[str, str], tuple[Any, machines.FiniteMachine.Effect, str]] = {}
    #: The state the last event entered (``current_state`` without the property).
    entered: str | None = None

    def process_event(self, event: str) -> machines.FiniteMachine.Effect:
        current = self._current
        if current is not None:
            move = self._moves.get((current.name, event))
            if move is not None:
                self._current, effect, self.entered = move
                return effect
        effect = super().process_event(event)
        self.entered = self.current_state
        return effect


def _machine() -> _EngineMachine:
    """The engine machine, built and checked by automaton once per process."""
    machine = _EngineMachine()
    for state in (
        states.UNDEFINED,
        states.RESUMING,
        states.SCHEDULING,
        states.WAITING,
        states.ANALYZING,
        states.GAME_OVER,
    ):
        machine.add_state(state)
    for state in FINAL_STATES:
        machine.add_state(state, terminal=True)
    for source, event, target in TRANSITIONS:
        machine.add_transition(source, target, event)
    machine.default_start_state = states.UNDEFINED
    machine.freeze()
    # Only events without callbacks take the short way (there are none today).
    _EngineMachine._moves = {
        (source, event): (
            machine._transitions[source][event],
            machine._effect_builder(machine._states[target], event),
            target,
        )
        for source, event, target in TRANSITIONS
        if machine._states[source]["on_exit"] is None
        and machine._states[target]["on_enter"] is None
    }
    return machine


#: Each run drives a shallow copy: its own current state, the shared table.
_MACHINE = _machine()
#: State -> its key in ``seconds_per_state``.
_STATE_KEYS = {state: state.lower() for state in _MACHINE.states}


class MachineBuilder:
    """Builds and drives the machine for one run over a :class:`Runtime`."""

    def __init__(self, runtime: Runtime, wait_timeout: float | None = None) -> None:
        self._runtime = runtime
        #: Read before anything is scheduled: suspend() marks it SUSPENDING.
        self._flow_detail = runtime.storage.flow_detail
        self._wait_timeout = wait_timeout
        self._next_up: dict[Node, None] = {}
        self._not_done: dict[concurrent.futures.Future[tuple[str, Any]], Node] = {}
        self._done: list[concurrent.futures.Future[tuple[str, Any]]] = []
        #: Futures whose task was failed by its deadline before it stopped.
        self._late: dict[concurrent.futures.Future[tuple[str, Any]], Node] = {}
        #: Futures of pool drivers, in the order they finished: their done
        #: callbacks append here and set the event, so a wait costs the same
        #: however many tasks are under way (no scan, no waiter on each).
        self._finished: collections.deque[concurrent.futures.Future[Any]] = (
            collections.deque()
        )
        self._wakeup = threading.Event()
        #: Futures already done when they were handed over (in-line drivers).
        self._resolved: list[concurrent.futures.Future[Any]] = []
        #: Green futures pending: waited on with futurist's waiters instead.
        self._green_pending = False
        self.completed = 0
        self.seconds_per_state: dict[str, float] = {}

    def build(self) -> _EngineMachine:
        """A fresh copy of the engine machine, initialized, for one run."""
        machine = _MACHINE.copy(shallow=True)
        assert isinstance(machine, _EngineMachine)  # copy() keeps the class
        machine.initialize()
        return machine

    def run_iter(self, every_state: bool = True) -> Iterator[str]:
        """Drive the machine; yields every state it enters (GAME_OVER excluded),
        or with ``every_state`` False only the terminal one.

        Each state's reaction returns the next event, which the machine
        processes (and refuses when the table has no such transition). The
        loop is here rather than in automaton's runner so that a run costs
        one call per event, not a generator resumption per event and one
        more frame under every task (nor, for a caller that only wants the
        outcome, a resumption of this one).
        """
        machine = self.build()
        reactions: dict[str, Callable[[], str]] = {
            states.RESUMING: self.resume,
            states.SCHEDULING: self.schedule,
            states.WAITING: self.wait,
            states.ANALYZING: self.analyze,
            states.GAME_OVER: self.game_over,
        }
        # Seconds in each state, added up here and handed over when the run
        # ends: three events a task, each one subscript.
        spent = dict.fromkeys(_STATE_KEYS, 0.0)
        clock = time.perf_counter
        game_over = states.GAME_OVER
        entered = clock()
        event = START
        old: str = states.UNDEFINED
        try:
            while True:
                _reaction, terminal = machine.process_event(event)
                new: str = machine.entered  # type: ignore[assignment]  # set just now
                now = clock()
                spent[old] += now - entered
                entered = now
                if terminal:
                    yield new
                    return
                if every_state and new != game_over:
                    yield new
                old = new
                event = reactions[new]()
        finally:
            self._add_seconds(spent)

    def _add_seconds(self, spent: dict[str, float]) -> None:
        seconds = self.seconds_per_state
        for state, spent_there in spent.items():
            if spent_there:  # a state entered (the clock counts nanoseconds)
                key = _STATE_KEYS[state]
                seconds[key] = seconds.get(key, 0.0) + spent_there

    @property
    def incomplete(self) -> int:
        """Atoms still under way (non-zero only when a run was cut short)."""
        return len(self._not_done)

    @property
    def awaiting(self) -> int:
        """Atoms found ready but not started (a suspended run)."""
        return len(self._next_up)

    # -- reactions -------------------------------------------------------
    def resume(self) -> str:
        for node in self._runtime.completer.resume():
            self._next_up[node] = None
        return SCHEDULE

    def schedule(self) -> str:
        if self._next_up and self._flow_detail.state != states.SUSPENDING:
            nodes = list(self._next_up)
            self._next_up.clear()
            started = self._runtime.scheduler.schedule(nodes)
            self._not_done.update(started)
            for future in started:
                if future.done():
                    self._resolved.append(future)
                elif _is_green(future):
                    self._green_pending = True
                else:
                    future.add_done_callback(self._on_finished)
        return WAIT

    def _on_finished(self, future: concurrent.futures.Future[Any]) -> None:
        self._finished.append(future)
        self._wakeup.set()

    def _take_finished(self) -> list[concurrent.futures.Future[Any]]:
        done, self._resolved = self._resolved, []
        finished = self._finished
        while finished:
            done.append(finished.popleft())
        if self._green_pending:  # scanned, as futurist's waiter does anyway
            seen = set(done)
            done.extend(
                f for f in self._not_done if f not in seen and f.done() and _is_green(f)
            )
            seen.update(done)
            self._green_pending = any(
                _is_green(f) for f in self._not_done if f not in seen
            )
        return done

    def wait(self) -> str:
        scheduler = self._runtime.scheduler
        not_done = self._not_done
        if not_done:
            if self._wakeup.is_set():  # not at all with in-line drivers
                self._wakeup.clear()  # a callback after this sets it again
            done = self._take_finished()
            if not done:
                bounds = (
                    self._wait_timeout,
                    scheduler.next_wake_in(),
                    scheduler.next_deadline_in(),
                )
                timeout = min((b for b in bounds if b is not None), default=None)
                if self._green_pending:
                    # A green thread must yield to the hub, which a thread's
                    # event would not; futurist's waiter does (green pools
                    # imported futurist).
                    green = [f for f in not_done if _is_green(f)]
                    pools.waiters().wait_for_any(green, timeout=timeout)
                else:
                    self._wakeup.wait(timeout)
                done = self._take_finished()
            self._done = done
            late = scheduler.expired()
            if late:
                self._time_out(late)
        elif scheduler.has_parked and self._flow_detail.state != states.SUSPENDING:
            # Only delayed retries are left: sleep until the first is due.
            time.sleep(scheduler.next_wake_in() or 0.0)
        return ANALYZE

    def _time_out(self, late: list[tuple[Future[Any], Node]]) -> None:
        """Fail tasks past their deadline; the flow reverts without waiting."""
        runtime = self._runtime
        for future, node in late:
            stopped = runtime.executor.kill(future)
            # Its own revert waits until this execute has stopped (killed, or
            # returned when the executor cannot kill).
            runtime.running_late.add(node.index)
            self._late[future] = node
            timeout = runtime.scheduler.timeout_of(node) or 0.0
            still = "" if stopped else "; it is reverted once its execute returns"
            error = exceptions.Timeout(
                f"task {node.name!r} ran past its timeout of {timeout:g} s{still}"
            )
            for each in runtime.completer.complete(
                node, outcomes.EXECUTED, Failure.from_exception(error)
            ):
                self._next_up[each] = None

    def analyze(self) -> str:
        runtime = self._runtime
        next_up = self._next_up
        for future in self._done:
            node = self._not_done.pop(future)
            runtime.scheduler.finished(future)
            if self._late and self._late.pop(future, None) is not None:
                # Already failed by its deadline: what it did now is only
                # that its revert may start.
                runtime.running_late.discard(node.index)
                ready = runtime.selector.ready_after(node)
            else:
                ready = self._complete(node, future)
            self.completed += 1
            for each in ready:
                next_up[each] = None
        self._done = []
        for node in runtime.scheduler.due():
            next_up[node] = None
        if next_up and self._flow_detail.state != states.SUSPENDING:
            return SCHEDULE
        if self._not_done or (
            runtime.scheduler.has_parked
            and self._flow_detail.state != states.SUSPENDING
        ):
            return WAIT
        return FINISH

    def _complete(self, node: Node, future: Future[Any]) -> list[Node]:
        runtime = self._runtime
        try:
            outcome, result = future.result()
        except exceptions.StorageFailure:
            raise  # the record cannot be written: the engine stops (see engine)
        except Exception:
            # The executor itself failed (a pool that broke, say): the atom
            # failed at whatever it was doing.
            doing = runtime.details[node.index].state
            outcome = (
                outcomes.EXECUTED if doing == states.RUNNING else outcomes.REVERTED
            )
            result = Failure()
        try:
            return runtime.completer.complete(node, outcome, result)
        except exceptions.StorageFailure:
            raise
        except Exception:
            LOG.exception("Engine failed completing atom %s", node.name)
            runtime.completer.unresolved.append(Failure())
            return []

    def game_over(self) -> str:
        runtime = self._runtime
        completer = runtime.completer
        if (
            completer.unresolved
            or completer.left_failed
            or any(d.state == states.REVERT_FAILURE for d in runtime.details)
        ):
            return FAILED
        if self._next_up or runtime.scheduler.has_parked:
            return SUSPENDED
        if runtime.is_success():
            return SUCCESS
        return REVERTED


def mermaid() -> str:
    """The engine machine as a Mermaid state diagram, drawn from ``TRANSITIONS``."""
    lines = ["stateDiagram-v2", f"    [*] --> {states.UNDEFINED}"]
    lines += [
        f"    {source} --> {target}: {event}" for source, event, target in TRANSITIONS
    ]
    lines += [f"    {state} --> [*]" for state in FINAL_STATES]
    return "\n".join(lines)


def _is_green(future: concurrent.futures.Future[Any]) -> bool:
    """Whether ``future`` is one of futurist's green futures."""
    package = sys.modules.get("futurist")  # imported by any pool that makes them
    return package is not None and isinstance(future, package.GreenFuture)
