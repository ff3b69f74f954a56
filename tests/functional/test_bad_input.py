"""Bad input of every kind: one clear line on stderr, its exit code, nothing run.

Each case would run a step that leaves a marker file, and the state
directory would be created on the first write: both stay absent.
"""

from __future__ import annotations

import os

import pytest


def assert_one_line_error(proc, code, *fragments, cli=None):
    assert proc.returncode == code, (proc.stdout, proc.stderr)
    if cli is not None:  # nothing was written: not even the state directory
        assert not os.path.exists(cli.state)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("opsflow-run: error: ")
    for fragment in fragments:
        assert fragment in lines[0]
    assert proc.stdout == ""


def assert_nothing_written(cli, marker_dir):
    assert os.listdir(marker_dir) == []
    assert not os.path.exists(cli.state)


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["no-such-flow"], ["no opsflow.flows plugin named 'no-such-flow'", "demo"]),
        (["fixture-ok", "--store", "oops"], ["bad --store 'oops'", "KEY=VALUE"]),
        (["fixture-ok", "--store-file", "/nonexistent.yaml"], ["/nonexistent.yaml"]),
        (["fixture-ok", "--format", "xml"], ["invalid choice: 'xml'"]),
        (["fixture-ok", "--bogus"], ["unrecognized arguments: --bogus"]),
        ([], ["missing flow name"]),
        (["fixture-needs-input"], ["needs inputs that were not given: target"]),
        (["fixture-factory-needs"], ["region"]),
    ],
)
def test_usage_errors_exit_64(cli, marker_dir, args, fragments):
    store = ["--store", f"marker_dir={marker_dir}"] if args else []
    proc = cli.run(*args, *store)
    assert_one_line_error(proc, 64, *fragments, cli=cli)
    assert_nothing_written(cli, marker_dir)


def test_a_malformed_store_file_is_a_usage_error(cli, tmp_path, marker_dir):
    bad = tmp_path / "in.yaml"
    bad.write_text("count: [1, 2\n")
    proc = cli.run("fixture-ok", "--store-file", str(bad))
    assert_one_line_error(proc, 64, str(bad), "not valid YAML", cli=cli)
    assert_nothing_written(cli, marker_dir)


def test_a_missing_input_is_named_by_a_dry_run_too(cli, marker_dir):
    proc = cli.run("fixture-needs-input", "--dry-run")
    assert_one_line_error(proc, 64, "target", cli=cli)


def test_a_broken_flow_plugin_exits_69_naming_it_and_its_error(cli):
    proc = cli.run("fixture-broken")
    assert_one_line_error(
        proc,
        69,
        "'fixture-broken'",
        "ModuleNotFoundError",
        "opsflow_fixture_missing",
        cli=cli,
    )


def test_a_cyclic_graph_is_reported_before_anything_runs(cli):
    proc = cli.run("fixture-cyclic")
    assert_one_line_error(proc, 69, "fixture-cyclic", cli=cli)
    assert "cycl" in proc.stderr.lower()


def write_config(tmp_path, text):
    path = tmp_path / "extra.conf"
    path.write_text(text)
    return str(path)


def test_a_malformed_config_file_exits_78_naming_it(cli, tmp_path, marker_dir):
    path = write_config(tmp_path, "[engine\nengine = serial\n")
    proc = cli.run("fixture-ok", "--config-file", path)
    assert_one_line_error(proc, 78, path, "cannot be parsed", cli=cli)
    assert_nothing_written(cli, marker_dir)


def test_an_unknown_option_value_exits_78_with_the_allowed_values(cli, tmp_path):
    path = write_config(tmp_path, "[engine]\nengine = turbo\n")
    proc = cli.run("fixture-ok", "--config-file", path)
    assert_one_line_error(
        proc,
        78,
        f"{path}: [engine] engine = 'turbo' is not valid",
        "serial, parallel",
        cli=cli,
    )


def test_an_unknown_executor_driver_exits_78_listing_those_installed(cli, tmp_path):
    path = write_config(tmp_path, "[engine]\nexecutor = warp\n")
    proc = cli.run("fixture-ok", "--config-file", path)
    assert_one_line_error(
        proc,
        78,
        f"{path}: [engine] executor = 'warp' is not an installed",
        "allowed:",
        cli=cli,
    )


@pytest.mark.parametrize(
    ("flag", "value", "fragment"),
    [
        (
            "--engine",
            "fast",
            "--engine: 'fast' is not valid; allowed: serial, parallel",
        ),
        ("--max-workers", "0", "--max-workers: '0' is not valid; allowed: an integer"),
        ("--executor", "warp", "--executor: 'warp' is not an installed"),
    ],
)
def test_bad_engine_flags_exit_78_naming_the_flag(cli, flag, value, fragment):
    proc = cli.run("fixture-ok", flag, value)
    assert_one_line_error(proc, 78, fragment, cli=cli)


def test_opsflow_conf_is_found_in_the_users_opsflow_directory(cli):
    # Given ~/.opsflow/opsflow.conf with a bad value and no --config-file
    found = os.path.join(cli.home, ".opsflow", "opsflow.conf")
    os.makedirs(os.path.dirname(found))
    with open(found, "w", encoding="utf-8") as handle:
        handle.write("[engine]\nengine = turbo\n")
    # Then that is the file read, and named
    proc = cli.run("fixture-ok", config=False)
    assert_one_line_error(proc, 78, f"{found}: [engine] engine = 'turbo'")


def test_a_config_dir_is_read_after_the_config_file(cli, tmp_path):
    conf_d = tmp_path / "conf.d"
    conf_d.mkdir()
    (conf_d / "50-engine.conf").write_text("[engine]\nmax_workers = 0\n")
    proc = cli.run("fixture-ok", "--config-dir", str(conf_d))
    assert_one_line_error(proc, 78, "50-engine.conf: [engine] max_workers = '0'")


def test_a_missing_config_file_exits_78(cli, tmp_path):
    proc = cli.run("fixture-ok", "--config-file", str(tmp_path / "absent.conf"))
    assert_one_line_error(proc, 78, "absent.conf: not found", cli=cli)


def test_debug_adds_the_traceback_to_an_error(cli):
    proc = cli.run("no-such-flow", "--debug")
    assert proc.returncode == 64
    assert "Traceback" in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("opsflow-run: error: ")
