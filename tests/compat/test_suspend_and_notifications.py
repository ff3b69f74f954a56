"""Suspending and resuming, and what the notifiers and listeners report."""

from __future__ import annotations

import importlib
import uuid

import pytest

from .harness import Kit, finish, load_engine, normalise


def suspend_on(engine, state, task_name):
    """Ask ``engine`` to suspend once ``task_name`` reaches ``state``."""

    def callback(state, details):
        if details["task_name"] == task_name:
            engine.suspend()

    engine.atom_notifier.register(state, callback)


def test_suspending_from_a_listener_lets_the_run_end_suspended_then_resume(
    kit, engine_kind
):
    # Given a linear flow whose engine suspends once b has succeeded
    flow = kit.linear("f", *kit.tasks("a", "b", "c", "d"))
    engine = load_engine(kit.lib, flow, engine=engine_kind)
    suspend_on(engine, kit.lib.states.SUCCESS, "b")

    # When it runs
    outcome = finish(engine, flow)

    # Then run() returned normally, with the rest left PENDING
    assert outcome.raised is None
    assert outcome.flow_state == "SUSPENDED"
    assert outcome.atom_states == {
        "a": "SUCCESS",
        "b": "SUCCESS",
        "c": "PENDING",
        "d": "PENDING",
    }
    assert kit.journal.executed() == ["a", "b"]

    # And running it again runs only what was left
    outcome = finish(engine, flow)
    assert outcome.flow_state == "SUCCESS"
    assert kit.journal.executed() == ["a", "b", "c", "d"]


def test_suspending_during_a_revert_finishes_reverting_on_the_next_run(
    kit, engine_kind
):
    # Given a flow whose last task fails and an engine that suspends once c
    # is reverted
    flow = kit.linear("f", *kit.tasks("a", "b", "c"), kit.task("d", fail=True))
    engine = load_engine(kit.lib, flow, engine=engine_kind)
    suspend_on(engine, kit.lib.states.REVERTED, "c")

    # When it runs, it ends SUSPENDED half-way through reverting, no raise
    outcome = finish(engine, flow)
    assert outcome.raised is None
    assert outcome.flow_state == "SUSPENDED"
    assert outcome.atom_states == {
        "a": "SUCCESS",
        "b": "SUCCESS",
        "c": "REVERTED",
        "d": "REVERTED",
    }

    # Then the next run finishes reverting and raises the original error
    outcome = finish(engine, flow)
    assert outcome.raised == ("RuntimeError", "d failed")
    assert outcome.flow_state == "REVERTED"
    assert kit.journal.reverted() == ["d", "c", "b", "a"]


def persistence(lib):
    backends = importlib.import_module(f"{lib.name}.persistence.backends")
    models = importlib.import_module(f"{lib.name}.persistence.models")
    return backends, models


def test_a_new_engine_on_the_same_flow_detail_resumes_a_suspended_run(lib, engine_kind):
    # Given a flow detail saved in an in-memory backend
    backends, models = persistence(lib)
    backend = backends.fetch({"connection": "memory://"})
    connection = backend.get_connection()
    connection.upgrade()
    book = models.LogBook("book")
    detail = models.FlowDetail("f", str(uuid.uuid4()))
    book.add(detail)
    connection.save_logbook(book)

    # And a first engine that suspends after b
    first = Kit(lib)
    flow = first.linear("f", *first.tasks("a", "b", "c", "d"))
    engine = load_engine(
        lib, flow, engine=engine_kind, flow_detail=detail, book=book, backend=backend
    )
    suspend_on(engine, lib.states.SUCCESS, "b")
    assert finish(engine, flow).flow_state == "SUSPENDED"

    # When a new engine loads the same flow (fresh task objects) and detail
    saved = connection.get_logbook(book.uuid).find(detail.uuid)
    assert saved.state == "SUSPENDED"
    second = Kit(lib)
    flow2 = second.linear("f", *second.tasks("a", "b", "c", "d"))
    engine2 = load_engine(
        lib, flow2, engine=engine_kind, flow_detail=saved, book=book, backend=backend
    )
    outcome = finish(engine2, flow2)

    # Then only the unfinished tasks ran, and the flow succeeded
    assert first.journal.executed() == ["a", "b"]
    assert second.journal.executed() == ["c", "d"]
    assert outcome.flow_state == "SUCCESS"
    assert set(outcome.atom_states.values()) == {"SUCCESS"}
    backend.close()


def test_closing_run_iter_part_way_suspends_the_flow(kit, engine_kind):
    flow = kit.linear("f", *kit.tasks("a", "b", "c"))
    engine = load_engine(kit.lib, flow, engine=engine_kind)
    iterator = engine.run_iter()
    for state in iterator:
        if state == "ANALYZING":
            break
    iterator.close()
    assert engine.storage.get_flow_state() == "SUSPENDED"
    assert kit.journal.executed() == ["a"]


# --------------------------------------------------------------------------
# Notifications


def test_the_notifiers_report_flow_and_atom_transitions(kit, engine_kind):
    # Given listeners on both notifiers for every event
    flow = kit.linear("f", kit.task("a", provides="x"), kit.task("b", fail=True))
    engine = load_engine(kit.lib, flow, engine=engine_kind)
    any_event = kit.lib.notifier.Notifier.ANY
    flow_events, atom_events = [], []
    engine.notifier.register(
        any_event,
        lambda state, details: flow_events.append(
            (state, details["old_state"], details["flow_name"])
        ),
    )
    engine.atom_notifier.register(
        any_event,
        lambda state, details: atom_events.append(
            (details["task_name"], state, details["old_state"], details.get("result"))
        ),
    )

    # When it runs and reverts
    finish(engine, flow)

    # Then the flow went RUNNING -> REVERTED and each atom reported every step
    assert [(s, old) for s, old, _ in flow_events] == [
        ("RUNNING", "PENDING"),
        ("REVERTED", "RUNNING"),
    ]
    assert {name for _, _, name in flow_events} == {"f"}
    a_events = [(s, old) for n, s, old, _ in atom_events if n == "a"]
    assert a_events == [
        ("RUNNING", "PENDING"),
        ("SUCCESS", "RUNNING"),
        ("REVERTING", "SUCCESS"),
        ("REVERTED", "REVERTING"),
    ]
    b_events = [(s, old) for n, s, old, _ in atom_events if n == "b"]
    assert b_events == [
        ("RUNNING", "PENDING"),
        ("FAILURE", "RUNNING"),
        ("REVERTING", "FAILURE"),
        ("REVERTED", "REVERTING"),
    ]
    (success,) = [e for e in atom_events if e[:2] == ("a", "SUCCESS")]
    assert success[3] == "a-result"
    (failed,) = [e for e in atom_events if e[:2] == ("b", "FAILURE")]
    assert type(failed[3]).__name__ == "Failure"


def test_a_second_run_of_a_finished_flow_runs_nothing(kit, engine_kind):
    flow = kit.linear("f", *kit.tasks("a", "b"))
    eng = load_engine(kit.lib, flow, engine=engine_kind)
    eng.run()
    eng.run()
    assert kit.journal.executed() == ["a", "b"]
    assert eng.storage.get_flow_state() == "SUCCESS"


def test_a_new_engine_finishes_a_revert_suspended_half_way_and_raises(lib, engine_kind):
    # Given a run suspended half-way through reverting, saved in a backend
    backends, models = persistence(lib)
    backend = backends.fetch({"connection": "memory://"})
    connection = backend.get_connection()
    connection.upgrade()
    book = models.LogBook("book")
    detail = models.FlowDetail("f", str(uuid.uuid4()))
    book.add(detail)
    connection.save_logbook(book)
    first = Kit(lib)
    flow = first.linear("f", *first.tasks("a", "b", "c"), first.task("d", fail=True))
    engine = load_engine(
        lib, flow, engine=engine_kind, flow_detail=detail, book=book, backend=backend
    )
    suspend_on(engine, lib.states.REVERTED, "c")
    assert finish(engine, flow).flow_state == "SUSPENDED"

    # When a new engine resumes it from the saved detail
    saved = connection.get_logbook(book.uuid).find(detail.uuid)
    second = Kit(lib)
    flow2 = second.linear(
        "f", *second.tasks("a", "b", "c"), second.task("d", fail=True)
    )
    engine2 = load_engine(
        lib, flow2, engine=engine_kind, flow_detail=saved, book=book, backend=backend
    )
    outcome = finish(engine2, flow2)

    # Then it reverts only what was left and raises the original failure
    # (TaskFlow wraps the restored failure, which has no live exception)
    assert second.journal.steps() == [("revert", "b"), ("revert", "a")]
    assert outcome.flow_state == "REVERTED"
    assert set(outcome.atom_states.values()) == {"REVERTED"}
    error = outcome.exception
    if isinstance(error, lib.exceptions.WrappedFailure):
        (only,) = list(error)
        assert only.check("RuntimeError") == "RuntimeError"
        assert only.exception_str == "d failed"
    else:
        assert isinstance(error, RuntimeError)
        assert str(error) == "d failed"
    backend.close()


def test_capture_listener_records_the_same_events(lib, engine_kind):
    # Given a CaptureListener around a run whose second task fails
    capturing = importlib.import_module(f"{lib.name}.listeners.capturing")
    kit = Kit(lib)
    flow = kit.linear("f", kit.task("a"), kit.task("b", fail=True))
    engine = load_engine(kit.lib, flow, engine=engine_kind)

    # When it runs
    with capturing.CaptureListener(engine, capture_flow=True, capture_task=True) as cap:
        finish(engine, flow)

    # Then it saw the same (kind, state, details) tuples TaskFlow records
    def plain(details):
        skip = {"task_uuid", "flow_uuid", "engine"}
        return {
            k: (normalise(v) if k == "result" else v)
            for k, v in details.items()
            if k not in skip
        }

    seen = [(kind, state, plain(details)) for kind, state, details in cap.values]
    failed = ("Failure", "RuntimeError", "b failed")
    assert seen == [
        ("flow", "RUNNING", {"flow_name": "f", "old_state": "PENDING"}),
        ("task", "RUNNING", {"task_name": "a", "old_state": "PENDING"}),
        (
            "task",
            "SUCCESS",
            {"task_name": "a", "old_state": "RUNNING", "result": "a-result"},
        ),
        ("task", "RUNNING", {"task_name": "b", "old_state": "PENDING"}),
        (
            "task",
            "FAILURE",
            {"task_name": "b", "old_state": "RUNNING", "result": failed},
        ),
        ("task", "REVERTING", {"task_name": "b", "old_state": "FAILURE"}),
        (
            "task",
            "REVERTED",
            {"task_name": "b", "old_state": "REVERTING", "result": None},
        ),
        ("task", "REVERTING", {"task_name": "a", "old_state": "SUCCESS"}),
        (
            "task",
            "REVERTED",
            {"task_name": "a", "old_state": "REVERTING", "result": None},
        ),
        ("flow", "REVERTED", {"flow_name": "f", "old_state": "RUNNING"}),
    ]
    # And flow events carry the engine, as TaskFlow's do
    for kind, _state, details in cap.values:
        if kind == "flow":
            assert details["engine"] is engine


def test_notifier_calls_any_listeners_first_and_honours_filters(lib):
    # Given a notifier with a specific listener, an ANY listener with extra
    # kwargs, and a filtered listener
    notifier_cls = lib.notifier.Notifier
    notifier = notifier_cls()
    seen = []

    def specific(event_type, details):
        seen.append(("specific", event_type, dict(details)))

    def anything(event_type, details, extra=None):
        seen.append(("any", event_type, extra))

    notifier.register("e1", specific)
    notifier.register(notifier_cls.ANY, anything, kwargs={"extra": 7})
    notifier.register("e2", specific, details_filter=lambda d: d.get("ok"))
    with pytest.raises(ValueError):
        notifier.register("e1", specific)

    # When events are sent
    notifier.notify("e1", {"a": 1})
    notifier.notify("e2", {"ok": False})
    notifier.notify("e2", {"ok": True})

    # Then ANY listeners are called before the specific ones (TaskFlow's
    # order), filters apply, and the bookkeeping matches
    assert seen == [
        ("any", "e1", 7),
        ("specific", "e1", {"a": 1}),
        ("any", "e2", 7),
        ("any", "e2", 7),
        ("specific", "e2", {"ok": True}),
    ]
    assert len(notifier) == 3
    assert notifier.is_registered("e1", specific)
    notifier.deregister("e1", specific)
    assert not notifier.is_registered("e1", specific)
    assert sorted(event for event, _ in notifier.listeners_iter()) == ["*", "e2"]
    notifier.reset()
    assert len(notifier) == 0
