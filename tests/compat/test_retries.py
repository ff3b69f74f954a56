"""Retry controllers: attempts, history, scoping and nesting.

TaskFlow's default is ``defer_reverts=False``; opsflow's is ``True``.
Differential scenarios pass the option explicitly to both libraries; the
opsflow default has its own test.
"""

from __future__ import annotations

import pytest

from .harness import Call, Kit, normalise, run_flow

FAILED_T = ("Failure", "RuntimeError", "t failed")


def history_of(engine, name):
    """A retry's history as (provided value, {atom: failure}) pairs."""
    history = engine.storage.get_retry_history(name)
    return [
        (normalise(provided), normalise(dict(failures)))
        for provided, failures in history
    ]


def subflow(kit, *tasks, retry):
    """a, then a retried subflow holding ``tasks``, then z."""
    return kit.linear(
        "f", kit.task("a"), kit.linear("sub", *tasks, retry=retry), kit.task("z")
    )


def test_times_reruns_only_its_subflow_until_it_succeeds(kit, engine_kind):
    # Given a task that fails its first two attempts under Times(3)
    retry = kit.lib.retry.Times(3, name="r")
    flow = subflow(kit, kit.task("t", fail=2), retry=retry)

    # When it runs
    outcome = run_flow(kit.lib, flow, engine_kind)

    # Then t was reverted and re-run twice, a and z ran once
    assert kit.journal.steps() == [
        ("execute", "a"),
        ("execute", "t"),
        ("revert", "t"),
        ("execute", "t"),
        ("revert", "t"),
        ("execute", "t"),
        ("execute", "z"),
    ]
    assert outcome.flow_state == "SUCCESS"
    assert set(outcome.atom_states.values()) == {"SUCCESS"}
    assert outcome.raised is None
    # And the history holds one entry per attempt with that attempt's failure
    assert history_of(outcome.engine, "r") == [
        (1, {"t": FAILED_T}),
        (2, {"t": FAILED_T}),
        (3, {}),
    ]


def test_an_exhausted_retry_without_deferred_reverts_reverts_only_its_subflow(
    kit, engine_kind
):
    """TaskFlow's old behaviour, kept by opsflow under defer_reverts=False."""
    # Given a task that always fails under Times(3)
    retry = kit.lib.retry.Times(3, name="r")
    flow = subflow(kit, kit.task("t", fail=True), retry=retry)

    # When it runs with defer_reverts=False
    outcome = run_flow(kit.lib, flow, engine_kind, defer_reverts=False)

    # Then there were 3 attempts in all, only the subflow was reverted, and
    # the flow still ends REVERTED and raises the task's error
    assert kit.journal.executed() == ["a", "t", "t", "t"]
    assert kit.journal.reverted() == ["t", "t", "t"]
    assert outcome.atom_states == {
        "a": "SUCCESS",
        "r": "REVERTED",
        "t": "REVERTED",
        "z": "PENDING",
    }
    assert outcome.flow_state == "REVERTED"
    assert outcome.raised == ("RuntimeError", "t failed")
    # And a reverted retry's history is cleared
    assert history_of(outcome.engine, "r") == []


def test_an_exhausted_retry_with_deferred_reverts_reverts_the_whole_flow(
    kit, engine_kind
):
    retry = kit.lib.retry.Times(3, name="r")
    flow = subflow(kit, kit.task("t", fail=True), retry=retry)

    outcome = run_flow(kit.lib, flow, engine_kind, defer_reverts=True)

    assert kit.journal.steps()[-2:] == [("revert", "t"), ("revert", "a")]
    assert kit.journal.executed() == ["a", "t", "t", "t"]
    assert outcome.atom_states == {
        "a": "REVERTED",
        "r": "REVERTED",
        "t": "REVERTED",
        "z": "PENDING",
    }
    assert outcome.flow_state == "REVERTED"
    assert outcome.raised == ("RuntimeError", "t failed")


@pytest.mark.parametrize("engine", ["serial", "parallel"])
def test_opsflow_reverts_the_whole_flow_after_an_exhausted_retry_by_default(
    opsflow_lib, engine
):
    """opsflow deviation: TaskFlow's default (defer_reverts=False) leaves a
    SUCCESS; opsflow's default is TaskFlow's defer_reverts=True behaviour."""
    kit = Kit(opsflow_lib)
    retry = opsflow_lib.retry.Times(2, name="r")
    flow = subflow(kit, kit.task("t", fail=True), retry=retry)

    outcome = run_flow(opsflow_lib, flow, engine)

    assert kit.journal.steps() == [
        ("execute", "a"),
        ("execute", "t"),
        ("revert", "t"),
        ("execute", "t"),
        ("revert", "t"),
        ("revert", "a"),
    ]
    assert outcome.atom_states["a"] == "REVERTED"
    assert outcome.flow_state == "REVERTED"


@pytest.fixture
def value_task(kit):
    """A task that needs ``v`` and fails unless it is 3."""
    journal = kit.journal

    class Value(kit.lib.task.Task):
        def execute(self, v):
            journal.add(Call("execute", self.name, (("v", v),)))
            if v != 3:
                raise ValueError(f"v={v}")
            return v * 10

    return Value


def test_for_each_tries_each_value_until_one_works(kit, value_task, engine_kind):
    retry = kit.lib.retry.ForEach([1, 2, 3, 4], name="r", provides="v")
    flow = kit.linear(
        "f", kit.linear("sub", value_task("t", provides="out"), retry=retry)
    )

    outcome = run_flow(kit.lib, flow, engine_kind)

    assert [c.args for c in kit.journal.calls] == [
        (("v", 1),),
        (("v", 2),),
        (("v", 3),),
    ]
    assert outcome.flow_state == "SUCCESS"
    assert outcome.results == {"v": 3, "out": 30}
    assert history_of(outcome.engine, "r") == [
        (1, {"t": ("Failure", "ValueError", "v=1")}),
        (2, {"t": ("Failure", "ValueError", "v=2")}),
        (3, {}),
    ]


def test_an_exhausted_for_each_reverts_and_raises_the_last_error(
    kit, value_task, engine_kind
):
    retry = kit.lib.retry.ForEach([1, 2], name="r", provides="v")
    flow = kit.linear("f", kit.linear("sub", value_task("t"), retry=retry))

    outcome = run_flow(kit.lib, flow, engine_kind, defer_reverts=True)

    assert [c.args for c in kit.journal.calls] == [(("v", 1),), (("v", 2),)]
    assert outcome.flow_state == "REVERTED"
    assert outcome.raised == ("ValueError", "v=2")
    assert outcome.atom_states == {"r": "REVERTED", "t": "REVERTED"}


def test_parameterized_for_each_takes_its_values_from_storage(
    kit, value_task, engine_kind
):
    retry = kit.lib.retry.ParameterizedForEach(
        name="r", provides="v", rebind=["values"]
    )
    flow = kit.linear("f", kit.linear("sub", value_task("t"), retry=retry))

    outcome = run_flow(kit.lib, flow, engine_kind, store={"values": [5, 3, 9]})

    assert [c.args for c in kit.journal.calls] == [(("v", 5),), (("v", 3),)]
    assert outcome.flow_state == "SUCCESS"
    assert [p for p, _ in history_of(outcome.engine, "r")] == [5, 3]


def nested(kit, revert_all):
    """a, then outer(Times 2): o1, inner(Times 2, revert_all): t (fails)."""
    retry = kit.lib.retry
    inner = kit.linear(
        "inner",
        kit.task("t", fail=True),
        retry=retry.Times(2, name="ri", revert_all=revert_all),
    )
    outer = kit.linear("outer", kit.task("o1"), inner, retry=retry.Times(2, name="ro"))
    return kit.linear("f", kit.task("a"), outer)


def test_an_exhausted_inner_retry_asks_the_outer_retry_to_rerun_its_flow(
    kit, engine_kind
):
    # Given nested Times(2) retries around an always-failing task
    flow = nested(kit, revert_all=False)

    # When it runs (whole-flow revert at the end on both libraries)
    outcome = run_flow(kit.lib, flow, engine_kind, defer_reverts=True)

    # Then each outer attempt holds two inner attempts, then all is reverted
    inner_round = [
        ("execute", "t"),
        ("revert", "t"),
        ("execute", "t"),
        ("revert", "t"),
    ]
    assert kit.journal.steps() == (
        [("execute", "a"), ("execute", "o1")]
        + inner_round
        + [("revert", "o1"), ("execute", "o1")]
        + inner_round
        + [("revert", "o1"), ("revert", "a")]
    )
    assert set(outcome.atom_states.values()) == {"REVERTED"}
    assert outcome.flow_state == "REVERTED"
    assert outcome.raised == ("RuntimeError", "t failed")


@pytest.mark.parametrize("defer_reverts", [False, True])
def test_revert_all_skips_the_outer_retry_and_reverts_everything(
    kit, engine_kind, defer_reverts
):
    # Given an inner retry that answers REVERT_ALL when exhausted
    flow = nested(kit, revert_all=True)

    # When it runs
    outcome = run_flow(kit.lib, flow, engine_kind, defer_reverts=defer_reverts)

    # Then the outer retry never re-ran its flow: everything is reverted
    assert kit.journal.steps() == [
        ("execute", "a"),
        ("execute", "o1"),
        ("execute", "t"),
        ("revert", "t"),
        ("execute", "t"),
        ("revert", "t"),
        ("revert", "o1"),
        ("revert", "a"),
    ]
    assert set(outcome.atom_states.values()) == {"REVERTED"}
    assert outcome.flow_state == "REVERTED"
    assert outcome.raised == ("RuntimeError", "t failed")


@pytest.mark.parametrize(
    ("retry_name", "a_state"),
    [("AlwaysRevert", "SUCCESS"), ("AlwaysRevertAll", "REVERTED")],
)
def test_always_revert_retries_decide_without_retrying(
    kit, engine_kind, retry_name, a_state
):
    retry = getattr(kit.lib.retry, retry_name)(name="r")
    flow = kit.linear(
        "f", kit.task("a"), kit.linear("sub", kit.task("t", fail=True), retry=retry)
    )

    outcome = run_flow(kit.lib, flow, engine_kind, defer_reverts=False)

    assert kit.journal.executed() == ["a", "t"]
    assert outcome.atom_states["a"] == a_state
    assert outcome.atom_states["t"] == "REVERTED"
    assert outcome.flow_state == "REVERTED"
    assert outcome.raised == ("RuntimeError", "t failed")


def test_a_retry_in_one_branch_leaves_a_parallel_branch_alone(kit, engine_kind):
    # Given an unordered flow: a retried branch next to a plain task
    retry = kit.lib.retry.Times(3, name="r")
    flow = kit.unordered(
        "u",
        kit.linear("sub", kit.task("t", fail=2), retry=retry),
        kit.task("other"),
    )

    # When it runs
    outcome = run_flow(kit.lib, flow, engine_kind)

    # Then only the retried branch re-ran and the flow succeeded
    assert kit.journal.executed().count("other") == 1
    assert kit.journal.executed().count("t") == 3
    assert "other" not in kit.journal.reverted()
    assert outcome.flow_state == "SUCCESS"


@pytest.mark.parametrize("engine", ["serial", "parallel"])
def test_opsflow_forgets_a_failure_its_retry_recovered_from(opsflow_lib, engine):
    """opsflow difference: TaskFlow 6.5 keeps the
    failure of a retried-away attempt in its failure cache, so when a later
    task fails it passes that stale failure in flow_failures, lists it in
    get_execute_failures() and raises a WrappedFailure of both. opsflow only
    reports failures that still stand."""
    # Given t fails once and recovers under Times(2), then z fails
    kit = Kit(opsflow_lib)
    flow = kit.linear(
        "f",
        kit.task("a"),
        kit.linear(
            "sub",
            kit.task("t", fail=1),
            retry=opsflow_lib.retry.Times(2, name="r"),
        ),
        kit.task("z", fail=True),
    )

    # When it runs
    outcome = run_flow(opsflow_lib, flow, engine)

    # Then only z's failure is raised, reported and handed to reverts
    assert outcome.raised == ("RuntimeError", "z failed")
    assert outcome.flow_state == "REVERTED"
    assert set(outcome.engine.storage.get_execute_failures()) == {"z"}
    reverts = [c for c in kit.journal.calls if c.kind == "revert"]
    assert [(c.name, c.flow_failures) for c in reverts] == [
        ("t", ("t",)),
        ("z", ("z",)),
        ("t", ("z",)),
        ("a", ("z",)),
    ]


def test_taskflow_raises_a_recovered_failure_again_when_a_later_task_fails(
    taskflow_lib, engine_kind
):
    """The TaskFlow 6.5 behaviour opsflow does not copy (see the test above)."""
    kit = Kit(taskflow_lib)
    flow = kit.linear(
        "f",
        kit.task("a"),
        kit.linear(
            "sub",
            kit.task("t", fail=1),
            retry=taskflow_lib.retry.Times(2, name="r"),
        ),
        kit.task("z", fail=True),
    )
    outcome = run_flow(taskflow_lib, flow, engine_kind, defer_reverts=True)
    assert outcome.raised == (
        "WrappedFailure",
        (("RuntimeError", "t failed"), ("RuntimeError", "z failed")),
    )


@pytest.mark.parametrize("kind", ["ForEach", "ParameterizedForEach"])
def test_a_for_each_retry_with_nothing_to_try_fails_and_reverts_the_flow(
    kit, engine_kind, kind
):
    # Given a ForEach (or ParameterizedForEach) retry with no values at all
    retry = kit.lib.retry
    if kind == "ForEach":
        controller = retry.ForEach([], name="r", provides="v")
    else:
        controller = retry.ParameterizedForEach(name="r", provides="v", rebind=["vals"])
    flow = kit.linear(
        "f",
        kit.task("a"),
        kit.linear("sub", kit.task("t", requires=["v"]), retry=controller),
    )

    # When it runs
    outcome = run_flow(
        kit.lib, flow, engine_kind, store={"vals": []}, defer_reverts=True
    )

    # Then the retry's own execute fails with NotFound, t never runs, the
    # retry and a are reverted and run() raises that NotFound
    assert outcome.raised[0] == "NotFound"
    assert outcome.atom_states == {"a": "REVERTED", "r": "REVERTED", "t": "PENDING"}
    assert outcome.flow_state == "REVERTED"
    assert kit.journal.steps() == [("execute", "a"), ("revert", "a")]


def test_a_retry_whose_execute_raises_reverts_the_flow_with_that_error(
    kit, engine_kind
):
    retry = kit.lib.retry

    class Broken(retry.Retry):
        def execute(self, history, *args, **kwargs):
            raise KeyError("retry execute broke")

        def on_failure(self, history, *args, **kwargs):
            return retry.RETRY

    flow = kit.linear(
        "f", kit.task("a"), kit.linear("sub", kit.task("t"), retry=Broken(name="r"))
    )

    outcome = run_flow(kit.lib, flow, engine_kind, defer_reverts=True)

    assert outcome.raised == ("KeyError", "'retry execute broke'")
    assert outcome.atom_states == {"a": "REVERTED", "r": "REVERTED", "t": "PENDING"}
    assert outcome.flow_state == "REVERTED"


def test_a_retry_whose_revert_raises_ends_revert_failure(kit, engine_kind):
    retry = kit.lib.retry

    class Unrevertable(retry.Times):
        def revert(self, history, *args, **kwargs):
            raise KeyError("retry revert broke")

    flow = kit.linear(
        "f",
        kit.task("a"),
        kit.linear("sub", kit.task("t", fail=True), retry=Unrevertable(2, name="r")),
    )

    outcome = run_flow(kit.lib, flow, engine_kind, defer_reverts=True)

    # Both attempts ran; the retry could not be reverted, so a (which it
    # depends on) stays SUCCESS and the flow ends FAILURE with that error
    assert kit.journal.steps() == [
        ("execute", "a"),
        ("execute", "t"),
        ("revert", "t"),
        ("execute", "t"),
        ("revert", "t"),
    ]
    assert outcome.atom_states == {
        "a": "SUCCESS",
        "r": "REVERT_FAILURE",
        "t": "REVERTED",
    }
    assert outcome.flow_state == "FAILURE"
    assert outcome.raised == ("KeyError", "'retry revert broke'")


@pytest.mark.parametrize("engine", ["serial", "parallel"])
def test_opsflow_reverts_the_flow_when_a_retry_cannot_decide(opsflow_lib, engine):
    """opsflow difference: when a retry's on_failure() raises, TaskFlow's
    engine stops on the spot (t stays FAILURE, a SUCCESS, nothing reverted);
    opsflow reverts what ran, then ends FAILURE raising the on_failure error."""
    retry = opsflow_lib.retry

    class Undecided(retry.Retry):
        def execute(self, history, *args, **kwargs):
            return 1

        def on_failure(self, history, *args, **kwargs):
            raise KeyError("on_failure broke")

    kit = Kit(opsflow_lib)
    flow = kit.linear(
        "f",
        kit.task("a"),
        kit.linear("sub", kit.task("t", fail=True), retry=Undecided(name="r")),
    )

    outcome = run_flow(opsflow_lib, flow, engine)

    assert outcome.raised == ("KeyError", "'on_failure broke'")
    assert outcome.flow_state == "FAILURE"
    assert kit.journal.reverted() == ["t", "a"]
