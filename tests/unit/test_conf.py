"""opsflow.conf: options, the loader's one-line errors, the generated sample."""

from __future__ import annotations

import filecmp
import os
import re

import pytest
from oslo_config import cfg

from opsflow.conf import loader, opts

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(autouse=True)
def no_user_config(tmp_path, monkeypatch):
    # oslo.config also reads ~/.opsflow/opsflow.conf: keep the tester's out.
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def write(path, text):
    path.write_text(text)
    return str(path)


def test_list_opts_declares_every_documented_option_by_group():
    groups = {
        group: {opt.dest for opt in group_opts}
        for group, group_opts in opts.list_opts()
    }
    assert groups == {
        "DEFAULT": {"state_path", "flow_dirs"},
        "engine": {"engine", "executor", "max_workers", "task_timeout", "listeners"},
        "persistence": {"connection", "sqlite_synchronous"},
        "jobboard": {"driver"},
        "procrastinate_jobboard": {
            "connection",
            "queue",
            "concurrency",
            "heartbeat_interval",
            "stalled_after",
            "reaper_interval",
            "max_attempts",
            "listen_notify",
            "poll_interval",
        },
        "celery_executor": {
            "broker_url",
            "result_backend",
            "queue_prefix",
            "redelivery_limit",
            "start_timeout",
            "atom_timeout",
            "result_sweep_interval",
            "progress_min_interval",
            "result_expires",
        },
        "celery_worker": {
            "queues",
            "concurrency",
            "pool",
            "plugin_namespace",
            "allowed_plugins",
            "soft_shutdown_timeout",
        },
        "web": {"host", "port", "auth_token_file"},
    }


def test_defaults_apply_when_no_file_is_given():
    conf = loader.load()
    assert (conf.web.host, conf.web.port) == ("127.0.0.1", 8787)  # loopback
    assert conf.web.auth_token_file is None
    assert conf.engine.engine == "serial"
    assert conf.engine.executor is None  # the engine picks its own driver
    assert conf.engine.max_workers is None
    assert conf.persistence.connection == f"sqlite:///{conf.state_path}/opsflow.sqlite"
    assert conf.debug is False  # oslo.log's options are registered too


def test_values_from_a_config_file_are_read(tmp_path):
    path = write(tmp_path / "a.conf", "[engine]\nengine = parallel\nmax_workers = 4\n")
    conf = loader.load([path])
    assert (conf.engine.engine, conf.engine.max_workers) == ("parallel", 4)


def test_a_config_dir_is_read_after_the_config_file_and_wins(tmp_path):
    path = write(tmp_path / "a.conf", "[engine]\nmax_workers = 4\n")
    (tmp_path / "d").mkdir()
    write(tmp_path / "d" / "10-more.conf", "[engine]\nmax_workers = 8\n")
    conf = loader.load([path], [str(tmp_path / "d")])
    assert conf.engine.max_workers == 8


def test_an_invalid_choice_names_file_option_and_allowed_values(tmp_path):
    path = write(tmp_path / "bad.conf", "[engine]\nengine = fast\n")
    with pytest.raises(loader.ConfigError) as caught:
        loader.load([path])
    assert str(caught.value) == (
        f"{path}: [engine] engine = 'fast' is not valid; allowed: serial, parallel"
    )


def test_an_out_of_range_number_states_the_range(tmp_path):
    path = write(tmp_path / "bad.conf", "[engine]\nmax_workers = 0\n")
    with pytest.raises(
        loader.ConfigError, match=r"max_workers = '0' .* an integer >= 1"
    ):
        loader.load([path])


def test_a_bad_logging_value_is_a_config_error_not_an_exit(tmp_path):
    # oslo.log's own registration would make oslo.config exit the process here.
    path = write(tmp_path / "bad.conf", "[DEFAULT]\ndebug = maybe\n")
    with pytest.raises(loader.ConfigError, match=r"\[DEFAULT\] debug .* true or false"):
        loader.load([path])


def test_the_last_file_that_sets_a_bad_value_is_the_one_named(tmp_path):
    first = write(tmp_path / "1.conf", "[engine]\nengine = serial\n")
    second = write(tmp_path / "2.conf", "[engine]\nengine = warp\n")
    with pytest.raises(loader.ConfigError) as caught:
        loader.load([first, second])
    assert caught.value.source == second


def test_a_malformed_file_is_named_with_its_line(tmp_path):
    path = write(tmp_path / "broken.conf", "[engine\nengine = serial\n")
    with pytest.raises(loader.ConfigError, match=rf"^{path}: cannot be parsed: .*:1"):
        loader.load([path])


def test_a_missing_config_file_or_dir_is_named(tmp_path):
    with pytest.raises(loader.ConfigError, match="nope.conf: not found"):
        loader.load([str(tmp_path / "nope.conf")])
    with pytest.raises(loader.ConfigError, match="nodir: config directory not found"):
        loader.load([], [str(tmp_path / "nodir")])


def test_a_command_line_override_wins_over_the_file(tmp_path):
    path = write(tmp_path / "a.conf", "[engine]\nengine = parallel\n")
    conf = loader.load([path], overrides={("engine", "engine"): ("--engine", "serial")})
    assert conf.engine.engine == "serial"


def test_a_bad_command_line_override_names_the_flag():
    overrides = {("engine", "max_workers"): ("--max-workers", "lots")}
    with pytest.raises(loader.ConfigError) as caught:
        loader.load(overrides=overrides)
    assert (
        str(caught.value)
        == "--max-workers: 'lots' is not valid; allowed: an integer >= 1"
    )


def test_config_errors_are_opsflow_configuration_errors():
    from opsflow.exceptions import ConfigurationError

    assert issubclass(loader.ConfigError, ConfigurationError)


def test_the_sample_config_is_not_stale(tmp_path):
    # Given the generator config the genconfig tox env uses
    from oslo_config import generator

    generated = tmp_path / "opsflow.conf.sample"
    conf = cfg.ConfigOpts()
    generator.register_cli_opts(conf)
    conf(
        [
            "--config-file",
            os.path.join(REPO, "etc", "opsflow", "opsflow-config-generator.conf"),
            "--output-file",
            str(generated),
        ]
    )
    # When the sample is generated again
    generator.generate(conf)
    # Then it matches the committed one
    committed = os.path.join(REPO, "etc", "opsflow", "opsflow.conf.sample")
    assert filecmp.cmp(generated, committed, shallow=False), (
        "etc/opsflow/opsflow.conf.sample is stale: run `tox -e genconfig`"
    )


def test_drivers_are_given_the_configuration_the_program_loaded(tmp_path):
    from opsflow import executors

    # Given opsflow-run loaded its configuration from --config-file
    path = tmp_path / "given.conf"
    path.write_text("[celery_executor]\nbroker_url = amqp://given-host:5672//\n")
    conf = loader.load([str(path)])

    # Then a driver that takes the configuration is built from that one
    celery = executors.load("celery", max_workers=1, conf=conf)
    assert celery.settings.broker_url == "amqp://given-host:5672//"


def test_an_unknown_option_of_a_known_group_is_named_with_the_closest_one(
    tmp_path, capsys
):
    # Given a typo in [engine], a known option under its old dashed name,
    # a misspelt group, and a group of another program
    path = write(
        tmp_path / "opsflow.conf",
        "[DEFAULT]\nstate-path = /tmp/x\n[engine]\nexecuter = process\n"
        "[engin]\nengine = serial\n[oslo_messaging]\nurl = x\n",
    )
    # When it is loaded
    conf = loader.load([path])
    # Then each typo is one warning line naming file, group, option, and guess
    assert conf.engine.executor is None  # the engine's default, not "process"
    assert loader.unknown_options(conf) == [
        f"{path}: [engine] executer is not an option of [engine] and is ignored; "
        "did you mean executor?",
        f"{path}: [engin] is not a group of opsflow.conf and is ignored; "
        "did you mean [engine]?",
    ]
    err = capsys.readouterr().err.splitlines()
    assert [line.split(": warning: ", 1)[1] for line in err] == (
        loader.unknown_options(conf)
    )


def test_every_option_of_the_sample_is_known(tmp_path):
    # Every option of the generated sample, set to its default: not one warning
    sample = os.path.join(REPO, "etc", "opsflow", "opsflow.conf.sample")
    with open(sample, encoding="utf-8") as handle:
        lines = [
            line.lstrip("#")
            for line in handle
            if (re.match(r"#[a-z_]+ = ", line) and "<None>" not in line)
            or line.startswith("[")
        ]
    assert len(lines) > 40
    path = write(tmp_path / "all.conf", "".join(lines))
    assert loader.unknown_options(loader.load([path], warn=False)) == []


def test_a_state_path_below_a_file_is_a_configuration_error(tmp_path):
    (tmp_path / "file").write_text("")
    path = write(tmp_path / "c.conf", f"[DEFAULT]\nstate_path = {tmp_path}/file/x\n")
    with pytest.raises(loader.ConfigError, match=r"\[DEFAULT\] state_path") as err:
        loader.load([path])
    assert f"{tmp_path}/file is not a directory" in str(err.value)


def _readme_config_block():
    repo = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
    with open(os.path.join(repo, "README.md"), encoding="utf-8") as handle:
        text = handle.read()
    section = text.split("## Configuration", 1)[1]
    return section.split("```ini\n", 1)[1].split("```", 1)[0]


def _default_text(opt):
    if opt.sample_default is not None:
        return str(opt.sample_default)
    if isinstance(opt.default, list):
        return ",".join(opt.default)
    if isinstance(opt.default, bool):
        return str(opt.default).lower()
    return None if opt.default is None else str(opt.default)


def test_the_readme_configuration_block_shows_the_real_defaults():
    # Given the README's opsflow.conf example and opsflow's own options
    block = _readme_config_block()
    known = {
        (group or "DEFAULT", opt.name): opt
        for group, opts in opts.list_opts()
        for opt in opts
    }
    checked = 0
    group = None
    for line in block.splitlines():
        line = line.strip()
        if line.startswith("[") and line.endswith("]"):
            group = line[1:-1]
            continue
        unset = line.startswith("#") and " = " in line
        if not line or (line.startswith("#") and not unset):
            continue
        name, _, value = line.lstrip("#").partition(" = ")
        opt = known.get((group, name.strip()))
        if opt is None:  # oslo.log's, not opsflow's
            continue
        checked += 1
        # Then a set line is the default, and a commented-out one is unset
        if unset:
            assert opt.default is None, f"[{group}] {name} has a default"
        else:
            assert value.strip() == _default_text(opt), f"[{group}] {name}"
    assert checked >= 7
