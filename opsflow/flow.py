"""``Flow``: the base of patterns, a named container of atoms and flows.

Patterns (``opsflow.patterns``) say in which order their items run; the
compiler turns a tree of them into one flat execution graph.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:
    from opsflow.atom import Atom
    from opsflow.retry import Retry

    #: What a flow holds: atoms and other flows.
    Item: TypeAlias = "Atom | Flow"

__all__ = [
    "Flow",
    "ItemsFlow",
    "LINK_DECIDER",
    "LINK_DECIDER_DEPTH",
    "LINK_INVARIANT",
    "LINK_MANUAL",
    "LINK_REASONS",
]

#: Keys of the metadata attached to a link between two items.
#: The link is part of the pattern (linear flows: each item after the last).
LINK_INVARIANT = "invariant"
#: The link was made by ``graph_flow.Flow.link``.
LINK_MANUAL = "manual"
#: The value names that made the link (one item needs what the other provides).
LINK_REASONS = "reasons"
LINK_DECIDER = "decider"
LINK_DECIDER_DEPTH = "decider_depth"


class Flow:
    """A named set of items (atoms and flows) with an optional retry controller."""

    def __init__(self, name: str, retry: Retry | None = None) -> None:
        self._name = str(name)
        self._retry = retry
        if retry is not None and retry.name is None:
            retry.name = f"{self._name}_retry"

    @property
    def name(self) -> str:
        """The flow's name."""
        return self._name

    @property
    def retry(self) -> Retry | None:
        """The retry controller of this flow, or None."""
        return self._retry

    def add(self, *items: Item) -> Flow:
        """Add atoms or flows; returns the flow, so calls can be chained."""
        raise NotImplementedError

    def replace_item(self, old: Item, new: Item) -> None:
        """Put ``new`` where ``old`` is (an opsflow addition; see the patterns).

        :raises ValueError: ``old`` is not an item of this flow.
        """
        raise ValueError(f"{old!r} is not an item of flow {self.name!r}")

    def __len__(self) -> int:
        raise NotImplementedError

    def __iter__(self) -> Iterator[Any]:
        """The items, in declaration order."""
        raise NotImplementedError

    def iter_links(self) -> Iterator[tuple[Any, Any, dict[str, Any]]]:
        """``(u, v, metadata)``: item ``v`` runs only after item ``u``."""
        raise NotImplementedError

    def iter_nodes(self) -> Iterator[tuple[Any, dict[str, Any]]]:
        """``(item, metadata)`` pairs, in declaration order."""
        for item in self:
            yield item, {}

    @property
    def provides(self) -> frozenset[str]:
        """Every name an item of this flow (or its retry) provides."""
        names: set[str] = set()
        if self._retry is not None:
            names.update(self._retry.provides)
        for item in self:
            names.update(item.provides)
        return frozenset(names)

    @property
    def requires(self) -> frozenset[str]:
        """Names this flow needs from outside."""
        needed: set[str] = set()
        inner = set(self._retry.provides) if self._retry is not None else set()
        if self._retry is not None:
            needed.update(self._retry.requires)
        for item in self._items_in_dependency_order():
            needed.update(item.requires - inner)
            inner.update(self._provides_visible_after(item))
        return frozenset(needed)

    def _items_in_dependency_order(self) -> Iterator[Any]:
        return iter(self)

    def _provides_visible_after(self, item: Any) -> frozenset[str]:
        # Unordered items do not see each other's results; ordered patterns do.
        return frozenset()

    def __str__(self) -> str:
        kind = type(self).__module__.rsplit(".", 1)[-1]
        return f'"{kind}.{type(self).__name__}: {self.name}(len={len(self)})"'

    def __repr__(self) -> str:
        return f"<{type(self).__module__}.{type(self).__qualname__} {self}>"


class ItemsFlow(Flow):
    """A flow whose items are kept in declaration order (linear and unordered)."""

    def __init__(self, name: str, retry: Retry | None = None) -> None:
        super().__init__(name, retry)
        self._items: list[Any] = []
        self._present: set[int] = set()

    def add(self, *items: Item) -> ItemsFlow:
        for item in items:
            if id(item) not in self._present:  # adding an item twice keeps one
                self._present.add(id(item))
                self._items.append(item)
        return self

    def replace_item(self, old: Item, new: Item) -> None:
        """Put ``new`` where ``old`` is, in its place in the order.

        An opsflow addition (a revert drill wraps one step this way);
        ``new`` should need and provide what ``old`` did.

        :raises ValueError: ``old`` is not an item of this flow.
        """
        for position, item in enumerate(self._items):
            if item is old:
                self._items[position] = new
                self._present.discard(id(old))
                self._present.add(id(new))
                return
        raise ValueError(f"{old!r} is not an item of flow {self.name!r}")

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._items)
