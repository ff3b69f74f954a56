"""How far a graph-flow decider's "no" reaches.

A decider is a callable on a ``graph_flow`` link, ``decider(history)``, where
``history`` maps the names of the atoms of the link's source item to their
results. When it returns False the link's target is not run (IGNORE), and so
is what lies beyond it, as far as the link's :class:`Depth` says.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

__all__ = ["Depth", "pick_widest"]


class Depth(enum.StrEnum):
    """What a False decision marks IGNORE besides the link's target."""

    #: The target and everything that runs after it, in the whole flow.
    ALL = "ALL"
    #: The target and what runs after it inside the graph flow of the link.
    FLOW = "FLOW"
    #: The target and the atoms directly after it.
    NEIGHBORS = "NEIGHBORS"
    #: The target only.
    ATOM = "ATOM"

    @classmethod
    def translate(cls, desired: Depth | str) -> Depth:  # type: ignore[override]
        """A ``Depth`` from a ``Depth`` or its (case-insensitive) name.

        ``TypeError`` for what is not a string, ``ValueError`` for an
        unknown name.
        """
        if isinstance(desired, cls):
            return desired
        if not isinstance(desired, str):
            raise TypeError(
                f"Decider depth must be a Depth or its name, not "
                f"{type(desired).__name__}: {desired!r}"
            )
        try:
            return cls(desired.upper())
        except ValueError:
            raise ValueError(
                f"Unknown decider depth {desired!r}; expected one of "
                f"{[d.value for d in cls]}"
            ) from None

    @property
    def breadth(self) -> int:
        """Wider depths compare larger: ATOM < NEIGHBORS < FLOW < ALL."""
        return _BREADTH[self]


def pick_widest(depths: Iterable[Depth]) -> Depth:
    """The widest of ``depths`` (``ValueError`` if empty or not all depths)."""
    chosen = list(depths)
    if not chosen or not all(isinstance(depth, Depth) for depth in chosen):
        raise ValueError(f"Expected one or more decider depths, not {chosen!r}")
    return max(chosen, key=lambda depth: depth.breadth)


_BREADTH = {Depth.ATOM: 0, Depth.NEIGHBORS: 1, Depth.FLOW: 2, Depth.ALL: 3}
