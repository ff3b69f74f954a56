"""Selector: which atoms may start now, found incrementally.

After an atom finishes, only its neighbours can have become ready: its
successors when it executed, its predecessors when it reverted. The
selector checks just those, so a run costs time linear in its size.

* An atom may **execute** when it is PENDING with intention EXECUTE and
  every predecessor succeeded (or was ignored) and is not being undone.
* An atom may **revert** (or, for a retry controller, **retry**) when
  every successor is PENDING, REVERTED or IGNORE: never before what
  depends on it. A successor stuck in REVERT_FAILURE therefore keeps
  everything it depends on from being reverted, and nothing else.

The deciders of graph-flow links vote when their target becomes ready; a
"no" marks the target (and what lies under it, by depth) IGNORE.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from opsflow import states
from opsflow.deciders import Depth

if TYPE_CHECKING:
    from opsflow.engines.compiler import Decider, Node
    from opsflow.engines.runtime import Runtime

__all__ = ["Selector"]

_SUCCESS = states.SUCCESS
_IGNORE = states.IGNORE
_PENDING = states.PENDING
_EXECUTE = states.EXECUTE
_REVERT = states.REVERT
_RETRY = states.RETRY
_RAN_OR_IGNORED = frozenset({states.SUCCESS, states.IGNORE})
_UNDONE_OR_NEVER_RAN = frozenset({states.PENDING, states.REVERTED, states.IGNORE})
#: States an atom to be reverted may be in (REVERTING: caught by a crash).
_REVERTIBLE = frozenset({states.SUCCESS, states.FAILURE, states.REVERTING})


class Selector:
    """Answers "what may start now?" looking only at what just changed."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._details = runtime.details

    # -- single checks -----------------------------------------------------
    def may_execute(self, node: Node) -> bool:
        detail = self._details[node.index]
        if detail.intention != _EXECUTE:
            return False
        if detail.state != _PENDING and not (
            node.is_retry and detail.state == states.RETRYING
        ):
            return False
        details = self._details
        for pred in node.predecessors:
            pred_detail = details[pred.index]
            if pred_detail.state == _IGNORE:
                continue
            if pred_detail.state != _SUCCESS or pred_detail.intention != _EXECUTE:
                return False
        return True

    def may_revert(self, node: Node) -> bool:
        """Revert, or retry for a controller whose intention is RETRY."""
        if node.index in self._runtime.running_late:
            return False  # its execute timed out but has not stopped yet
        detail = self._details[node.index]
        if detail.intention == _REVERT:
            if detail.state not in _REVERTIBLE:
                return False
        elif detail.intention != _RETRY or detail.state != _SUCCESS:
            return False
        return self._successors_settled(node)

    def _successors_settled(self, node: Node) -> bool:
        """Whether nothing after ``node`` still needs undoing.

        Ignored atoms are looked through: what lies beyond them still
        depends on ``node``.
        """
        details = self._details
        for succ in node.successors:
            state = details[succ.index].state
            if state not in _UNDONE_OR_NEVER_RAN:
                return False
            if state == _IGNORE and not self._successors_settled(succ):
                return False
        return True

    def _revert_candidates_before(self, node: Node) -> Sequence[Node]:
        """Predecessors of ``node``, looking through ignored atoms."""
        details = self._details
        if all(details[pred.index].state != _IGNORE for pred in node.predecessors):
            return node.predecessors  # nothing to look through (most atoms)
        found: list[Node] = []
        stack = list(node.predecessors)
        seen: set[int] = set()
        while stack:
            pred = stack.pop()
            if pred.index in seen:
                continue
            seen.add(pred.index)
            if self._details[pred.index].state == _IGNORE:
                stack.extend(pred.predecessors)
            else:
                found.append(pred)
        return found

    # -- incremental selection ---------------------------------------------
    def ready_after(self, node: Node) -> list[Node]:
        """Atoms that may start now that ``node`` has finished what it was doing."""
        detail = self._details[node.index]
        state = detail.state
        if state == states.REVERTED:
            candidates = self._revert_candidates_before(node)
            return [pred for pred in candidates if self.may_revert(pred)]
        if detail.intention in (_REVERT, _RETRY):
            return [node] if self.may_revert(node) else []
        if state in (_SUCCESS, _IGNORE):
            return self.ready_to_execute(node.successors)
        return []

    def ready_to_revert(self, nodes: Iterable[Node]) -> list[Node]:
        """Those of ``nodes`` that may revert (or retry) now."""
        return [node for node in nodes if self.may_revert(node)]

    def ready_to_execute(self, nodes: Iterable[Node]) -> list[Node]:
        """Those of ``nodes`` that may execute now, after their deciders voted."""
        ready: list[Node] = []
        for node in nodes:
            if not self.may_execute(node):
                continue
            ignored = self._vote(node) if node.deciders else None
            if ignored is None:
                ready.append(node)
            else:
                ready.extend(self._after_ignoring(ignored))
        return ready

    def scan(self) -> list[Node]:
        """Every atom that may start now (used once, when a run resumes).

        Each atom is first sifted with one look at it (the checks' first
        conditions): most fail it, a fresh run's all but its roots.
        """
        details = self._details
        nodes = self._runtime.nodes
        may_undo = [n for n in nodes if details[n.index].intention != _EXECUTE]
        may_run = [
            n
            for n in nodes
            if not n.predecessors
            or details[n.predecessors[0].index].state in _RAN_OR_IGNORED
        ]
        return self.ready_to_revert(may_undo) + self.ready_to_execute(may_run)

    # -- deciders -----------------------------------------------------------
    def _vote(self, node: Node) -> list[Node] | None:
        """None when every decider says yes, else the atoms now ignored.

        Every decider of ``node`` sees the same history: the results of the
        sources of all its links that ran.
        """
        details = self._details
        storage = self._runtime.storage
        history = {
            source.name: storage.get(source.name)
            for decider in node.deciders
            for source in decider.history_from
            if details[source.index].state == _SUCCESS
        }
        vetoes: list[Decider] = []
        for decider in node.deciders:
            sources = decider.history_from
            if sources and all(details[s.index].state == _IGNORE for s in sources):
                continue  # an ignored source atom has no result to judge
            if not decider.function(dict(history)):
                vetoes.append(decider)
        if not vetoes:
            return None
        widest = max(vetoes, key=lambda d: d.depth.breadth)
        ignored = self._ignored_by(widest, vetoes)
        self._ignore(ignored)
        return ignored

    def _ignored_by(self, widest: Decider, vetoes: list[Decider]) -> list[Node]:
        targets: dict[int, Node] = {}
        for decider in vetoes:
            targets.update((n.index, n) for n in decider.targets)
        depth = widest.depth
        if depth == Depth.ATOM:
            return list(targets.values())
        # ALL reaches everything after the target. NEIGHBORS (one step) and
        # FLOW (every step) reach only atoms of the target's own flow: not
        # into sibling subflows, not out of it.
        stack = list(targets.values())
        while stack:
            node = stack.pop()
            home = node.path[-1][0]
            for succ in node.successors:
                if succ.index in targets:
                    continue
                if depth != Depth.ALL and succ.path[-1][0] is not home:
                    continue
                targets[succ.index] = succ
                if depth != Depth.NEIGHBORS:
                    stack.append(succ)
        return list(targets.values())

    def _ignore(self, nodes: list[Node]) -> None:
        runtime = self._runtime
        for node in sorted(nodes, key=lambda n: n.index):
            detail = self._details[node.index]
            if detail.state == _PENDING:
                runtime.action_for(node).change_state(node, _IGNORE)
                runtime.storage.set_atom_intention(node.name, _IGNORE)

    def _after_ignoring(self, ignored: list[Node]) -> list[Node]:
        """Atoms made ready because the ``ignored`` ones no longer hold them back."""
        seen: set[int] = set()
        nexts: list[Node] = []
        for each in ignored:
            for succ in each.successors:
                if (
                    succ.index not in seen
                    and self._details[succ.index].state == _PENDING
                ):
                    seen.add(succ.index)
                    nexts.append(succ)
        return self.ready_to_execute(nexts)
