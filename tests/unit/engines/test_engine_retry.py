"""Retry controllers and their scope."""

from __future__ import annotations

import pytest
from enginekit import Boom, Needs, Step

from opsflow import exceptions, retry, states, task
from opsflow.executors.synchronous import SynchronousDriver
from opsflow.patterns import linear_flow, unordered_flow


def _failures_by_name(outcomes):
    return {name: fail.exception_str for name, fail in outcomes.items()}


def test_times_n_makes_n_attempts_in_all(load, rec):
    flow = linear_flow.Flow("sub", retry=retry.Times(3, name="r")).add(
        Step("prep", rec), Step("t", rec, fail=True)
    )
    engine = load(flow)

    with pytest.raises(Boom):
        engine.run()

    assert rec.count("execute", "t") == 3
    assert rec.count("revert", "t") == 3
    # the subflow is reverted before each new attempt and at the end
    assert rec.count("execute", "prep") == 3
    assert rec.count("revert", "prep") == 3
    assert engine.storage.get_flow_state() == states.REVERTED


def test_a_retry_that_succeeds_reruns_only_its_own_subflow(load, rec):
    flow = linear_flow.Flow("outer").add(
        Step("before", rec),
        linear_flow.Flow("sub", retry=retry.Times(3, name="r")).add(
            Step("prep", rec), Step("t", rec, fail_first=2)
        ),
        Step("after", rec),
    )
    engine = load(flow)

    engine.run()

    assert rec.count("execute", "before") == 1
    assert "before" not in rec.names("revert")
    assert rec.count("execute", "prep") == 3
    assert rec.count("revert", "prep") == 2
    assert rec.count("execute", "t") == 3
    assert rec.count("execute", "after") == 1
    assert engine.storage.get_flow_state() == states.SUCCESS
    assert engine.storage.get_atom_state("r") == states.SUCCESS


def test_exhausted_retry_without_parent_reverts_the_whole_flow_by_default(load, rec):
    flow = linear_flow.Flow("outer").add(
        Step("before", rec),
        linear_flow.Flow("sub", retry=retry.Times(2, name="r")).add(
            Step("t", rec, fail=True)
        ),
    )
    engine = load(flow)

    with pytest.raises(Boom):
        engine.run()

    assert rec.count("execute", "t") == 2
    assert rec.names("revert")[-1] == "before"
    assert engine.storage.get_atom_state("before") == states.REVERTED
    assert engine.storage.get_atom_state("r") == states.REVERTED
    assert engine.storage.get_flow_state() == states.REVERTED


def test_defer_reverts_false_reverts_only_the_subflow_and_still_raises(load, rec):
    # TaskFlow's old behaviour, kept behind the option
    flow = linear_flow.Flow("outer").add(
        Step("before", rec),
        linear_flow.Flow("sub", retry=retry.Times(2, name="r")).add(
            Step("t", rec, fail=True)
        ),
        Step("after", rec),
    )
    engine = load(flow, defer_reverts=False)

    with pytest.raises(Boom):
        engine.run()

    assert rec.count("execute", "t") == 2
    assert "before" not in rec.names("revert")
    assert "after" not in rec.names("execute")
    assert engine.storage.get_atom_state("before") == states.SUCCESS
    assert engine.storage.get_atom_state("t") == states.REVERTED
    assert engine.storage.get_flow_state() == states.REVERTED


def test_revert_all_reverts_the_whole_flow_skipping_the_outer_retry(load, rec):
    flow = linear_flow.Flow("outer", retry=retry.Times(3, name="outer_r")).add(
        Step("before", rec),
        linear_flow.Flow(
            "inner", retry=retry.Times(2, name="inner_r", revert_all=True)
        ).add(Step("t", rec, fail=True)),
    )
    engine = load(flow)

    with pytest.raises(Boom):
        engine.run()

    # the outer retry is not consulted: one outer attempt, two inner ones
    assert rec.count("execute", "before") == 1
    assert rec.count("execute", "t") == 2
    assert engine.storage.get_atom_state("before") == states.REVERTED
    assert engine.storage.get_flow_state() == states.REVERTED


def test_always_revert_all_reverts_everything_at_once(load, rec):
    flow = linear_flow.Flow("outer", retry=retry.Times(3, name="outer_r")).add(
        Step("before", rec),
        linear_flow.Flow("inner", retry=retry.AlwaysRevertAll("inner_r")).add(
            Step("t", rec, fail=True)
        ),
    )
    engine = load(flow)

    with pytest.raises(Boom):
        engine.run()

    assert rec.count("execute", "t") == 1
    assert rec.count("execute", "before") == 1
    assert engine.storage.get_flow_state() == states.REVERTED


def test_inner_revert_under_an_outer_times_retries_the_whole_outer_flow(load, rec):
    flow = linear_flow.Flow("outer", retry=retry.Times(2, name="outer_r")).add(
        Step("before", rec),
        linear_flow.Flow("inner", retry=retry.Times(2, name="inner_r")).add(
            Step("t", rec, fail=True)
        ),
    )
    engine = load(flow)

    with pytest.raises(Boom):
        engine.run()

    assert rec.count("execute", "before") == 2
    assert rec.count("execute", "t") == 4
    assert engine.storage.get_flow_state() == states.REVERTED


def test_inner_always_revert_hands_the_decision_to_the_outer_retry(load, rec):
    flow = linear_flow.Flow("outer", retry=retry.Times(3, name="outer_r")).add(
        Step("before", rec),
        linear_flow.Flow("inner", retry=retry.AlwaysRevert("inner_r")).add(
            Step("t", rec, fail_first=2)
        ),
    )
    engine = load(flow)

    engine.run()

    assert rec.count("execute", "before") == 3
    assert rec.count("execute", "t") == 3
    assert engine.storage.get_flow_state() == states.SUCCESS


def test_for_each_tries_values_in_order_until_one_works(load, rec):
    flow = linear_flow.Flow(
        "sub", retry=retry.ForEach(["x", "y", "z"], name="r", provides="value")
    ).add(
        Needs(
            "t",
            rec,
            requires=["value"],
            fail=False,
            value=lambda value: _fail_unless(value, "y"),
        )
    )
    engine = load(flow)

    engine.run()

    seen = [e.info["args"]["value"] for e in rec.find("execute", "t")]
    assert seen == ["x", "y"]
    assert engine.storage.fetch("value") == "y"
    assert engine.storage.get_flow_state() == states.SUCCESS


def test_for_each_that_runs_out_of_values_reverts_the_flow(load, rec):
    flow = linear_flow.Flow("outer").add(
        Step("before", rec),
        linear_flow.Flow(
            "sub", retry=retry.ForEach(["x", "y"], name="r", provides="value")
        ).add(Needs("t", rec, requires=["value"], fail=True)),
    )
    engine = load(flow)

    with pytest.raises(Boom):
        engine.run()

    assert [e.info["args"]["value"] for e in rec.find("execute", "t")] == ["x", "y"]
    assert engine.storage.get_atom_state("before") == states.REVERTED
    assert engine.storage.get_flow_state() == states.REVERTED


def test_parameterized_for_each_takes_its_values_from_the_store(load, rec):
    flow = linear_flow.Flow(
        "sub", retry=retry.ParameterizedForEach(name="r", provides="value")
    ).add(
        Needs("t", rec, requires=["value"], value=lambda value: _fail_unless(value, 3))
    )
    engine = load(flow, store={"values": [1, 2, 3, 4]})

    engine.run()

    assert [e.info["args"]["value"] for e in rec.find("execute", "t")] == [1, 2, 3]
    assert engine.storage.fetch("value") == 3


def test_parameterized_for_each_accepts_a_rebound_collection(load, rec):
    flow = linear_flow.Flow(
        "sub",
        retry=retry.ParameterizedForEach(
            name="r", provides="value", rebind={"values": "hosts"}
        ),
    ).add(
        Needs(
            "t",
            rec,
            requires=["value"],
            value=lambda value: _fail_unless(value, "h2"),
        )
    )
    engine = load(flow, store={"hosts": ["h1", "h2"]})

    engine.run()

    assert [e.info["args"]["value"] for e in rec.find("execute", "t")] == [
        "h1",
        "h2",
    ]


class _RecordingTimes(retry.Times):
    """Times that records the history it is shown on each failure."""

    def __init__(self, attempts, rec, **kwargs):
        super().__init__(attempts, **kwargs)
        self.rec = rec

    def on_failure(self, history, *args, **kwargs):
        self.rec.add(
            "on_failure",
            self.name,
            provided=list(history.provided_iter()),
            contents=[(r, _failures_by_name(f)) for r, f in history],
            caused_by_boom=history.caused_by(Boom),
        )
        return super().on_failure(history, *args, **kwargs)


def test_retry_history_holds_each_attempt_result_and_its_failures(load, rec):
    flow = linear_flow.Flow(
        "sub", retry=_RecordingTimes(5, rec, name="r", provides="attempt")
    ).add(Step("t", rec, fail_first=2))
    engine = load(flow)

    engine.run()

    first, second = (e.info for e in rec.find("on_failure", "r"))
    assert first["provided"] == [1]
    assert first["contents"] == [(1, {"t": "t failed"})]
    assert first["caused_by_boom"] is True
    assert second["contents"] == [(1, {"t": "t failed"}), (2, {"t": "t failed"})]

    history = engine.storage.get_retry_history("r")
    assert len(history) == 3
    assert list(history.provided_iter()) == [1, 2, 3]
    assert [(r, _failures_by_name(f)) for r, f in history] == [
        (1, {"t": "t failed"}),
        (2, {"t": "t failed"}),
        (3, {}),
    ]
    assert history.failure is None
    assert engine.storage.fetch("attempt") == 3


def test_retry_history_is_cleared_once_the_retry_is_reverted(load, rec):
    flow = linear_flow.Flow("outer", retry=retry.Times(2, name="outer_r")).add(
        linear_flow.Flow("inner", retry=_RecordingTimes(2, rec, name="inner_r")).add(
            Step("t", rec, fail=True)
        ),
    )
    engine = load(flow)

    with pytest.raises(Boom):
        engine.run()

    # on the second outer attempt, the inner retry starts from an empty history
    seen = [e.info["provided"] for e in rec.find("on_failure", "inner_r")]
    assert seen == [[1], [1, 2], [1], [1, 2]]


def test_retries_in_parallel_branches_each_control_their_own_subflow(load, rec):
    flow = unordered_flow.Flow("u").add(
        linear_flow.Flow("left", retry=retry.Times(3, name="lr")).add(
            Step("l", rec, fail_first=1)
        ),
        linear_flow.Flow("right", retry=retry.Times(3, name="rr")).add(
            Step("r", rec, fail_first=2)
        ),
    )
    engine = load(flow)

    engine.run()

    assert rec.count("execute", "l") == 2
    assert rec.count("execute", "r") == 3
    assert engine.storage.get_flow_state() == states.SUCCESS


def _fail_unless(value, wanted):
    if value != wanted:
        raise Boom(f"not {value!r}")
    return value


def test_a_revert_beats_a_retry_requested_later_by_a_parallel_branch(load, rec):
    # Given two sibling subflows: one reverts the whole flow at once (no
    # parent retry), the other fails a little later and would like a retry
    flow = unordered_flow.Flow("u").add(
        linear_flow.Flow("slow", retry=retry.Times(5, name="sr")).add(
            Step("late", rec, fail=True, sleep=0.1)
        ),
        linear_flow.Flow("fast", retry=retry.AlwaysRevert("fr")).add(
            Step("early", rec, fail=True)
        ),
    )
    engine = load(flow)

    with pytest.raises(Exception) as caught:  # Boom, or a wrap of it
        engine.run()

    # Then the flow reverts; nothing is tried again
    assert caught.type in (Boom, exceptions.WrappedFailure)
    assert rec.count("execute", "early") == 1
    assert rec.count("execute", "late") == 1
    assert engine.storage.get_flow_state() == states.REVERTED


def test_a_retry_waits_for_running_siblings_before_reverting_and_retrying(load, rec):
    # Given a retried subflow whose fast task fails while a slow one still runs
    flow = linear_flow.Flow("sub", retry=retry.Times(2, name="r")).add(
        unordered_flow.Flow("pair").add(
            Step("fastfail", rec, fail_first=1), Step("slow", rec, sleep=0.15)
        )
    )
    engine = load(flow)

    engine.run()

    # Then slow finished, was reverted, and only then ran again
    assert rec.count("execute", "slow") == 2
    assert rec.count("revert", "slow") == 1
    first_end = rec.find("executed", "slow")[0].at
    [revert] = rec.find("revert", "slow")
    second_start = rec.find("execute", "slow")[1].at
    assert first_end <= revert.at <= second_start
    assert engine.storage.get_flow_state() == states.SUCCESS


class _FailsEachTime(task.Task):
    attempts = 0

    def execute(self):
        type(self).attempts += 1
        raise RuntimeError(f"boom {type(self).attempts}")


class _Keeps(task.Task):
    def execute(self):
        return 1


class _KeepsWhatRevertsAreGiven(SynchronousDriver):
    """A driver that keeps the failures each revert call hands it."""

    def __init__(self):
        super().__init__()
        self.given = []  # (the mapping received, a copy made at the call)

    def revert_task(self, task, task_uuid, arguments, result, failures, *more):
        self.given.append((failures, dict(failures)))
        return super().revert_task(task, task_uuid, arguments, result, failures, *more)


def test_the_failures_a_driver_is_given_for_a_revert_stay_as_they_were():
    # Given a retried subflow whose task fails differently on each attempt,
    # run by a driver that keeps the failures each revert call receives
    from opsflow import engines

    driver = _KeepsWhatRevertsAreGiven()
    flow = linear_flow.Flow("f", retry=retry.Times(2, name="r")).add(
        _Keeps("a"), _FailsEachTime("b")
    )
    engine = engines.load(flow, engine="serial", executor=driver)

    # When it runs out of attempts
    with pytest.raises(RuntimeError):
        engine.run()

    # Then each revert was given the failure of its own attempt, and what the
    # driver kept did not change as the engine went on (a retry resets it)
    def texts(mapping):
        return {name: f.exception_str for name, f in mapping.items()}

    kept = [texts(received) for received, _ in driver.given]
    at_the_call = [texts(copy) for _, copy in driver.given]
    assert at_the_call == [{"b": "boom 1"}] * 2 + [{"b": "boom 2"}] * 2
    assert kept == at_the_call
