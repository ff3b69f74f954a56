"""The thread driver's workers end with the run, not a poll interval later.

futurist's idle workers look at their stop flag between waits of a second
on their queue, and the interpreter joins them at exit; the driver wakes
them when it stops, so nothing of the pool outlives the run.
"""

from __future__ import annotations

import threading

from opsflow import engines, task
from opsflow.patterns import unordered_flow

#: Well under futurist's 1 s idle poll: a worker still waiting for its poll
#: to end is still alive after this.
JOIN_WITHIN = 0.5


class Quick(task.Task):
    def execute(self) -> int:
        return 1


def test_no_worker_of_a_parallel_run_is_alive_once_it_has_stopped():
    before = set(threading.enumerate())
    flow = unordered_flow.Flow("quick").add(*(Quick(f"q{i}") for i in range(8)))
    engine = engines.load(flow, engine="parallel", executor="thread", max_workers=4)
    engine.run()
    assert engine.storage.get_flow_state() == "SUCCESS"

    left = [t for t in threading.enumerate() if t not in before]
    assert left, "the run used worker threads"
    for thread in left:
        thread.join(timeout=JOIN_WITHIN)
    assert [t for t in left if t.is_alive()] == []
