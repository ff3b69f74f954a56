"""Bad input of every kind: one clear line on stderr, its exit code, nothing run.

Each case would run a step that leaves a marker file, and the state
directory would be created on the first write: both stay absent.
"""

from __future__ import annotations

import os
import subprocess

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


def test_a_config_file_that_is_a_directory_exits_78_naming_it(cli, tmp_path):
    proc = cli.run("fixture-ok", "--config-file", str(tmp_path), config=False)
    assert_one_line_error(
        proc, 78, f"{tmp_path}: cannot be read as a configuration file: Is a directory"
    )
    # OPSFLOW_CONFIG is read the same way
    env = dict(cli.env, OPSFLOW_CONFIG=str(tmp_path))
    proc = subprocess.run(
        cli.cmd("--list", config=False), capture_output=True, text=True, env=env
    )
    assert_one_line_error(proc, 78, f"{tmp_path}: cannot be read")


@pytest.mark.parametrize(
    ("flag", "value"), [("--log-file", "x.log"), ("--log-dir", "logs")]
)
def test_a_log_path_under_a_regular_file_blames_the_flag(cli, tmp_path, flag, value):
    regular = tmp_path / "regular"
    regular.write_text("")
    proc = cli.run("fixture-ok", flag, str(regular / value))
    assert_one_line_error(
        proc, 78, f"error: {flag}: ", f"cannot be created: {regular} is not a directory"
    )
    assert "opsflow.conf" not in proc.stderr


def test_a_log_file_under_a_regular_file_in_the_config_names_the_option(cli, tmp_path):
    regular = tmp_path / "regular"
    regular.write_text("")
    with open(cli.config, "a", encoding="utf-8") as handle:
        handle.write(f"log_file = {regular / 'x.log'}\n")
    proc = cli.run("fixture-ok")
    assert_one_line_error(
        proc,
        78,
        f"{cli.config}: [DEFAULT] log_file = ",
        f"{regular} is not a directory",
    )


def test_debug_adds_the_traceback_to_an_error(cli):
    proc = cli.run("no-such-flow", "--debug")
    assert proc.returncode == 64
    assert "Traceback" in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("opsflow-run: error: ")


# -- inputs a flow factory refuses, paths, typos, files that are no flows ----------
def test_an_input_the_flow_factory_refuses_exits_64_naming_it(cli):
    # Given the demo flow, whose factory raises ValueError for a bad 'steps'
    proc = cli.run("demo", "--store", "steps=abc")
    # Then it is a usage error naming the input, not an unavailable plugin
    assert_one_line_error(
        proc, 64, "flow demo refused its inputs (steps)", "ValueError", cli=cli
    )


def test_a_state_path_that_is_a_file_exits_78_naming_the_option(cli, tmp_path):
    a_file = tmp_path / "not-a-dir"
    a_file.write_text("")
    for state_path in (a_file, a_file / "below"):
        path = write_config(tmp_path, f"[DEFAULT]\nstate_path = {state_path}\n")
        proc = cli.run("fixture-ok", "--config-file", path)
        assert_one_line_error(
            proc, 78, f"{path}: [DEFAULT] state_path = '{state_path}'", "directory"
        )


def test_history_of_an_unknown_state_exits_64_listing_the_states(cli):
    proc = cli.run("--history", "--state", "bogus")
    assert_one_line_error(
        proc, 64, "--state BOGUS", "PENDING, RUNNING", "SUCCESS, REVERTED, FAILURE"
    )


def test_a_misspelt_option_is_warned_about_with_the_closest_name(cli, tmp_path):
    # Given [engine] executer (for executor) in a config file
    path = write_config(tmp_path, "[engine]\nexecuter = process\n")
    # When a flow runs
    proc = cli.run("fixture-ok", "--config-file", path)
    # Then it runs, but stderr says which option of which file is ignored
    assert proc.returncode == 0, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if "warning:" in line]
    assert warnings == [
        f"opsflow-run: warning: {path}: [engine] executer is not an option of "
        "[engine] and is ignored; did you mean executor?"
    ]


def test_a_flow_dir_entry_that_is_no_flow_file_is_never_quoted(cli, tmp_path):
    # Given a symlink in flow_dirs to a file of secrets (as /etc/shadow is)
    shadow = tmp_path / "shadow"
    shadow.write_text("root:$6$Secret-Hash-Q7:20228:0:99999:7:::\nusers: [alice]\n")
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "evil.yaml").symlink_to(shadow)
    path = write_config(tmp_path, f"[DEFAULT]\nflow_dirs = {flows}\n")
    # When the flows are listed, and the file is run by name
    listed = cli.run("--list", "--config-file", path)
    run = cli.run("evil", "--config-file", path)
    # Then it is BROKEN / refused as "not a flow file", quoting none of it
    assert listed.returncode == 0, listed.stderr
    assert f"evil.yaml  BROKEN: {flows}/evil.yaml:1:1: is not a flow file" in (
        listed.stdout
    )
    assert_one_line_error(run, 78, "evil.yaml:1:1: is not a flow file", cli=cli)
    for output in (listed.stdout + listed.stderr, run.stderr):
        assert "Secret-Hash" not in output
        assert "alice" not in output
