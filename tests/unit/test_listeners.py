"""Listeners, each a context manager around engine.run()."""

from __future__ import annotations

import logging

import pytest

from opsflow import engines, retry, states, task
from opsflow.listeners import capturing, printing, timing
from opsflow.listeners import logging as logging_listeners
from opsflow.patterns import linear_flow


class Ok(task.Task):
    def execute(self):
        return "ok"


class Bad(task.Task):
    def execute(self):
        raise RuntimeError("bad")


@pytest.fixture(params=["serial", "parallel"])
def engine_kind(request):
    return request.param


def _atom_meta(engine, name):
    return next(d for d in engine.storage.flow_detail if d.name == name).meta


def test_capture_listener_records_kind_state_details_tuples(engine_kind):
    engine = engines.load(
        linear_flow.Flow("f").add(Ok("a"), Ok("b")), engine=engine_kind
    )

    with capturing.CaptureListener(engine) as listener:
        engine.run()

    values = listener.values
    assert all(isinstance(v, tuple) and len(v) == 3 for v in values)
    flow_states = [state for kind, state, _ in values if kind == "flow"]
    assert flow_states == [states.RUNNING, states.SUCCESS]
    a_states = [
        state
        for kind, state, details in values
        if kind == "task" and details["task_name"] == "a"
    ]
    assert a_states == [states.RUNNING, states.SUCCESS]
    assert {kind for kind, _, _ in values} == {"flow", "task"}


def test_capture_listener_records_retries_as_their_own_kind(engine_kind):
    flow = linear_flow.Flow("f", retry=retry.Times(2, name="r")).add(Ok("a"))
    engine = engines.load(flow, engine=engine_kind)

    with capturing.CaptureListener(engine) as listener:
        engine.run()

    assert ("retry", states.RUNNING) in [(k, s) for k, s, _ in listener.values]


def test_capture_listener_can_skip_kinds_and_tasks(engine_kind):
    engine = engines.load(
        linear_flow.Flow("f").add(Ok("a"), Ok("b")), engine=engine_kind
    )

    with capturing.CaptureListener(
        engine, capture_flow=False, skip_tasks=["a"]
    ) as listener:
        engine.run()

    assert {kind for kind, _, _ in listener.values} == {"task"}
    assert {d["task_name"] for _, _, d in listener.values} == {"b"}


def test_a_listener_deregisters_when_its_block_ends(engine_kind):
    engine = engines.load(linear_flow.Flow("f").add(Ok("a")), engine=engine_kind)

    with capturing.CaptureListener(engine) as listener:
        engine.run()
    count = len(listener.values)
    engine.reset()
    engine.run()

    assert len(listener.values) == count


def test_a_listener_deregisters_even_when_the_run_raises(engine_kind):
    engine = engines.load(linear_flow.Flow("f").add(Bad("a")), engine=engine_kind)

    with (
        pytest.raises(RuntimeError, match="bad"),
        capturing.CaptureListener(engine) as listener,
    ):
        engine.run()

    assert len(engine.notifier) == 0
    assert len(engine.atom_notifier) == 0
    assert (
        "task",
        states.FAILURE,
    ) in [(k, s) for k, s, _ in listener.values]


def test_duration_listener_writes_duration_into_task_and_flow_metadata(engine_kind):
    engine = engines.load(
        linear_flow.Flow("f").add(Ok("a"), Ok("b")), engine=engine_kind
    )

    with timing.DurationListener(engine):
        engine.run()

    for name in ("a", "b"):
        duration = _atom_meta(engine, name)["duration"]
        assert isinstance(duration, float)
        assert duration >= 0.0
    assert engine.storage.flow_detail.meta["duration"] >= 0.0


def test_tasks_get_their_progress_in_metadata(engine_kind):
    engine = engines.load(linear_flow.Flow("f").add(Ok("a")), engine=engine_kind)

    engine.run()

    assert _atom_meta(engine, "a")["progress"] == 1.0


def test_logging_listener_logs_each_state_change(engine_kind, caplog):
    engine = engines.load(linear_flow.Flow("f").add(Ok("a")), engine=engine_kind)
    log = logging.getLogger("opsflow.tests.listener")

    with (
        caplog.at_level(logging.INFO, logger=log.name),
        logging_listeners.LoggingListener(engine, log=log, level=logging.INFO),
    ):
        engine.run()

    messages = [r.getMessage() for r in caplog.records if r.name == log.name]
    assert any("a" in m and states.SUCCESS in m for m in messages), messages
    assert any(states.RUNNING in m for m in messages), messages


def test_dynamic_logging_listener_logs_failures_at_the_failure_level(
    engine_kind, caplog
):
    engine = engines.load(
        linear_flow.Flow("f").add(Ok("a"), Bad("b")), engine=engine_kind
    )
    log = logging.getLogger("opsflow.tests.dynamic")

    with (
        caplog.at_level(logging.DEBUG, logger=log.name),
        pytest.raises(RuntimeError),
        logging_listeners.DynamicLoggingListener(engine, log=log),
    ):
        engine.run()

    records = [r for r in caplog.records if r.name == log.name]
    warned = [r for r in records if r.levelno >= logging.WARNING]
    assert any("b" in r.getMessage() for r in warned), [
        (r.levelname, r.getMessage()) for r in records
    ]
    debug_success = [
        r
        for r in records
        if r.levelno == logging.DEBUG and states.SUCCESS in r.getMessage()
    ]
    assert debug_success


def test_printing_listener_prints_each_state_change(engine_kind, capsys):
    engine = engines.load(linear_flow.Flow("f").add(Ok("a")), engine=engine_kind)

    with printing.PrintingListener(engine):
        engine.run()

    out = capsys.readouterr().out
    assert states.RUNNING in out
    assert states.SUCCESS in out
    assert "a" in out


def test_printing_listener_can_print_to_stderr(engine_kind, capsys):
    engine = engines.load(linear_flow.Flow("f").add(Ok("a")), engine=engine_kind)

    with printing.PrintingListener(engine, stderr=True):
        engine.run()

    captured = capsys.readouterr()
    assert captured.out == ""
    assert states.SUCCESS in captured.err
