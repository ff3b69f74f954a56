"""Graph flow: items ordered by what they need and provide, plus explicit links.

Adding an item links it after the items providing what it requires and
before the items requiring what it provides. Two providers of one name are
an ``AmbiguousDependency``; a link that closes a cycle is a
``DependencyFailure``. A failed ``add``/``link`` leaves the graph unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from opsflow import deciders as deciders_mod
from opsflow import exceptions, flow

if TYPE_CHECKING:
    from opsflow.flow import Item
    from opsflow.retry import Retry

__all__ = ["Flow", "TargetedFlow"]


class Flow(flow.Flow):
    """Items with dependencies: inferred from provides/requires, or linked by hand."""

    def __init__(self, name: str, retry: Retry | None = None) -> None:
        super().__init__(name, retry)
        self._items: list[Any] = []
        self._index: dict[int, int] = {}  # id(item) -> position
        # position -> {successor position: metadata}
        self._succ: dict[int, dict[int, dict[str, Any]]] = {}
        self._pred: dict[int, set[int]] = {}
        self._providers: dict[str, list[int]] = {}
        self._consumers: dict[str, list[int]] = {}

    # -- building ------------------------------------------------------
    def add(
        self, *items: Item, resolve_requires: bool = True, resolve_existing: bool = True
    ) -> Flow:
        """Add items, inferring links from their requires/provides."""
        fresh = [item for item in dict.fromkeys(items) if id(item) not in self._index]
        if not fresh:
            return self
        first_new = len(self._items)
        added_providers: dict[str, list[int]] = {}
        for position, item in enumerate(fresh, start=first_new):
            for name in item.provides:
                added_providers.setdefault(name, []).append(position)

        def providers_of(name: str, consumer: int) -> list[int]:
            found = self._providers.get(name, []) + added_providers.get(name, [])
            return [p for p in found if p != consumer]

        def item_at(position: int) -> Any:
            if position < first_new:
                return self._items[position]
            return fresh[position - first_new]

        retry_provides = self._retry.provides if self._retry is not None else ()
        edges: list[tuple[int, int, str | None]] = []

        def link_consumer(consumer: int, name: str) -> None:
            found = providers_of(name, consumer)
            if len(found) > 1:
                names = sorted(item_at(p).name for p in found)
                raise exceptions.AmbiguousDependency(
                    f"Resolution error detected when adding {item_at(consumer).name!r}:"
                    f" {name!r} is provided by {names}"
                )
            if found:
                edges.append((found[0], consumer, name))

        if resolve_requires:
            for position, item in enumerate(fresh, start=first_new):
                for name in sorted(item.requires):
                    if name not in retry_provides:
                        link_consumer(position, name)
        if resolve_existing:
            for name in sorted(added_providers):
                for consumer in self._consumers.get(name, ()):
                    if name not in retry_provides:
                        link_consumer(consumer, name)
        self._insert(fresh, edges)
        return self

    def _insert(
        self, fresh: list[Any], edges: list[tuple[int, int, str | None]]
    ) -> None:
        first_new = len(self._items)
        self._items.extend(fresh)
        for position, item in enumerate(fresh, start=first_new):
            self._index[id(item)] = position
        try:
            self._add_edges(edges, None)
        except exceptions.DependencyFailure:
            for item in fresh:
                del self._index[id(item)]
            del self._items[first_new:]
            raise
        for position, item in enumerate(fresh, start=first_new):
            for name in item.provides:
                self._providers.setdefault(name, []).append(position)
            for name in item.requires:
                self._consumers.setdefault(name, []).append(position)

    def replace_item(self, old: Item, new: Item) -> None:
        """Put ``new`` where ``old`` is, keeping every link into and out of it.

        An opsflow addition (a revert drill wraps one step this way);
        ``new`` should need and provide what ``old`` did.

        :raises ValueError: ``old`` is not an item of this flow.
        """
        position = self._index.pop(id(old), None)
        if position is None:
            raise ValueError(f"{old!r} is not an item of flow {self.name!r}")
        self._items[position] = new
        self._index[id(new)] = position

    def link(
        self,
        u: Item,
        v: Item,
        decider: Callable[[dict[str, Any]], bool] | None = None,
        decider_depth: deciders_mod.Depth | str | None = None,
    ) -> Flow:
        """Run ``v`` after ``u``; with ``decider``, only when it returns True."""
        for item, direction in ((u, "from"), (v, "to")):
            if id(item) not in self._index:
                raise ValueError(f"Node '{item}' not found to link {direction}")
        if decider is not None and not callable(decider):
            raise ValueError("Decider boolean callback must be callable")
        if decider_depth is not None and decider is None:
            raise ValueError(
                "Decider depth requires a decider to be provided along with it"
            )
        metadata: dict[str, Any] = {flow.LINK_MANUAL: True}
        if decider is not None:
            metadata[flow.LINK_DECIDER] = decider
            metadata[flow.LINK_DECIDER_DEPTH] = deciders_mod.Depth.translate(
                deciders_mod.Depth.ALL if decider_depth is None else decider_depth
            )
        self._add_edges([(self._index[id(u)], self._index[id(v)], None)], metadata)
        return self

    def _add_edges(
        self,
        edges: list[tuple[int, int, str | None]],
        metadata: dict[str, Any] | None,
    ) -> None:
        """Add edges all or none: a cycle undoes every edge of this call."""
        undo: list[tuple[int, int, dict[str, Any] | None]] = []
        try:
            for u, v, reason in edges:
                targets = self._succ.setdefault(u, {})
                previous = targets.get(v)
                undo.append((u, v, None if previous is None else dict(previous)))
                meta = targets.setdefault(v, {})
                if metadata:
                    meta.update(metadata)
                if reason is not None:
                    meta[flow.LINK_REASONS] = meta.get(flow.LINK_REASONS, set()) | {
                        reason
                    }
                self._pred.setdefault(v, set()).add(u)
                if self._reaches(self._succ, v, u):
                    raise exceptions.DependencyFailure(
                        "No path through the items in the graph produces an ordering"
                        f" that will allow for logical edge traversal: linking "
                        f"{self._items[u].name!r} -> {self._items[v].name!r}"
                        " makes a cycle"
                    )
        except exceptions.DependencyFailure:
            for u, v, previous in reversed(undo):
                if previous is None:
                    self._succ[u].pop(v, None)
                    self._pred[v].discard(u)
                else:
                    self._succ[u][v] = previous
            raise

    @staticmethod
    def _reaches(succ: dict[int, dict[int, Any]], start: int, goal: int) -> bool:
        stack, seen = [start], {start}
        while stack:
            node = stack.pop()
            if node == goal:
                return True
            for nxt in succ.get(node, ()):
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
        return False

    # -- reading -------------------------------------------------------
    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._items)

    def iter_links(self) -> Iterator[tuple[Any, Any, dict[str, Any]]]:
        for u, targets in sorted(self._succ.items()):
            for v, metadata in sorted(targets.items()):
                yield self._items[u], self._items[v], metadata

    def successors_of(self, position: int) -> list[int]:
        """Positions of the items that run right after the item at ``position``."""
        return sorted(self._succ.get(position, ()))

    def predecessors_of(self, position: int) -> list[int]:
        """Positions of the items that run right before the item at ``position``."""
        return sorted(self._pred.get(position, ()))

    def _items_in_dependency_order(self) -> Iterator[Any]:
        remaining = {p: len(self._pred.get(p, ())) for p in range(len(self._items))}
        ready = [p for p, count in remaining.items() if count == 0]
        while ready:
            position = ready.pop(0)
            yield self._items[position]
            for nxt in self.successors_of(position):
                remaining[nxt] -= 1
                if remaining[nxt] == 0:
                    ready.append(nxt)

    @property
    def requires(self) -> frozenset[str]:
        """Names an item needs that no item linked before it provides."""
        retry_provides = set(self._retry.provides) if self._retry else set()
        needed = set(self._retry.requires) if self._retry is not None else set()
        kept = {id(item) for item in self}
        for position, item in enumerate(self._items):
            if id(item) not in kept:
                continue
            missing = set(item.requires) - retry_provides
            stack, seen = list(self._pred.get(position, ())), set()
            while missing and stack:
                pred = stack.pop()
                if pred not in seen:
                    seen.add(pred)
                    missing -= self._items[pred].provides
                    stack.extend(self._pred.get(pred, ()))
            needed |= missing
        return frozenset(needed)


class TargetedFlow(Flow):
    """A graph flow that runs only what one target item needs."""

    def __init__(self, name: str, retry: Retry | None = None) -> None:
        super().__init__(name, retry)
        self._target: Any = None

    def set_target(self, target: Item) -> None:
        """Run only ``target`` and the items it depends on."""
        if id(target) not in self._index:
            raise ValueError(f"Node '{target}' not found")
        self._target = target

    def replace_item(self, old: Item, new: Item) -> None:
        super().replace_item(old, new)
        if self._target is old:
            self._target = new

    def reset_target(self) -> None:
        """Run every item again."""
        self._target = None

    def _kept(self) -> set[int]:
        if self._target is None:
            return set(range(len(self._items)))
        keep, stack = set(), [self._index[id(self._target)]]
        while stack:
            position = stack.pop()
            if position not in keep:
                keep.add(position)
                stack.extend(self._pred.get(position, ()))
        return keep

    def __iter__(self) -> Iterator[Any]:
        kept = self._kept()
        return (item for p, item in enumerate(self._items) if p in kept)

    def __len__(self) -> int:
        return len(self._kept())

    def iter_links(self) -> Iterator[tuple[Any, Any, dict[str, Any]]]:
        kept = {id(item) for item in self}
        for u, v, metadata in super().iter_links():
            if id(u) in kept and id(v) in kept:
                yield u, v, metadata
