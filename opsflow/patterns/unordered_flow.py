"""Unordered flow: items are independent and may run at the same time.

The serial engine runs them in declaration order, so runs are reproducible.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from opsflow import flow

__all__ = ["Flow"]


class Flow(flow.ItemsFlow):
    """Independent items; none sees another's results."""

    def iter_links(self) -> Iterator[tuple[Any, Any, dict[str, Any]]]:
        return iter(())
