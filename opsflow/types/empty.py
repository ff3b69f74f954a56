"""One read-only empty mapping for the many objects that hold an empty one.

Most atoms rebind, provide and optionally take nothing, and most nodes of a
compiled flow read nothing from other atoms: an empty dict each is 64 bytes
and, at 100,000 atoms, megabytes. They share :data:`EMPTY_MAPPING` instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["EMPTY_MAPPING", "or_empty"]


class _EmptyMapping(dict):  # type: ignore[type-arg]
    """An empty dict that refuses changes (they would reach every holder);
    copies, deep copies and unpickled copies are the shared one again."""

    __slots__ = ()

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(
            "this empty mapping is shared and cannot be changed: give the owner "
            "a mapping of its own (for an atom: rebind=, provides=... when built)"
        )

    __setitem__ = __delitem__ = __ior__ = _refuse
    clear = pop = popitem = setdefault = update = _refuse

    def __reduce__(self) -> tuple[Callable[[], dict[Any, Any]], tuple[()]]:
        return _shared, ()

    def __copy__(self) -> dict[Any, Any]:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[Any, Any]:
        return self

    def __repr__(self) -> str:
        return "{}"


#: The shared empty mapping (an instance of ``dict``, equal to ``{}``).
EMPTY_MAPPING: dict[Any, Any] = _EmptyMapping()


def _shared() -> dict[Any, Any]:
    return EMPTY_MAPPING


def or_empty(mapping: dict[Any, Any]) -> dict[Any, Any]:
    """``mapping``, or the shared empty one in place of an empty one."""
    return mapping if mapping else EMPTY_MAPPING
