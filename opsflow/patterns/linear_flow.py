"""Linear flow: items run one after the other, in the order they were added."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from opsflow import flow

__all__ = ["Flow"]


class Flow(flow.ItemsFlow):
    """Runs its items in order; a failure reverts them in reverse order."""

    def iter_links(self) -> Iterator[tuple[Any, Any, dict[str, Any]]]:
        for before, after in zip(self._items, self._items[1:], strict=False):
            yield before, after, {flow.LINK_INVARIANT: True}

    def _provides_visible_after(self, item: Any) -> frozenset[str]:
        return frozenset(item.provides)
