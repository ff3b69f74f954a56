"""The engine contract on every executor driver: the engine means the same thing
whichever driver runs the tasks (synchronous, thread, process, greenthread).
"""

from __future__ import annotations

import pytest
from drivertasks import (
    EVENTLET_WARNINGS,
    Add,
    Boom,
    Progressing,
    ProgressingRevert,
    RevertBoom,
    Step,
    UsesSecret,
)

from opsflow import engines, exceptions, retry, states, task
from opsflow.patterns import graph_flow, linear_flow, unordered_flow

pytestmark = [pytest.mark.filterwarnings(f) for f in EVENTLET_WARNINGS]


def test_a_linear_flow_reverts_the_failed_task_then_the_others_in_reverse_order(
    load, journal
):
    flow = linear_flow.Flow("lin").add(
        Step("a", journal), Step("b", journal), Step("c", journal, fail=True)
    )
    engine = load(flow)

    with pytest.raises(Boom, match="c failed on attempt 1"):
        engine.run()

    assert journal.names("execute") == ["a", "b", "c"]
    assert journal.names("revert") == ["c", "b", "a"]
    assert engine.storage.get_flow_state() == states.REVERTED
    for name in "abc":
        assert engine.storage.get_atom_state(name) == states.REVERTED
    # The failed task's own revert got its Failure, from wherever it ran.
    [c_revert] = journal.find("revert", "c")
    assert "Boom" in c_revert.info["result"]["failure"][0]
    assert journal.one("revert", "b").info["result"] == "b-result"


def test_a_graph_flow_never_reverts_an_atom_before_the_atoms_that_depend_on_it(
    load, journal
):
    # Given a diamond a -> (b, c) -> d, and e after d, failing
    steps = {n: Step(n, journal) for n in "abcd"}
    steps["e"] = Step("e", journal, fail=True)
    flow = graph_flow.Flow("diamond").add(*steps.values())
    edges = [("a", "b"), ("a", "c"), ("b", "d"), ("c", "d"), ("d", "e")]
    for u, v in edges:
        flow.link(steps[u], steps[v])
    engine = load(flow)

    with pytest.raises(Boom):
        engine.run()

    # Then every atom's revert ended before the revert of what it depends on began
    assert sorted(journal.names("revert")) == list("abcde")
    for u, v in edges:
        assert journal.one("reverted", v).at <= journal.one("revert", u).at, (u, v)
    assert engine.storage.get_flow_state() == states.REVERTED


def test_the_original_exception_is_re_raised_with_its_type_and_message(load, journal):
    engine = load(linear_flow.Flow("f").add(Step("only", journal, fail=True)))

    with pytest.raises(Boom) as raised:
        engine.run()

    assert str(raised.value) == "only failed on attempt 1"
    [failure] = engine.storage.get_execute_failures().values()
    assert failure.check(Boom)
    assert "only failed on attempt 1" in failure.exception_str


def test_two_failures_in_parallel_branches_are_raised_as_one_wrapped_failure(
    load, journal
):
    flow = unordered_flow.Flow("u").add(
        Step("left", journal, fail=True), Step("right", journal, fail=True)
    )
    engine = load(flow)

    with pytest.raises(exceptions.WrappedFailure) as raised:
        engine.run()

    failures = list(raised.value)
    assert len(failures) == 2
    assert all(f.check(Boom) for f in failures)
    assert sorted(f.exception_str for f in failures) == [
        "left failed on attempt 1",
        "right failed on attempt 1",
    ]
    assert engine.storage.get_flow_state() == states.REVERTED


def test_a_times_retry_runs_its_subflow_again_until_it_succeeds(load, journal):
    flow = linear_flow.Flow("retried", retry=retry.Times(3, name="times")).add(
        Step("first", journal),
        Step("flaky", journal, fail_first=2, provides="flaky_value"),
    )
    engine = load(flow)

    engine.run()

    assert journal.count("execute", "flaky") == 3
    assert journal.count("revert", "flaky") == 2
    assert journal.count("revert", "first") == 2
    assert engine.storage.get_flow_state() == states.SUCCESS
    assert engine.storage.fetch("flaky_value") == "flaky-result"


def test_a_failed_revert_ends_the_flow_in_failure_with_the_revert_error(load, journal):
    flow = linear_flow.Flow("f").add(
        Step("stubborn", journal, revert_fail=True), Step("boom", journal, fail=True)
    )
    engine = load(flow)

    with pytest.raises(RevertBoom, match="stubborn could not be undone"):
        engine.run()

    storage = engine.storage
    assert storage.get_flow_state() == states.FAILURE
    assert storage.get_atom_state("stubborn") == states.REVERT_FAILURE
    assert storage.get_atom_state("boom") == states.REVERTED
    [revert_failure] = storage.get_revert_failures().values()
    assert revert_failure.check(RevertBoom)


def test_a_suspended_run_resumes_with_only_the_unfinished_tasks(driver, load, journal):
    flow = linear_flow.Flow("f").add(
        Step("a", journal), Step("b", journal), Step("c", journal)
    )
    engine = load(flow)

    def suspend_after_a(state, details):
        if details["task_name"] == "a":
            engine.suspend()

    engine.atom_notifier.register(states.SUCCESS, suspend_after_a)

    # When the run is suspended once "a" has finished
    engine.run()

    assert engine.storage.get_flow_state() == states.SUSPENDED
    assert journal.names("execute") == ["a"]
    assert engine.storage.get_atom_state("b") == states.PENDING

    # Then a new engine on the same flow detail runs only what is left
    resumed = engines.load(
        flow,
        flow_detail=engine.storage.flow_detail,
        engine="parallel",
        executor=driver,
    )
    resumed.run()

    assert journal.names("execute") == ["a", "b", "c"]
    assert resumed.storage.get_flow_state() == states.SUCCESS


def test_progress_arrives_in_order_and_the_task_values_come_before_success(
    load, journal
):
    engine = load(Progressing("p", journal, [0.25, 0.5, 0.75]))
    seen = []
    engine.atom_notifier.register(
        task.EVENT_UPDATE_PROGRESS,
        lambda event, details: seen.append(details["progress"]),
    )
    engine.atom_notifier.register(
        states.SUCCESS, lambda state, details: seen.append(state)
    )

    engine.run()

    progress = [value for value in seen if value != states.SUCCESS]
    assert progress == [0.0, 0.25, 0.5, 0.75, 1.0]
    # The task's own values (relayed from wherever it ran) precede SUCCESS;
    # the engine's closing 1.0 follows it, as in TaskFlow.
    assert seen.index(states.SUCCESS) > seen.index(0.75)


def test_progress_reported_while_reverting_reaches_the_engine(driver, load, journal):
    flow = linear_flow.Flow("f").add(
        ProgressingRevert("undo", journal), Step("boom", journal, fail=True)
    )
    engine = load(flow)
    seen = []
    engine.atom_notifier.register(
        task.EVENT_UPDATE_PROGRESS,
        lambda event, details: seen.append((details["task_name"], details["progress"])),
    )

    with pytest.raises(Boom):
        engine.run()

    undo = [progress for name, progress in seen if name == "undo"]
    # execute: 0.0, 1.0; revert: 0.0, the task's 0.5, 1.0
    assert undo == [0.0, 1.0, 0.0, 0.5, 1.0]


def test_store_inject_and_provides_reach_tasks_and_results_come_back(load, journal):
    # Given x from the store, y injected, and a second task fed by the first
    flow = linear_flow.Flow("f").add(
        Add(journal, name="first", provides="total", inject={"y": 2}),
        Add(journal, name="second", rebind={"x": "total"}, provides="double"),
    )
    engine = load(flow, store={"x": 1, "y": 5})

    engine.run()

    assert engine.storage.fetch("total") == 3
    assert engine.storage.fetch("double") == 8
    assert engine.storage.fetch_all() == {"x": 1, "y": 5, "total": 3, "double": 8}
    [first, second] = journal.entries()
    assert first.info == {"x": 1, "y": 2, "pid": first.pid}
    assert (second.info["x"], second.info["y"]) == (3, 5)


def test_a_secret_reaches_the_tasks_but_no_result_failure_or_listener(load, journal):
    # Given a task that returns the secret and one that fails naming it
    flow = linear_flow.Flow("f").add(
        UsesSecret("returns", journal), UsesSecret("fails", journal, fail=True)
    )
    engine = load(flow)
    engine.storage.inject_secrets({"password": "hunter2-Zq9"})
    heard = []
    engine.atom_notifier.register(
        engine.atom_notifier.ANY, lambda state, details: heard.append(details)
    )
    # When it runs, the original exception comes back, scrubbed
    with pytest.raises(Boom, match=r"^login refused for password \*\*\*$"):
        engine.run()
    # Then both tasks got the value, and storage, reverts and listeners did not
    assert [e.info["got"] for e in journal.entries() if e.event == "execute"] == [
        True,
        True,
    ]
    recorded = engine.storage.atom_detail("returns").results
    assert recorded == {"token": "token-for-***"}
    [failure] = engine.storage.get_execute_failures().values()
    assert failure.exception_args == ("login refused for password ***",)
    assert "hunter2-Zq9" not in failure.traceback_str
    reverted = journal.one("revert", "returns").info
    assert reverted["result"] == {"token": "token-for-***"}
    assert reverted["flow_failures"] == {"fails": "login refused for password ***"}
    assert "hunter2-Zq9" not in repr(heard)
    assert any(d.get("result") == {"token": "token-for-***"} for d in heard)
