"""Engines.load_from_factory() and engines.load_from_detail()."""

from __future__ import annotations

import uuid

import pytest
from enginekit import Recorder, Step

from opsflow import engines, exceptions, states
from opsflow.patterns import linear_flow

# Factories are looked up again by their import path, so they live at module
# level and find their recorder through a key.
_RECORDERS: dict[str, Recorder] = {}


def make_flow(key, size=3):
    rec = _RECORDERS[key]
    return linear_flow.Flow("made").add(*(Step(f"s{i}", rec) for i in range(size)))


@pytest.fixture
def keyed_rec():
    key = uuid.uuid4().hex
    _RECORDERS[key] = Recorder()
    yield key, _RECORDERS[key]
    del _RECORDERS[key]


def test_load_from_factory_builds_the_flow_with_the_given_arguments(
    engine_kind, keyed_rec
):
    key, rec = keyed_rec

    engine = engines.load_from_factory(
        make_flow,
        factory_args=[key],
        factory_kwargs={"size": 2},
        engine=engine_kind,
    )
    engine.run()

    assert rec.names("execute") == ["s0", "s1"]
    assert engine.storage.get_flow_state() == states.SUCCESS


def test_load_from_detail_rebuilds_the_flow_and_resumes_the_run(engine_kind, keyed_rec):
    key, rec = keyed_rec
    engine = engines.load_from_factory(
        make_flow, factory_kwargs={"key": key}, engine=engine_kind
    )

    def suspend_after_first(state, details):
        if details["task_name"] == "s0":
            engine.suspend()

    engine.atom_notifier.register(states.SUCCESS, suspend_after_first)
    engine.run()
    assert engine.storage.get_flow_state() == states.SUSPENDED

    resumed = engines.load_from_detail(engine.storage.flow_detail, engine=engine_kind)
    resumed.run()

    assert rec.names("execute") == ["s0", "s1", "s2"]
    assert resumed.storage.get_flow_state() == states.SUCCESS


def test_load_from_detail_without_factory_information_is_refused(engine_kind, rec):
    engine = engines.load(linear_flow.Flow("f").add(Step("a", rec)))

    with pytest.raises(ValueError):
        engines.load_from_detail(engine.storage.flow_detail, engine=engine_kind)


def test_an_unknown_engine_name_is_refused(rec):
    with pytest.raises((exceptions.NotFound, ValueError)):
        engines.load(linear_flow.Flow("f").add(Step("a", rec)), engine="warp-drive")
