"""Completer: records what an atom did and decides what a failure undoes.

When a task fails, the nearest enclosing retry controller is asked what to
do (``on_failure``); its answer, or the parents' it defers to, becomes one
of three resolutions, each marking a set of atoms with an intention:

* revert everything (no controller, or ``REVERT_ALL``);
* revert one controller's subflow and the controller itself (``REVERT``
  with ``defer_reverts=False`` and nobody above to ask);
* revert one subflow, then retry it (``RETRY``).

A REVERT intention is never downgraded to RETRY by a later failure in a
parallel branch. Execution never resumes inside a scope marked for revert.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from opsflow import exceptions, retry, states
from opsflow.executors.base import EXECUTED
from opsflow.types.failure import Failure

if TYPE_CHECKING:
    from opsflow.engines.compiler import Node
    from opsflow.engines.runtime import Runtime

__all__ = ["Completer"]

LOG = logging.getLogger(__name__)

#: The states ``resume`` looks at again (anything else stands as it is).
_CAUGHT_MIDWAY = frozenset(
    {states.RUNNING, states.REVERTING, states.RETRYING, states.FAILURE}
)


class Completer:
    """Turns finished futures into stored outcomes and revert/retry plans."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        #: Engine errors (not atom failures) that make the flow end FAILURE.
        self.unresolved: list[Failure] = []
        #: Atoms whose failure is left as it is (``never_resolve``).
        self.left_failed: list[str] = []
        #: Failures dealt with by a revert or retry plan.
        self.discarded = 0

    def complete(self, node: Node, outcome: str, result: Any) -> list[Node]:
        """Record ``result``; returns the atoms that may start because of it."""
        runtime = self._runtime
        action = runtime.action_for(node)
        if outcome == EXECUTED:
            # From here on only the recorded outcome (secrets scrubbed) is used.
            result = action.complete_execution(node, result)
            if isinstance(result, Failure):
                runtime.failed[node.name] = result
                return self._resolve(node, result)
            if runtime.failed:
                runtime.failed.pop(node.name, None)
        else:
            action.complete_reversion(node, result)
        return runtime.selector.ready_after(node)

    def resume(self) -> list[Node]:
        """Put atoms caught mid-way by a crash or suspension back on track."""
        runtime = self._runtime
        storage = runtime.storage
        to_resolve = []
        running = []
        details = runtime.details
        for node in runtime.nodes:
            detail = details[node.index]
            if detail.state not in _CAUGHT_MIDWAY:
                continue  # PENDING in a fresh run: nothing to put back
            if detail.state == states.RUNNING:
                running.append(detail)
            elif (
                detail.state == states.REVERTING and detail.intention == states.EXECUTE
            ):
                detail.state = states.FAILURE if detail.failure else states.SUCCESS
                storage.save_atom_detail(detail)
            elif detail.state == states.RETRYING:
                # Caught restarting its subflow: finish resetting it.
                runtime.reset(runtime.retry_scope(node))
                if detail.intention != states.EXECUTE:
                    detail.intention = states.EXECUTE
                    storage.save_atom_detail(detail)
            elif detail.state == states.FAILURE and detail.intention == states.EXECUTE:
                to_resolve.append(node)
        for node in to_resolve:
            failure = runtime.details[node.index].failure
            assert failure is not None  # it is in FAILURE
            self._resolve(node, failure)
        # Decided after the failures above were resolved, which may have
        # set out to undo an atom that was still running beside them.
        for detail in running:
            if detail.intention == states.EXECUTE:
                # It may have done some or all of its work: it runs again.
                detail.state = states.PENDING
            else:
                # The flow is being undone: undo what it may have done
                # (reverts are idempotent; its result is unknown).
                detail.state = states.SUCCESS
            storage.save_atom_detail(detail)
        return runtime.selector.scan()

    # -- resolution ---------------------------------------------------------
    def _resolve(self, node: Node, failure: Failure) -> list[Node]:
        runtime = self._runtime
        if runtime.never_resolve:
            self.left_failed.append(node.name)
            return []
        try:
            strategy, controller = self._decide(node, failure)
        except exceptions.StorageFailure:
            raise
        except Exception:
            LOG.exception("Retry controller failed deciding about %s", node.name)
            self.unresolved.append(Failure())
            strategy, controller = "revert_all", None
        self.discarded += 1
        if strategy == "revert_all":
            scope: Sequence[Node] = runtime.nodes
            self._mark(scope, states.REVERT)
        else:
            assert controller is not None
            undone = runtime.retry_scope(controller)
            scope = [*undone, controller]
            self._mark(undone, states.REVERT)
            self._mark(
                [controller], states.RETRY if strategy == "retry" else states.REVERT
            )
        return runtime.selector.ready_to_revert(
            n
            for n in scope
            if runtime.details[n.index].state in (states.SUCCESS, states.FAILURE)
        )

    def _decide(self, node: Node, failure: Failure) -> tuple[str, Node | None]:
        """(strategy, controller) for a failure of ``node``, asking upward."""
        controller = node.retry
        if controller is None:
            return "revert_all", None
        runtime = self._runtime
        runtime.storage.save_retry_failure(controller.name, node.name, failure)
        decision = runtime.retry_action.on_failure(controller)
        if decision == retry.RETRY:
            return "retry", controller
        if decision == retry.REVERT_ALL:
            return "revert_all", None
        if decision != retry.REVERT:
            raise ValueError(
                f"Unknown retry decision {decision!r} from {controller.name}"
            )
        above = self._decide(controller, failure)
        if runtime.defer_reverts:
            return above
        if controller.retry is not None and above[0] != "revert":
            return above
        return "revert", controller

    def _mark(self, nodes: Iterable[Node], intention: str) -> None:
        runtime = self._runtime
        for node in nodes:
            detail = runtime.details[node.index]
            if detail.state == states.IGNORE or detail.intention == states.REVERT:
                continue
            if detail.intention == intention:
                continue
            detail.intention = intention
            runtime.storage.save_atom_detail(detail)
