"""Runtime: the stages of one engine, wired together once per run.

It owns what every stage shares (the compiled nodes, their details in
storage, the notifier, the executor, the options) and builds the actions,
selector, completer and scheduler with typed references to it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from opsflow import exceptions, states
from opsflow.atom import WHOLE_RESULT
from opsflow.engines.actions import RetryAction, TaskAction
from opsflow.engines.compiler import Compilation, Node
from opsflow.engines.completer import Completer
from opsflow.engines.scheduler import Scheduler
from opsflow.engines.selector import Selector
from opsflow.executors.base import TaskExecutor
from opsflow.persistence import models
from opsflow.storage import Storage, extract
from opsflow.types.failure import Failure
from opsflow.types.notifier import Notifier

__all__ = ["Runtime"]


class Runtime:
    """Everything one run needs, built from a compilation and a storage."""

    def __init__(
        self,
        compilation: Compilation,
        storage: Storage,
        atom_notifier: Notifier,
        executor: TaskExecutor,
        defer_reverts: bool = True,
        never_resolve: bool = False,
        task_timeout: float | None = None,
    ) -> None:
        self.compilation = compilation
        self.storage = storage
        self.atom_notifier = atom_notifier
        self.executor = executor
        self.defer_reverts = defer_reverts
        self.never_resolve = never_resolve
        self.nodes: tuple[Node, ...] = tuple(compilation)
        self.details: list[models.AtomDetail] = storage.atom_details(compilation.order)
        #: Execute failures standing now, kept up to date by the completer.
        self.failed: dict[str, Failure] = {
            d.name: d.failure for d in self.details if d.failure is not None
        }
        #: Atoms failed by their deadline whose execute is still running.
        self.running_late: set[int] = set()
        self.task_action = TaskAction(self)
        self.retry_action = RetryAction(self)
        self.selector = Selector(self)
        self.completer = Completer(self)
        self.scheduler = Scheduler(self, default_timeout=task_timeout)

    def action_for(self, node: Node) -> TaskAction | RetryAction:
        return self.retry_action if node.is_retry else self.task_action

    def execute_failures(self) -> dict[str, Failure]:
        """``flow_failures`` as reverts receive it."""
        return dict(self.failed)

    def fetch_args(
        self, node: Node, mapping: Mapping[str, str], optional: Mapping[str, str]
    ) -> dict[str, Any]:
        """Arguments for ``node``.

        Sources, first found wins: the atom's own ``inject``, values injected
        for this atom in storage, the flow's store, then its providers.
        """
        if not mapping:
            return {}
        inject = node.atom.inject
        storage = self.storage
        details = self.details
        atom_injected = (
            storage.atom_injected(node.name) if storage.has_atom_injections else None
        )
        arguments: dict[str, Any] = {}
        for param, name in mapping.items():
            if inject and name in inject:
                arguments[param] = inject[name]
                continue
            if atom_injected and name in atom_injected:
                arguments[param] = atom_injected[name]
                continue
            found, value = storage.injected(name)
            if found:
                arguments[param] = value
                continue
            for provider in node.providers.get(name, ()):
                detail = details[provider.index]
                if detail.state == states.SUCCESS:
                    result = (
                        storage.get(provider.name)
                        if provider.is_retry
                        else detail.results
                    )
                    key = provider.atom.save_as[name]
                    arguments[param] = (
                        result
                        if key is WHOLE_RESULT
                        else extract(result, key, provider.name, name)
                    )
                    break
            else:
                if param in optional:
                    continue
                raise exceptions.NotFound(
                    f"Mapped argument {param!r} <= {name!r} of {node.name!r} was not"
                    " produced by any accessible provider"
                )
        return arguments

    def missing_requirements(self) -> dict[str, set[str]]:
        """``{atom: names}`` that neither inject, store nor a visible provider gives."""
        missing: dict[str, set[str]] = {}
        storage = self.storage
        for node in self.nodes:
            atom = node.atom
            if not atom.rebind and not atom.revert_rebind:
                continue  # needs nothing
            atom_injected = None
            for mapping in (atom.rebind, atom.revert_rebind):
                for param, name in mapping.items():
                    # A provider is what most names have: looked at first.
                    if node.providers.get(name) or (
                        param in atom.optional_mapping
                        or param in atom.revert_optional_mapping
                    ):
                        continue
                    if atom_injected is None:
                        atom_injected = storage.atom_injected(node.name)
                    if atom.inject and name in atom.inject or name in atom_injected:
                        continue
                    if not storage.injected(name)[0]:
                        missing.setdefault(node.name, set()).add(name)
        return missing

    def reset(self, nodes: Iterable[Node]) -> None:
        """Make ``nodes`` PENDING with intention EXECUTE and no outcome.

        Each atom that was not PENDING already is announced PENDING.
        """
        for node in nodes:
            detail = self.details[node.index]
            old_state = detail.state
            detail.reset()
            self.failed.pop(node.name, None)
            self.storage.save_atom_detail(detail)
            if old_state != states.PENDING:
                self.action_for(node).announce(node, states.PENDING, old_state)

    def retry_scope(self, controller: Node) -> list[Node]:
        """What a retry of ``controller`` undoes and runs again.

        Its subflow, and every atom after the controller that started since
        (outside the subflow, an atom that ran on its results): they cannot
        stand once the subflow is undone. Ignored atoms outside the subflow
        stay ignored.
        """
        inside = {node.index for node in controller.subflow}
        scope = list(controller.subflow)
        seen = set(inside)
        stack = [
            succ
            for node in (controller, *controller.subflow)
            for succ in node.successors
        ]
        while stack:
            node = stack.pop()
            if node.index in seen:
                continue
            seen.add(node.index)
            if self.details[node.index].state not in (states.PENDING, states.IGNORE):
                scope.append(node)
            stack.extend(node.successors)
        return scope

    def is_success(self) -> bool:
        return all(d.state in (states.SUCCESS, states.IGNORE) for d in self.details)
