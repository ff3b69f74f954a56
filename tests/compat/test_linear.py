"""Linear flows behave the same on opsflow and on TaskFlow 6.5."""

from __future__ import annotations

import pytest

from .harness import Call, load_engine, run_flow

NAMES = ("a", "b", "c", "d")


def test_a_linear_flow_runs_every_task_in_order_and_succeeds(kit, engine_kind):
    # Given a linear flow whose tasks pass values along
    flow = kit.linear(
        "f",
        kit.task("a", provides="x"),
        kit.task("b", requires=["x"], provides="y"),
        kit.task("c", requires=["x", "y"]),
    )

    # When it runs
    outcome = run_flow(kit.lib, flow, engine_kind)

    # Then every task ran once, in order, and saw what came before it
    assert outcome.raised is None
    assert outcome.flow_state == "SUCCESS"
    assert outcome.atom_states == {"a": "SUCCESS", "b": "SUCCESS", "c": "SUCCESS"}
    assert outcome.results == {"x": "a-result", "y": "b-result"}
    assert kit.journal.calls == [
        Call("execute", "a", ()),
        Call("execute", "b", (("x", "a-result"),)),
        Call("execute", "c", (("x", "a-result"), ("y", "b-result"))),
    ]


@pytest.mark.parametrize("position", range(len(NAMES)))
def test_a_failing_linear_task_is_reverted_first_then_earlier_tasks_in_reverse(
    kit, engine_kind, position
):
    # Given a linear flow where the task at ``position`` raises
    failing = NAMES[position]
    tasks = [kit.task(n, fail=(n == failing)) for n in NAMES]
    flow = kit.linear("f", *tasks)

    # When it runs
    outcome = run_flow(kit.lib, flow, engine_kind)

    # Then run() re-raises the original error and the flow ends REVERTED
    assert outcome.raised == ("RuntimeError", f"{failing} failed")
    assert outcome.flow_state == "REVERTED"
    ran = list(NAMES[: position + 1])
    assert outcome.atom_states == {
        n: ("REVERTED" if n in ran else "PENDING") for n in NAMES
    }
    # And the failing task was reverted first, with its Failure as result,
    # then each earlier task in reverse order with its own result
    assert kit.journal.executed() == ran
    assert kit.journal.reverted() == ran[::-1]
    expected_reverts = [
        Call(
            "revert",
            n,
            (),
            ("Failure", "RuntimeError", f"{n} failed")
            if n == failing
            else f"{n}-result",
            (failing,),
        )
        for n in ran[::-1]
    ]
    assert [c for c in kit.journal.calls if c.kind == "revert"] == expected_reverts
    # And nothing is left in the results once everything is reverted
    assert outcome.results == {}


def test_revert_receives_the_same_arguments_as_execute(kit, engine_kind):
    # Given a consumer of two values that fails
    flow = kit.linear(
        "f",
        kit.task("a", provides="x"),
        kit.task("b", provides="y"),
        kit.task("c", requires=["x", "y"], fail=True),
    )

    # When it runs
    run_flow(kit.lib, flow, engine_kind, store={"z": 1})

    # Then revert got the execute arguments, the Failure and flow_failures
    (revert,) = kit.journal.of("revert", "c")
    assert revert.args == (("x", "a-result"), ("y", "b-result"))
    assert revert.result == ("Failure", "RuntimeError", "c failed")
    assert revert.flow_failures == ("c",)


def test_run_iter_yields_one_scheduling_round_per_linear_task(kit):
    # Given a linear flow of three tasks
    flow = kit.linear("f", *kit.tasks("a", "b", "c"))
    engine = kit.lib.engines.load(flow)

    # When it is driven through run_iter()
    seen = list(engine.run_iter())

    # Then it resumes once, has one round per task and ends SUCCESS
    assert seen == ["RESUMING"] + ["SCHEDULING", "WAITING", "ANALYZING"] * 3 + [
        "SUCCESS"
    ]


def test_run_iter_raises_the_original_error_after_reverting(kit):
    # Given a linear flow whose second task fails
    flow = kit.linear("f", kit.task("a"), kit.task("b", fail=True))
    engine = kit.lib.engines.load(flow)

    # When run_iter() is consumed
    seen = []
    with pytest.raises(RuntimeError, match="b failed"):
        for state in engine.run_iter():
            seen.append(state)

    # Then it yielded its way to REVERTED before raising
    assert seen[0] == "RESUMING"
    assert seen[-1] == "REVERTED"
    assert engine.storage.get_flow_state() == "REVERTED"


def test_a_reverted_flow_runs_again_from_the_start(kit, engine_kind):
    # Given a flow that failed and was reverted, once
    flow = kit.linear("f", kit.task("a", provides="x"), kit.task("b", fail=1))
    engine = load_engine(kit.lib, flow, engine=engine_kind)
    with pytest.raises(RuntimeError):
        engine.run()
    assert engine.storage.get_flow_state() == "REVERTED"

    # When the same engine runs again (the task now succeeds)
    engine.run()

    # Then every task ran again from the start and the flow succeeded
    assert kit.journal.steps() == [
        ("execute", "a"),
        ("execute", "b"),
        ("revert", "b"),
        ("revert", "a"),
        ("execute", "a"),
        ("execute", "b"),
    ]
    assert engine.storage.get_flow_state() == "SUCCESS"
    assert engine.storage.fetch_all() == {"x": "a-result"}


def test_progress_is_framed_by_zero_and_one_and_user_values_are_clamped(
    kit, engine_kind
):
    # Given a task reporting out-of-range progress, followed by a failure
    class Progressing(kit.lib.task.Task):
        def execute(self):
            for value in (0.25, 1.5, -0.5):
                self.update_progress(value)

        def revert(self, **kwargs):
            self.update_progress(0.5)

    progressing = Progressing("p")
    events = []
    progressing.notifier.register(
        kit.lib.task.EVENT_UPDATE_PROGRESS,
        lambda event_type, details: events.append(details["progress"]),
    )
    flow = kit.linear("f", progressing, kit.task("z", fail=True))

    # When the flow runs and reverts
    outcome = run_flow(kit.lib, flow, engine_kind)

    # Then execute and revert each report 0.0 first and 1.0 last, clamped inside
    assert outcome.flow_state == "REVERTED"
    assert events == [0.0, 0.25, 1.0, 0.0, 1.0, 0.0, 0.5, 1.0]


def test_a_task_without_revert_still_counts_as_reverted(kit, engine_kind):
    # Given a plain task that only defines execute, before a failing task
    class Plain(kit.lib.task.Task):
        def execute(self):
            return 7

    flow = kit.linear("f", Plain("plain", provides="seven"), kit.task("z", fail=True))

    # When the flow runs
    outcome = run_flow(kit.lib, flow, engine_kind)

    # Then the plain task ends REVERTED like any other
    assert outcome.atom_states == {"plain": "REVERTED", "z": "REVERTED"}
    assert outcome.raised == ("RuntimeError", "z failed")


def test_never_resolve_leaves_the_failure_unreverted(kit, engine_kind):
    # Given a failing middle task and the never_resolve option
    flow = kit.linear("f", kit.task("a"), kit.task("b", fail=True), kit.task("c"))

    # When it runs
    outcome = run_flow(kit.lib, flow, engine_kind, never_resolve=True)

    # Then nothing is reverted, the failure stays and is raised as is
    assert kit.journal.steps() == [("execute", "a"), ("execute", "b")]
    assert outcome.atom_states == {"a": "SUCCESS", "b": "FAILURE", "c": "PENDING"}
    assert outcome.flow_state == "FAILURE"
    assert outcome.raised == ("RuntimeError", "b failed")


def test_reset_puts_a_finished_flow_back_to_pending(kit, engine_kind):
    flow = kit.linear("f", kit.task("a"), kit.task("b"))
    engine = load_engine(kit.lib, flow, engine=engine_kind)
    engine.run()

    engine.reset()

    assert engine.storage.get_flow_state() == "PENDING"
    assert engine.storage.get_atom_state("a") == "PENDING"
    engine.run()
    assert kit.journal.executed() == ["a", "b", "a", "b"]
    assert engine.storage.get_flow_state() == "SUCCESS"


def test_revert_results_are_stored_and_missing_ones_are_not_found(kit, engine_kind):
    # Given a task whose revert returns a value
    class Undo(kit.lib.task.Task):
        def execute(self):
            return 1

        def revert(self, **kwargs):
            return "undone"

    flow = kit.linear("f", Undo("undo"), kit.task("ok"))
    engine = load_engine(kit.lib, flow, engine=engine_kind)
    engine.run()

    # When nothing was reverted, asking for a revert result is NotFound
    with pytest.raises(kit.lib.exceptions.NotFound):
        engine.storage.get_revert_result("undo")

    # And once a later failure reverts it, its revert result is stored
    flow = kit.linear("f2", Undo("undo"), kit.task("bad", fail=True))
    outcome = run_flow(kit.lib, flow, engine_kind)
    assert outcome.engine.storage.get_revert_result("undo") == "undone"


def test_statistics_after_a_run_count_what_completed(kit, engine_kind):
    # Given a linear flow whose second task fails
    flow = kit.linear("f", kit.task("a"), kit.task("b", fail=True))
    engine = load_engine(kit.lib, flow, engine=engine_kind)

    # When it has run (and reverted)
    with pytest.raises(RuntimeError):
        engine.run()

    # Then the engine statistics carry TaskFlow's keys: four completions
    # (two executes, two reverts), nothing left waiting, the one failure
    # the revert dealt with, and time spent per machine state
    stats = engine.statistics
    assert stats["completed"] == 4
    assert stats["incomplete"] == 0
    assert stats["awaiting"] == 0
    assert stats["discarded_failures"] == 1
    assert stats["active_for"] > 0
    assert {"scheduling", "waiting", "analyzing"} <= set(stats["seconds_per_state"])
