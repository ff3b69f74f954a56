"""Unordered flow: items are independent and may run at the same time.

The serial engine runs them in declaration order, so runs are reproducible.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from opsflow import flow

__all__ = ["Flow"]


class Flow(flow.Flow):
    """Independent items; none sees another's results."""

    def __init__(self, name: str, retry: Any = None) -> None:
        super().__init__(name, retry)
        self._items: list[Any] = []
        self._present: set[int] = set()

    def add(self, *items: Any) -> Flow:
        for item in items:
            if id(item) not in self._present:  # adding an item twice keeps one
                self._present.add(id(item))
                self._items.append(item)
        return self

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._items)

    def iter_links(self) -> Iterator[tuple[Any, Any, dict[str, Any]]]:
        return iter(())
