"""An immutable set that remembers insertion order (``OrderedSet``)."""

from __future__ import annotations

import collections.abc
from collections.abc import Iterable, Iterator
from typing import Any

__all__ = ["OrderedSet"]


class OrderedSet(collections.abc.Set, collections.abc.Hashable):  # type: ignore[type-arg]
    """A read-only set iterating in the order its items were first seen."""

    __slots__ = ("_items",)

    def __init__(self, iterable: Iterable[Any] | None = None) -> None:
        self._items: dict[Any, None] = dict.fromkeys(iterable or ())

    def __hash__(self) -> int:
        return self._hash()

    def __contains__(self, value: object) -> bool:
        return value in self._items

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._items)

    def __getstate__(self) -> list[Any]:
        return list(self._items)

    def __setstate__(self, items: list[Any]) -> None:
        self._items = dict.fromkeys(items)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({list(self._items)})"

    def copy(self) -> OrderedSet:
        """A new set with the same items."""
        return type(self)(self._items)

    def intersection(self, *sets: Iterable[Any]) -> OrderedSet:
        """Items of this set found in every one of ``sets``, in this set's order."""
        others = [set(other) for other in sets]
        return type(self)(i for i in self._items if all(i in o for o in others))

    def issuperset(self, other: Iterable[Any]) -> bool:
        return all(item in self._items for item in other)

    def issubset(self, other: Iterable[Any]) -> bool:
        return set(self._items).issubset(set(other))

    def difference(self, *sets: Iterable[Any]) -> OrderedSet:
        """Items of this set found in none of ``sets``, in this set's order."""
        excluded = set().union(*sets)
        return type(self)(item for item in self._items if item not in excluded)

    def union(self, *sets: Iterable[Any]) -> OrderedSet:
        """This set's items, then those of each of ``sets`` not yet seen."""
        merged = dict(self._items)
        for other in sets:
            merged.update(dict.fromkeys(other))
        return type(self)(merged)
