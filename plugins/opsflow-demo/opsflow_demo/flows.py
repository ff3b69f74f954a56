"""The ``demo`` flow factory (entry point ``opsflow.flows: demo``)."""

from __future__ import annotations

from opsflow.patterns import linear_flow
from opsflow_demo import tasks


def demo_flow(steps: int = 3) -> linear_flow.Flow:
    """Create a work dir, write a file, run a few steps, write a report.

    :param steps: how many work steps
    """
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        raise ValueError(f"steps must be a whole number >= 1, got {steps!r}")
    flow = linear_flow.Flow("demo")
    flow.add(tasks.CreateWorkdir(name="create_workdir"))
    flow.add(tasks.WriteFile(name="write_file"))
    for index in range(1, steps + 1):
        flow.add(tasks.Step(name=f"step_{index}"))
    flow.add(tasks.WriteReport(name="write_report"))
    return flow
