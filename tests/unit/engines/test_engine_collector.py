"""The cyclic garbage collector around a run: what the run keeps is frozen
while it runs, everything is thawed when it ends, and a heap someone else
froze (or a disabled collector) is left as it is."""

from __future__ import annotations

import gc
import os
import weakref

import pytest

from opsflow import engines, task
from opsflow.engines import collector
from opsflow.patterns import linear_flow


class Cycle:
    """An object that refers to itself: only the cyclic collector frees it."""

    def __init__(self) -> None:
        self.me = self


class Look(task.Task):
    """Calls ``look()`` while it runs and provides what it returned."""

    def __init__(self, name: str, look) -> None:
        super().__init__(name=name, provides=name)
        self.look = look

    def execute(self):
        return self.look()


class Fails(task.Task):
    def execute(self):
        raise RuntimeError("planned")


def tracked(obj) -> bool:
    """Whether the collector scans ``obj`` (frozen objects it does not)."""
    return any(o is obj for o in gc.get_objects())


@pytest.fixture(autouse=True)
def nothing_frozen_around():
    """Each test starts and ends with nothing frozen and the collector on."""
    gc.enable()
    gc.unfreeze()
    yield
    assert gc.get_freeze_count() == 0
    assert gc.isenabled()


def run_looking(load, look):
    engine = load(linear_flow.Flow("f").add(Look("look", look)))
    engine.run()
    return engine.storage.fetch("look")


def test_what_a_run_holds_is_frozen_while_it_runs_and_thawed_after(load):
    seen = {}

    def look():
        seen["frozen"] = gc.get_freeze_count()
        # The compiled graph, built during the run.
        seen["nodes scanned"] = [n.name for n in engine.compilation if tracked(n)]
        return True

    engine = load(linear_flow.Flow("f").add(Look("look", look)))
    engine.run()

    assert seen["frozen"] > 0
    assert seen["nodes scanned"] == []
    assert gc.get_freeze_count() == 0
    assert all(map(tracked, engine.compilation))


def test_cyclic_garbage_made_during_a_run_is_collected_during_it(load):
    def look():
        dropped = weakref.ref(Cycle())
        gc.collect()
        return dropped() is None

    assert run_looking(load, look) is True


def test_cyclic_garbage_from_before_the_run_waits_for_its_end(load):
    dropped = weakref.ref(Cycle())

    def look():
        gc.collect()
        return dropped() is not None

    assert run_looking(load, look) is True
    gc.collect()
    assert dropped() is None


def test_a_failed_run_thaws_the_heap(load):
    engine = load(linear_flow.Flow("f").add(Fails("boom")))
    with pytest.raises(RuntimeError, match="planned"):
        engine.run()
    assert gc.get_freeze_count() == 0


def test_a_revert_freezes_and_thaws_as_a_run_does():
    counts = []

    class Records(task.Task):
        def execute(self):
            return 1

        def revert(self, **kwargs):
            counts.append(gc.get_freeze_count())

    engine = engines.load(linear_flow.Flow("g").add(Records("r")))
    engine.run()
    engine.revert()

    assert counts and counts[0] > 0
    assert gc.get_freeze_count() == 0


def test_a_heap_the_program_froze_is_left_as_it_is(load):
    mine = [Cycle()]
    gc.freeze()
    try:
        seen = {}

        def look():
            seen["nodes tracked"] = all(map(tracked, engine.compilation))
            return True

        engine = load(linear_flow.Flow("f").add(Look("look", look)))
        engine.run()
        still_frozen = not tracked(mine)
    finally:
        gc.unfreeze()
    assert seen["nodes tracked"] is True
    assert still_frozen


def test_a_disabled_collector_stays_disabled_and_nothing_is_frozen(load):
    gc.disable()
    try:
        during = run_looking(load, lambda: (gc.get_freeze_count(), gc.isenabled()))
        enabled_after = gc.isenabled()
    finally:
        gc.enable()
    assert during == (0, False)
    assert enabled_after is False


def test_a_flow_run_inside_a_task_leaves_the_outer_run_frozen(load):
    seen = {}

    def look():
        inner = engines.load(
            linear_flow.Flow("inner").add(Look("inner", gc.get_freeze_count))
        )
        inner.run()
        seen["frozen in inner run"] = inner.storage.fetch("inner")
        seen["outer nodes tracked"] = any(map(tracked, engine.compilation))
        return True

    engine = load(linear_flow.Flow("f").add(Look("look", look)))
    engine.run()

    assert seen["outer nodes tracked"] is False
    assert seen["frozen in inner run"] > 0
    assert gc.get_freeze_count() == 0


def test_objects_built_while_paused_inside_a_run_join_the_frozen_ones():
    with collector.frozen_for_run():
        with collector.paused():
            built = [Cycle()]
        inside = tracked(built)
        enabled_inside = gc.isenabled()
    assert inside is False
    assert enabled_inside is True
    assert tracked(built)


def test_objects_built_while_paused_outside_a_run_stay_collectable():
    with collector.paused():
        assert gc.isenabled() is False
        built = [Cycle()]
    assert gc.get_freeze_count() == 0
    assert tracked(built)


# eventlet, when something imported it (futurist does), warns on every fork.
@pytest.mark.filterwarnings(r"ignore:Using fork\(\) is a bad idea:DeprecationWarning")
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_a_process_forked_during_a_run_runs_flows_of_its_own_unfrozen():
    def look():
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: a run of its own, then the freeze count
            try:
                frozen = gc.get_freeze_count()
                inner = engines.load(
                    linear_flow.Flow("child").add(Look("c", lambda: 1))
                )
                inner.run()
                nodes_tracked = all(map(tracked, inner.compilation))
                report = (
                    f"{int(frozen > 0)},{int(nodes_tracked)},{gc.get_freeze_count()}"
                )
                os.write(write, report.encode())
            finally:
                os._exit(0)
        os.close(write)
        with os.fdopen(read) as pipe:
            report = pipe.read()
        os.waitpid(pid, 0)
        return report

    inherited, nodes_tracked, frozen_after = run_looking(engines.load, look).split(",")
    # The child inherited the parent's frozen heap and keeps it (its own
    # run does not thaw what it did not freeze), and its run's objects are
    # collectable: the child's runs leave a heap frozen by another alone.
    assert inherited == "1"
    assert nodes_tracked == "1"
    assert int(frozen_after) > 0


def test_a_freeze_ends_with_the_run_that_made_it():
    # Given a second run that starts while the first holds the freeze
    second = collector.frozen_for_run()
    with collector.frozen_for_run():
        assert gc.get_freeze_count() > 0
        second.__enter__()

    # Then the first one's end thaws the heap although the second still
    # runs (runs overlapping without end never keep a freeze forever)
    try:
        assert gc.get_freeze_count() == 0
    finally:
        second.__exit__(None, None, None)
    assert gc.get_freeze_count() == 0
