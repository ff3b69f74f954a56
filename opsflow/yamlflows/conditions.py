"""``when:`` on a graph link, turned into a TaskFlow-style decider.

A :class:`Condition` is a plain, picklable callable: the engine calls it
with ``history`` (the results of the link's source atoms, by atom name) and
it compares one stored value with the operand written in the file. Only
equality and membership exist; nothing from the file is ever evaluated.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Condition", "same"]

_MISSING = object()


def same(left: Any, right: Any) -> bool:
    """YAML-minded equality: ``true`` is not ``1`` and ``1`` is not ``"1"``."""
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left is right
    if isinstance(left, list | tuple) and isinstance(right, list | tuple):
        return len(left) == len(right) and all(
            same(a, b) for a, b in zip(left, right, strict=True)
        )
    if isinstance(left, Mapping) and isinstance(right, Mapping):
        return left.keys() == right.keys() and all(
            same(left[k], right[k]) for k in left
        )
    try:
        return bool(left == right)
    except Exception:
        return False


@dataclass(frozen=True)
class Condition:
    """True when the value ``atom`` stored (at ``key``) passes ``op``.

    ``whole`` means the atom's whole result; otherwise ``key`` is the index
    or mapping key its ``provides`` stores the value from.
    """

    atom: str
    op: str
    operand: Any
    whole: bool = True
    key: Any = None
    #: The stored value's name (``when: {value: NAME}``); None: the result.
    value_name: str | None = None

    def value(self, history: Mapping[str, Any]) -> Any:
        result = history.get(self.atom)
        if self.whole:
            return result
        try:
            return result[self.key]  # type: ignore[index]
        except (KeyError, IndexError, TypeError):
            return None

    def __call__(self, history: Mapping[str, Any]) -> bool:
        value = self.value(history)
        if self.op == "equals":
            return same(value, self.operand)
        if self.op == "not_equals":
            return not same(value, self.operand)
        found = any(same(value, item) for item in self.operand)
        return found if self.op == "in" else not found

    def __str__(self) -> str:
        """What is tested, as the plan names it: the value, else the result."""
        tested = self.value_name or f"the result of {self.atom}"
        return f"{tested} {self.op.replace('_', ' ')} {self.operand!r}"
