"""``--dry-run`` and ``--graph`` on the command line.

The plan and the pictures themselves live in :mod:`opsflow.views`; this
module picks the format, writes a picture, and turns what can
go wrong (a path that cannot be written, Graphviz missing) into one-line
errors with their exit codes.
"""

from __future__ import annotations

from typing import Any

from opsflow.views.plan import DrillPlan, PlannedStep, drill_plan, plan
from opsflow.views.stored import run_picture

__all__ = [
    "DrillPlan",
    "PlannedStep",
    "drill_plan",
    "plan",
    "run_picture",
    "write_graph",
]


def write_graph(path: str, picture: Any, fmt: str | None = None) -> str:
    """Write ``picture`` to ``path`` (``-`` is stdout); the format used.

    :raises UsageError: ``path`` cannot be written (exit 64).
    :raises Unavailable: SVG or PNG and Graphviz's ``dot`` is missing (69).
    """
    from opsflow.cli.exits import Unavailable, UsageError
    from opsflow.views import pictures

    chosen = pictures.format_for(path, fmt)
    try:
        pictures.write(path, picture, chosen)
    except pictures.DotMissing as exc:
        raise Unavailable(f"--graph {path}: {exc}") from exc
    except OSError as exc:
        raise UsageError(f"--graph {path}: {exc.strerror or exc}") from exc
    return chosen
