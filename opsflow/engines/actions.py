"""Actions: how one atom is started and how its outcome is recorded.

``TaskAction`` hands tasks to the executor; ``RetryAction`` runs retry
controllers in the engine's own thread (they only decide, they do no work).
Each state change is written to storage first, then announced on the
``atom_notifier``, so listeners never see a state that was not recorded, and
an outcome is announced as storage recorded it (secrets scrubbed).
"""

from __future__ import annotations

import concurrent.futures
import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

from opsflow import states
from opsflow.executors.base import EXECUTED, REVERTED, completed
from opsflow.retry import Retry
from opsflow.storage import META_PROGRESS
from opsflow.task import EVENT_UPDATE_PROGRESS, Task
from opsflow.types.failure import Failure

if TYPE_CHECKING:
    from opsflow.engines.compiler import Node
    from opsflow.engines.runtime import Runtime

__all__ = ["RetryAction", "TaskAction"]


class _Action:
    """What tasks and retries share: state changes and their announcement."""

    name_key = "atom_name"
    uuid_key = "atom_uuid"

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._storage = runtime.storage
        self._notifier = runtime.atom_notifier

    def change_state(self, node: Node, state: str) -> None:
        """Record ``state`` (no result) and announce it.

        Staying in a state (a revert resumed in REVERTING) is no news.
        """
        detail = self._runtime.details[node.index]
        old_state = detail.state
        if old_state == state:
            return
        detail.state = state
        self._storage.save_atom_detail(detail)
        if self._notifier.has_listeners(state):
            self.announce(node, state, old_state)

    def announce(self, node: Node, state: str, old_state: str) -> None:
        """Announce a state (with no result) that storage has already recorded."""
        self._notifier.notify(
            state,
            {
                self.name_key: node.name,
                self.uuid_key: self._runtime.details[node.index].uuid,
                "old_state": old_state,
            },
        )

    def _announce(self, node: Node, state: str, old_state: str, result: Any) -> None:
        """Announce an outcome storage has already recorded."""
        if self._notifier.has_listeners(state):
            self._notifier.notify(
                state,
                {
                    self.name_key: node.name,
                    self.uuid_key: self._runtime.details[node.index].uuid,
                    "old_state": old_state,
                    "result": result,
                },
            )


class TaskAction(_Action):
    """Starts tasks on the executor and records what they did."""

    name_key = "task_name"
    uuid_key = "task_uuid"

    def _progress(self, node: Node, value: float) -> None:
        """Announce the engine's own 0.0 or 1.0, recorded with the state
        change just saved (see ``Storage.note_task_progress``)."""
        task: Task = node.atom  # type: ignore[assignment]  # a TaskAction's atom
        task.notify_progress(value)
        if self._notifier.has_listeners(EVENT_UPDATE_PROGRESS):
            self._announce_progress(node, value)

    def on_progress(
        self, node: Node, progress: float, details: Mapping[str, Any] | None = None
    ) -> None:
        """Record a task's progress and announce it on the ``atom_notifier``.

        ``details`` as the task gave them (``{}``: none); None keeps the
        details recorded last.
        """
        self._storage.set_task_progress(node.name, progress, details)
        self._announce_progress(node, progress)

    def _announce_progress(self, node: Node, progress: float) -> None:
        if self._notifier.has_listeners(EVENT_UPDATE_PROGRESS):
            self._notifier.notify(
                EVENT_UPDATE_PROGRESS,
                {
                    "task_name": node.name,
                    "task_uuid": self._runtime.details[node.index].uuid,
                    "progress": progress,
                },
            )

    def schedule_execution(
        self, node: Node
    ) -> concurrent.futures.Future[tuple[str, Any]]:
        runtime = self._runtime
        detail = runtime.details[node.index]
        detail.failure = None
        # The engine's own 0.0 is written with the RUNNING it goes with (as
        # ``Storage.note_task_progress`` does, without looking the name up).
        detail.meta[META_PROGRESS] = 0.0
        self.change_state(node, states.RUNNING)
        self._progress(node, 0.0)
        try:
            arguments = runtime.fetch_args(
                node, node.atom.rebind, node.atom.optional_mapping
            )
        except Exception:
            return completed(EXECUTED, Failure())
        return runtime.executor.execute_task(
            cast(Task, node.atom),
            detail.uuid,
            arguments,
            functools.partial(self.on_progress, node),
        )

    def complete_execution(self, node: Node, result: Any) -> Any:
        """Record and announce an execute outcome; returns what was recorded
        (secrets scrubbed), which is all anyone sees of it from then on."""
        storage = self._storage
        detail = self._runtime.details[node.index]
        if isinstance(result, Failure):
            result = storage.record(detail, result, states.FAILURE)
            self._announce(node, states.FAILURE, states.RUNNING, result)
        else:
            detail.meta[META_PROGRESS] = 1.0
            result = storage.record(detail, result, states.SUCCESS)
            self._announce(node, states.SUCCESS, states.RUNNING, result)
            self._progress(node, 1.0)
        return result

    def schedule_reversion(
        self, node: Node
    ) -> concurrent.futures.Future[tuple[str, Any]]:
        runtime = self._runtime
        detail = runtime.details[node.index]
        detail.meta[META_PROGRESS] = 0.0
        self.change_state(node, states.REVERTING)
        self._progress(node, 0.0)
        try:
            arguments = runtime.fetch_args(
                node, node.atom.revert_rebind, node.atom.revert_optional_mapping
            )
        except Exception:
            return completed(REVERTED, Failure())
        result = detail.failure if detail.failure is not None else detail.results
        return runtime.executor.revert_task(
            cast(Task, node.atom),
            detail.uuid,
            arguments,
            result,
            # A copy: a driver may keep what it is given (the engine's own
            # record changes as atoms finish and retries reset them).
            runtime.execute_failures(),
            functools.partial(self.on_progress, node),
        )

    def complete_reversion(self, node: Node, result: Any) -> Any:
        """Record and announce a revert outcome; returns what was recorded."""
        storage = self._storage
        detail = self._runtime.details[node.index]
        if isinstance(result, Failure):
            result = storage.record(detail, result, states.REVERT_FAILURE)
            self._announce(node, states.REVERT_FAILURE, states.REVERTING, result)
        else:
            detail.meta[META_PROGRESS] = 1.0
            result = storage.record(detail, result, states.REVERTED)
            self._announce(node, states.REVERTED, states.REVERTING, result)
            self._progress(node, 1.0)
        return result


class RetryAction(_Action):
    """Runs retry controllers' ``execute``/``revert``/``on_failure`` in the engine."""

    name_key = "retry_name"
    uuid_key = "retry_uuid"

    def _arguments(self, node: Node, reverting: bool = False) -> dict[str, Any]:
        atom = node.atom
        if reverting:
            return self._runtime.fetch_args(
                node, atom.revert_rebind, atom.revert_optional_mapping
            )
        return self._runtime.fetch_args(node, atom.rebind, atom.optional_mapping)

    def schedule_execution(
        self, node: Node
    ) -> concurrent.futures.Future[tuple[str, Any]]:
        self.change_state(node, states.RUNNING)
        try:
            history = self._storage.get_retry_history(node.name)
            value = node.atom.execute(history=history, **self._arguments(node))
        except BaseException as exc:  # SystemExit too: see executors.base.run_task
            value = Failure.from_exception(exc)
        return completed(EXECUTED, value)

    def complete_execution(self, node: Node, result: Any) -> Any:
        state = states.FAILURE if isinstance(result, Failure) else states.SUCCESS
        result = self._storage.save(node.name, result, state)
        self._announce(node, state, states.RUNNING, result)
        return result

    def schedule_reversion(
        self, node: Node
    ) -> concurrent.futures.Future[tuple[str, Any]]:
        self.change_state(node, states.REVERTING)
        try:
            history = self._storage.get_retry_history(node.name)
            value = node.atom.revert(
                history=history,
                flow_failures=self._runtime.execute_failures(),
                **self._arguments(node, reverting=True),
            )
        except BaseException as exc:
            value = Failure.from_exception(exc)
        return completed(REVERTED, value)

    def complete_reversion(self, node: Node, result: Any) -> Any:
        state = (
            states.REVERT_FAILURE if isinstance(result, Failure) else states.REVERTED
        )
        result = self._storage.save_revert(node.name, result, state)
        self._announce(node, state, states.REVERTING, result)
        return result

    def on_failure(self, node: Node) -> Any:
        """Ask the controller what to do about a failure in its subflow."""
        history = self._storage.get_retry_history(node.name)
        controller = cast(Retry, node.atom)
        return controller.on_failure(history=history, **self._arguments(node))
