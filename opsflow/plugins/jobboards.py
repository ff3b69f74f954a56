"""``opsflow.jobboards``: where submitted runs wait (``[jobboard] driver``)."""

from __future__ import annotations

from opsflow.plugins.loader import EntryPoints, Namespace

__all__ = ["NAMESPACE", "namespace"]

NAMESPACE = "opsflow.jobboards"


def namespace(entry_points: EntryPoints | None = None) -> Namespace[object]:
    """The jobboard namespace over ``entry_points`` (a fresh table if None)."""
    return Namespace(NAMESPACE, entry_points=entry_points)
