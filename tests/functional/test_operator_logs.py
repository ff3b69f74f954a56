"""Log lines of ``opsflow-run`` as an operator reads them, through the installed CLI.

Output that is not a terminal gets one log line per state change, at a
level that means something, each naming its run and flow in oslo.log's
context slot; the libraries stay quiet unless ``--debug``; oslo.log's
options work on the command line; ``OPSFLOW_CONFIG`` names the config file.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess

#: ``2026-01-31 08:00:00.123 4242 LEVEL logger [context] message``
LOG_LINE = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} \d+ (?P<level>[A-Z]+) (?P<logger>\S+) "
    r"\[(?P<context>[^\]]*)\] (?P<message>.*)$"
)


def log_lines(text: str) -> list[dict[str, str]]:
    lines = [LOG_LINE.match(line) for line in text.splitlines()]
    return [match.groupdict() for match in lines if match]


def run_json(cli, *args: str):
    proc = cli.run(*args, "--format", "json")
    return proc, json.loads(proc.stdout)


def test_a_piped_run_logs_one_line_per_state_change_naming_its_run(cli):
    proc, document = run_json(cli, "fixture-slow", "--store", "steps=2")
    assert proc.returncode == 0, proc.stderr
    lines = log_lines(proc.stderr)
    # Every line of stderr after the one naming the run is a log line, and
    # each carries the run and flow.
    assert len(lines) == len(proc.stderr.splitlines()) - 1, proc.stderr
    assert {line["context"] for line in lines} == {f"{document['run_id']} fixture-slow"}
    messages = [line["message"] for line in lines]
    assert messages == [
        "fixture-slow: flow RUNNING",
        "fixture-slow: step slow_1 RUNNING",
        "fixture-slow: step slow_1 SUCCESS",
        "fixture-slow: step slow_2 RUNNING",
        "fixture-slow: step slow_2 SUCCESS",
        "fixture-slow: flow SUCCESS",
    ]
    assert {line["level"] for line in lines} == {"INFO"}


def test_failures_are_errors_and_reverts_warnings(cli):
    proc, document = run_json(cli, "fixture-revert-fails")
    assert proc.returncode == 2, proc.stderr
    levels = {line["message"]: line["level"] for line in log_lines(proc.stderr)}
    assert levels["fixture-revert-fails: flow RUNNING"] == "INFO"
    assert levels["fixture-revert-fails: step stubborn SUCCESS"] == "INFO"
    assert (
        levels[
            "fixture-revert-fails: step boom FAILURE: RuntimeError: boom exploded "
            "on purpose"
        ]
        == "ERROR"
    )
    assert levels["fixture-revert-fails: step boom REVERTED"] == "WARNING"
    assert (
        levels[
            "fixture-revert-fails: step stubborn REVERT_FAILURE: RuntimeError: "
            "stubborn cannot be undone"
        ]
        == "ERROR"
    )
    assert levels["fixture-revert-fails: flow FAILURE"] == "ERROR"
    errors = [line for line in log_lines(proc.stderr) if line["level"] == "ERROR"]
    assert len(errors) == 3
    assert all(document["run_id"] in line["context"] for line in errors)

    proc, _ = run_json(cli, "fixture-fail")
    assert proc.returncode == 1, proc.stderr
    levels = {line["message"]: line["level"] for line in log_lines(proc.stderr)}
    assert levels["fixture-fail: flow REVERTED"] == "WARNING"
    assert levels["fixture-fail: step typed REVERTED"] == "WARNING"


def test_libraries_stay_quiet_unless_debug(cli):
    # A fresh store: alembic creates its schema, which it would tell at INFO.
    proc = cli.run("fixture-slow", "--store", "steps=1")
    assert proc.returncode == 0, proc.stderr
    loggers = {line["logger"] for line in log_lines(proc.stderr)}
    assert loggers == {"opsflow.run"}
    assert "%" not in proc.stderr  # no progress lines either

    cli_state = cli.state + "-debug"
    debug_conf = os.path.join(os.path.dirname(cli.config), "debug.conf")
    with open(debug_conf, "w") as handle:
        handle.write(f"[DEFAULT]\nstate_path = {cli_state}\n")
    proc = cli.run(
        "fixture-slow", "--store", "steps=1", "--debug", "--config-file", debug_conf
    )
    assert proc.returncode == 0, proc.stderr
    lines = log_lines(proc.stderr)
    assert any(line["logger"].startswith("alembic") for line in lines), proc.stderr
    progress = [
        line
        for line in lines
        if line["level"] == "DEBUG"
        and re.match(r"fixture-slow: step slow_1 \d+%", line["message"])
    ]
    # Ten progress updates, a line per quarter at most.
    assert 1 <= len(progress) <= 4, proc.stderr


def test_list_writes_nothing_on_stderr_even_with_eventlet_installed(cli):
    # eventlet (installed for the greenthread driver) warns that it is
    # deprecated when futurist imports it: library chatter, kept off stderr.
    python = os.path.join(os.path.dirname(cli.exe), "python")
    bare = subprocess.run(
        [python, "-c", "import futurist"], capture_output=True, text=True, check=True
    )
    assert "Eventlet is deprecated" in bare.stderr
    for extra in ((), ("--debug",)):
        proc = cli.run("--list", *extra)
        assert proc.returncode == 0, proc.stderr
        assert "fixture-executor-parallel" in proc.stdout
        assert "Eventlet is deprecated" not in proc.stderr
    assert cli.run("--list").stderr == ""


def test_use_json_puts_the_run_in_the_context(cli):
    proc = cli.run("fixture-fail", "--use-json")
    assert proc.returncode == 1, proc.stderr
    records = [json.loads(line) for line in proc.stderr.splitlines()[1:]]
    run_id = next(
        line.split()[1] for line in proc.stdout.splitlines() if line.startswith("run ")
    )
    assert records
    for record in records:
        assert record["context"]["request_id"] == run_id
        assert record["context"]["run_id"] == run_id
        assert record["context"]["flow"] == "fixture-fail"
    by_message = {record["message"]: record["levelname"] for record in records}
    assert by_message["fixture-fail: flow REVERTED"] == "WARNING"


def test_log_file_and_log_dir_from_the_command_line(cli, tmp_path):
    log_file = tmp_path / "logs" / "run.log"
    proc = cli.run("fixture-ok", "--log-file", str(log_file))
    assert proc.returncode == 0, proc.stderr
    assert log_lines(proc.stderr) == []  # only the line naming the run
    written = log_lines(log_file.read_text())
    assert [line["message"] for line in written][-1] == "fixture-ok: flow SUCCESS"
    assert stat.S_IMODE(log_file.stat().st_mode) == 0o600

    log_dir = tmp_path / "logdir"
    proc = cli.run("fixture-ok", "--log-dir", str(log_dir))
    assert proc.returncode == 0, proc.stderr
    assert log_lines(proc.stderr) == []
    assert os.listdir(log_dir) == ["opsflow-run.log"]
    assert "fixture-ok: flow SUCCESS" in (log_dir / "opsflow-run.log").read_text()


def test_use_journal_without_systemd_bindings_is_one_clear_line(cli):
    try:
        import systemd.journal  # noqa: F401
    except ImportError:
        pass
    else:  # pragma: no cover - the bindings are not installed here
        import pytest

        pytest.skip("systemd's Python bindings are installed")
    proc = cli.run("fixture-ok", "--use-journal")
    assert proc.returncode == 69
    assert proc.stderr.count("\n") == 1
    assert "use_journal" in proc.stderr and "python3-systemd" in proc.stderr


def test_opsflow_config_names_the_config_file(cli, tmp_path):
    state = tmp_path / "from-env"
    conf = tmp_path / "env.conf"
    conf.write_text(f"[DEFAULT]\nstate_path = {state}\n")
    env = {**cli.env, "OPSFLOW_CONFIG": str(conf)}
    cli.env = env
    proc = cli.run("fixture-ok", config=False)
    assert proc.returncode == 0, proc.stderr
    assert (state / "opsflow.sqlite").exists()

    cli.env = {**env, "OPSFLOW_CONFIG": str(tmp_path / "missing.conf")}
    proc = cli.run("fixture-ok", config=False)
    assert proc.returncode == 78
    assert proc.stderr.strip() == (
        f"opsflow-run: error: {tmp_path / 'missing.conf'}: not found"
    )


def test_listeners_name_the_flow_not_the_engine_object(cli):
    proc = cli.run("fixture-ok", "--listener", "printing")
    assert proc.returncode == 0, proc.stderr
    assert "object at 0x" not in proc.stdout
    assert "Flow 'fixture-ok' (" in proc.stdout
    assert "Task 'typed' (" in proc.stdout and "of flow 'fixture-ok'" in proc.stdout
