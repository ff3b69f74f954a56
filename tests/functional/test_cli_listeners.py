"""Listener plugins attach by name, from the command line or opsflow.conf."""

from __future__ import annotations


def test_a_listener_named_on_the_command_line_is_attached(cli):
    proc = cli.run("fixture-ok", "--listener", "timing")
    assert proc.returncode == 0, proc.stderr
    timing_lines = [line for line in proc.stdout.splitlines() if "typed" in line]
    assert any("took" in line or "elapsed" in line.lower() for line in timing_lines), (
        proc.stdout
    )


def test_listeners_from_the_config_file_are_attached(cli, tmp_path):
    extra = tmp_path / "listeners.conf"
    extra.write_text("[engine]\nlisteners = logging\n")
    proc = cli.run("fixture-ok", "--config-file", str(extra), "--debug")
    assert proc.returncode == 0, proc.stderr
    assert (
        "opsflow.listeners" in proc.stderr
        or "LoggingListener" in proc.stderr
        or ("typed" in proc.stderr)
    )


def test_an_unknown_listener_flag_is_a_usage_error(cli):
    proc = cli.run("fixture-ok", "--listener", "nope")
    assert proc.returncode == 64
    assert "no opsflow.listeners plugin named 'nope'" in proc.stderr
    assert "timing" in proc.stderr
    assert_no_run_recorded(cli, proc)


def test_an_unknown_listener_in_the_config_is_a_config_error(cli, tmp_path):
    extra = tmp_path / "listeners.conf"
    extra.write_text("[engine]\nlisteners = nope\n")
    proc = cli.run("fixture-ok", "--config-file", str(extra))
    assert proc.returncode == 78
    assert f"{extra}: [engine] listeners = 'nope' is not an installed listener" in (
        proc.stderr
    )
    assert_no_run_recorded(cli, proc)


def assert_no_run_recorded(cli, proc):
    """An unknown listener is found before the run is announced or stored."""
    assert "started" not in proc.stderr
    assert "resume it with" not in proc.stderr
    history = cli.run("--history", "--format", "json")
    assert history.returncode == 0, history.stderr
    assert history.stdout.strip() == "[]"
