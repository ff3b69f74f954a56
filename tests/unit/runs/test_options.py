"""opsflow.runs: one precedence rule for a run's engine options, and its record."""

from __future__ import annotations

import pytest

from opsflow.conf import loader
from opsflow.runs import EngineOptions, RunRecord


@pytest.fixture
def conf(tmp_path):
    path = tmp_path / "opsflow.conf"
    path.write_text(
        "[engine]\nengine = parallel\nexecutor = thread\nmax_workers = 4\n"
        "task_timeout = 30\n"
    )
    return loader.load([str(path)])


def recorded(**options):
    return RunRecord.create("f", (), (), {}, **options)


def test_without_a_flag_or_a_record_the_configuration_decides(conf):
    assert EngineOptions.resolve(conf) == EngineOptions(
        engine="parallel", executor="thread", max_workers=4, task_timeout=30.0
    )


def test_a_recorded_run_keeps_its_options_over_the_configuration(conf):
    record = recorded(engine="serial", executor="process", max_workers=2)
    options = EngineOptions.resolve(conf, record=record)
    assert (options.engine, options.executor, options.max_workers) == (
        "serial",
        "process",
        2,
    )
    # What the run did not record comes from the configuration
    assert options.task_timeout == 30.0


def test_a_flag_wins_over_the_recorded_run(conf):
    record = recorded(engine="serial", executor="process", max_workers=2)
    flags = {"engine": None, "executor": "synchronous", "max_workers": 1}
    options = EngineOptions.resolve(conf, flags, record)
    assert (options.engine, options.executor, options.max_workers) == (
        "serial",
        "synchronous",
        1,
    )


def test_options_set_nowhere_are_the_defaults_of_opsflow_conf(tmp_path):
    empty = tmp_path / "empty.conf"
    empty.write_text("")
    options = EngineOptions.resolve(loader.load([str(empty)]))
    assert options == EngineOptions(engine="serial", executor=None)
    # The engine then picks its own driver; a zero timeout means none
    assert options.engine_kwargs() == {"engine": "serial"}


def test_a_record_survives_the_stored_meta_and_never_holds_a_value():
    record = RunRecord.create(
        "deploy",
        {"region": "eu", "password": "hunter2"},
        frozenset({"password"}),
        {"opsflow-demo": "1.0"},
        engine="parallel",
        executor="thread",
        max_workers=3,
        task_timeout=12.0,
    )
    meta = {"run": record.to_meta()}
    assert "eu" not in repr(meta) and "hunter2" not in repr(meta)
    assert RunRecord.from_meta(meta) == record
    assert record.missing_secrets({}) == ["password"]
    assert record.missing_secrets({"password": "x"}) == []


def test_a_flow_detail_without_a_record_was_not_started_by_opsflow_run():
    assert RunRecord.from_meta({}) is None
