"""A task importable by name, so the process driver can pickle it to workers.

Only the executor-driver workloads of ``workloads.py`` import this module
(TaskFlow's runs never load opsflow).
"""

from __future__ import annotations

from opsflow import task


class NoOp(task.Task):
    """Does nothing: what is measured is the driver's cost per task."""

    def execute(self) -> None:
        return None
