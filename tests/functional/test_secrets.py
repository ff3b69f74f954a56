"""Secrets reach the tasks but are never stored, logged or shown.

Each run leaves its secret in a result, an exception message, its
arguments, its cause and a failed revert. After it, every file under the
test's directory (the state directory with the SQLite store and traceback
files, the log file), a dump of the PostgreSQL or MariaDB store, and every
output (the run's, ``--show`` in text and JSON, ``--history``) is searched
for the value.
"""

from __future__ import annotations

import datetime
import json
import os
import pathlib
import uuid

import pytest

SECRET = "hunter2-Zq9"
PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
MYSQL_URL = "mysql+pymysql://root@127.0.0.1:3306"


def outputs(proc, cli):
    text = proc.stdout + proc.stderr
    where = [
        line for line in proc.stdout.splitlines() if line.startswith("traceback: ")
    ]
    if where:
        text += pathlib.Path(where[0].split(": ", 1)[1]).read_text()
    return text


def files_holding(root, needle: str) -> list[str]:
    """Every file under ``root`` whose bytes contain ``needle``."""
    found = []
    for directory, _dirs, names in os.walk(root):
        for name in names:
            path = os.path.join(directory, name)
            with open(path, "rb") as handle:
                if needle.encode() in handle.read():
                    found.append(path)
    return found


def configure(cli, tmp_path, *lines: str) -> str:
    """Add ``lines`` to the test's config with a log file; its path."""
    log_file = tmp_path / "log" / "opsflow.log"
    log_file.parent.mkdir()
    with open(cli.config, "a", encoding="utf-8") as handle:
        handle.write(f"log_file = {log_file}\n")
        for line in lines:
            handle.write(line + "\n")
    return str(log_file)


def run_id_of(proc) -> str:
    return next(
        line.split()[1] for line in proc.stdout.splitlines() if line.startswith("run ")
    )


def everything_shown_of(cli, run_id) -> str:
    """The outputs of --show (text and JSON) and --history (JSON) of a run."""
    shown = ""
    for args in (
        ("--show", run_id),
        ("--show", run_id, "--format", "json"),
        ("--history", "--format", "json"),
    ):
        proc = cli.run(*args)
        assert proc.returncode == 0, proc.stderr
        shown += proc.stdout + proc.stderr
    return shown


def stored_results(cli, run_id, url=None) -> dict:
    """``{atom: results}`` of a run, read from its store."""
    from opsflow.persistence import backends

    url = url or f"sqlite:///{os.path.join(cli.state, 'opsflow.sqlite')}"
    backend = backends.fetch({"connection": url})
    try:
        flow_detail = backend.get_connection().get_flow_details(run_id)
    finally:
        backend.close()
    return {detail.name: detail.results for detail in flow_detail}


def assert_scrubbed_everywhere(cli, tmp_path, proc, url=None):
    # The task got the secret, and the masked texts show where it was
    run_id = run_id_of(proc)
    assert stored_results(cli, run_id, url)["leaks"] == {
        "token": "token-for-***",
        "seen": ["***"],
        "***": 1,
    }
    document = json.loads(cli.run("--show", run_id, "--format", "json").stdout)
    by_phase = {f["phase"]: f for f in document["failures"]}
    assert "login refused for password ***" in by_phase["execute"]["exception"]
    assert "cannot log out with password ***" in by_phase["revert"]["exception"]
    # And no file, store or output holds the value itself
    assert files_holding(tmp_path, SECRET) == []
    assert SECRET not in outputs(proc, cli)
    assert SECRET not in everything_shown_of(cli, run_id_of(proc))


@pytest.mark.parametrize(
    "executor", ["synchronous", "thread", "process", "greenthread"]
)
def test_a_secret_is_in_no_file_and_no_output_after_a_run_on_each_executor(
    cli, tmp_path, executor
):
    # Given a flow whose tasks return, raise and fail to revert with the secret
    log_file = configure(cli, tmp_path)
    # When it runs with the secret given on the command line
    proc = cli.run(
        "fixture-secret-leaks", "--secret", f"password={SECRET}", "--executor", executor
    )
    # Then the revert failed (exit 2) and the secret was scrubbed everywhere
    assert proc.returncode == 2, proc.stderr
    assert "leaking ***" in pathlib.Path(log_file).read_text()
    assert_scrubbed_everywhere(cli, tmp_path, proc)


def test_a_secret_listed_in_a_store_file_is_scrubbed_everywhere(cli, tmp_path):
    configure(cli, tmp_path)
    store = tmp_path / "inputs" / "store.yaml"
    store.parent.mkdir()
    store.write_text(f"password: {SECRET}\nsecrets:\n  - password\n")
    proc = cli.run("fixture-secret-leaks", "--store-file", str(store))
    assert proc.returncode == 2, proc.stderr
    store.unlink()  # the operator's own file holds it, of course
    assert_scrubbed_everywhere(cli, tmp_path, proc)


def test_a_yaml_input_declared_secret_is_scrubbed_from_a_linux_command_result(
    cli, tmp_path
):
    # Given a YAML flow whose command's argv and stdout carry a secret input
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "secret-command.yaml").write_text(
        "name: secret-command\n"
        "inputs:\n  password: {secret: true}\n"
        "steps:\n"
        "  - name: login\n"
        "    task: linux.command\n"
        "    requires: [password]\n"
        '    with: {argv: [echo, "password={password}"]}\n'
        "  - name: refuses\n"
        "    task: fixture.refuses_password\n"
        "    requires: [password]\n"
    )
    configure(cli, tmp_path, f"flow_dirs = {flows}")
    # When it runs with the value given as an ordinary --store value
    proc = cli.run("secret-command", "--store", f"password={SECRET}")
    # Then the command ran with it, and nothing kept or showed it
    assert proc.returncode == 1, proc.stderr
    login = stored_results(cli, run_id_of(proc))["login"]
    assert login["stdout"].strip() == "password=***"
    assert login["argv"] == ["echo", "password=***"]
    assert files_holding(tmp_path, SECRET) == []
    assert SECRET not in outputs(proc, cli)
    assert SECRET not in everything_shown_of(cli, run_id_of(proc))


# -- the same runs on PostgreSQL and MariaDB ---------------------------------------
def _unavailable(service: str, error: Exception) -> None:
    reason = f"{service} is not reachable: {type(error).__name__}: {error}"
    if os.environ.get("OPSFLOW_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} (OPSFLOW_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


@pytest.fixture(params=["postgresql", "mariadb"])
def sql_store(request):
    """``(url, dump)`` of a private PostgreSQL schema or MariaDB database;
    ``dump()`` is every row of every table, as text."""
    import sqlalchemy as sa

    from opsflow.persistence.backends.impl_sqlalchemy import make_url

    name = f"opsflow_t_{uuid.uuid4().hex[:12]}"
    if request.param == "postgresql":
        admin = sa.create_engine(make_url(PG_URL))
        create, drop = f"CREATE SCHEMA {name}", f"DROP SCHEMA {name} CASCADE"
        url = f"{PG_URL}?options=-csearch_path%3D{name}"
    else:
        admin = sa.create_engine(MYSQL_URL + "/")
        create, drop = f"CREATE DATABASE {name}", f"DROP DATABASE {name}"
        url = f"{MYSQL_URL}/{name}"
    try:
        with admin.begin() as conn:
            conn.execute(sa.text(create))
    except Exception as exc:
        admin.dispose()
        _unavailable(request.param, exc)

    def dump() -> str:
        engine = sa.create_engine(make_url(url))
        try:
            tables = sa.MetaData()
            tables.reflect(engine)
            with engine.connect() as conn:
                rows = [
                    repr(tuple(row))
                    for table in tables.sorted_tables
                    for row in conn.execute(table.select())
                ]
        finally:
            engine.dispose()
        assert rows, "the store holds no rows at all"
        return "\n".join(rows)

    try:
        yield url, dump
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(drop))
        admin.dispose()


def test_a_secret_is_in_no_row_of_a_postgresql_or_mariadb_store(
    cli, tmp_path, sql_store
):
    url, dump = sql_store
    configure(cli, tmp_path, "[persistence]", f"connection = {url}")
    proc = cli.run("fixture-secret-leaks", "--secret", f"password={SECRET}")
    assert proc.returncode == 2, proc.stderr
    stored = dump()
    assert "token-for-***" in stored
    assert SECRET not in stored
    assert_scrubbed_everywhere(cli, tmp_path, proc, url)


# -- masking touches values, never opsflow's own text --------------------------------
def test_masking_never_mangles_run_ids_json_keys_or_timestamps(cli):
    # Given a run, and secrets that occur in its id, in JSON keys and in dates
    proc = cli.run("fixture-ok", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    run_id = json.loads(proc.stdout)["run_id"]
    year = str(datetime.datetime.now(datetime.UTC).year)
    secrets = [
        "--secret",
        f"a={run_id[:8]}",
        "--secret",
        "b=stat",
        "--secret",
        f"c={year}",
    ]
    # When it is shown and listed with them given
    shown = cli.run("--show", run_id, "--format", "json", *secrets)
    listed = cli.run("--history", "--format", "json", *secrets)
    text = cli.run("--show", run_id, *secrets)
    # Then ids, keys, states and timestamps are intact (and jq-able)
    for proc in (shown, listed, text):
        assert proc.returncode == 0, proc.stderr
    document = json.loads(shown.stdout)
    assert document["run_id"] == run_id
    assert document["state"] == "SUCCESS"
    assert document["atoms"]["typed"]["started_at"].startswith(year)
    assert json.loads(listed.stdout)[0]["started_at"].startswith(year)
    assert f"run {run_id} of flow fixture-ok: SUCCESS" in text.stdout


def test_a_secret_inside_json_keys_leaves_the_document_readable_and_resumable(cli):
    # Given a secret that every key ending in "duration" contains
    proc = cli.run("fixture-ok", "--secret", "token=ration", "--format", "json")
    # Then the document keeps its keys, and its run id works with --resume
    assert proc.returncode == 0, proc.stderr
    document = json.loads(proc.stdout)
    assert {"duration", "run_duration", "revert_duration"} <= set(
        document["atoms"]["typed"]
    )
    assert "duration" in document
    resumed = cli.run("--resume", document["run_id"], "--secret", "token=ration")
    assert resumed.returncode == 0, resumed.stderr
    assert f"run {document['run_id']} already ended SUCCESS" in resumed.stderr


@pytest.mark.parametrize("value", ["a", "abc", "12"])
def test_a_secret_shorter_than_four_characters_is_refused(cli, value):
    proc = cli.run("fixture-ok", "--secret", f"pin={value}")
    assert proc.returncode == 64
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "secret 'pin' is shorter than 4 characters" in lines[0]
    assert f"={value}" not in lines[0] and f"'{value}'" not in lines[0]
    assert not os.path.exists(cli.state)


def test_a_short_secret_in_a_store_file_is_refused_too(cli, tmp_path):
    store = tmp_path / "store.yaml"
    store.write_text("pin: 42\nsecrets: [pin]\n")
    proc = cli.run("fixture-ok", "--store-file", str(store))
    assert proc.returncode == 64
    assert "secret 'pin' is shorter than 4 characters" in proc.stderr
    assert not os.path.exists(cli.state)


# -- what was there before ---------------------------------------------------------
@pytest.mark.parametrize("fmt", ["text", "json"])
def test_a_secret_reaches_the_task_but_is_never_shown(cli, tmp_path, fmt):
    out = tmp_path / "seen-by-task"
    proc = cli.run(
        "fixture-secret",
        "--secret",
        f"password={SECRET}",
        "--store",
        f"out={out}",
        "--format",
        fmt,
    )
    # The task got it (it wrote it, logged it, returned it and failed with it)
    assert proc.returncode == 1, proc.stderr
    assert out.read_text() == SECRET
    # But no output, log line, summary or traceback file shows it
    assert SECRET not in outputs(proc, cli)
    assert "logged in with password ***" in proc.stderr
    # What a task prints is masked too (on stderr when stdout holds the JSON)
    printed_to = proc.stderr if fmt == "json" else proc.stdout
    assert "printed password ***" in printed_to
    if fmt == "json":
        document = json.loads(proc.stdout)
        assert document["atoms"]["uses_password"]["state"] == "REVERTED"
        assert "password ***" in document["failures"][0]["exception"]


def test_secrets_listed_in_a_store_file_are_masked(cli, tmp_path):
    out = tmp_path / "seen-by-task"
    store = tmp_path / "store.yaml"
    store.write_text(f"password: {SECRET}\nout: {out}\nsecrets:\n  - password\n")
    proc = cli.run("fixture-secret", "--store-file", str(store))
    assert proc.returncode == 1, proc.stderr
    assert out.read_text() == SECRET
    assert SECRET not in outputs(proc, cli)
    assert "login refused for password ***" in proc.stdout


# -- a flow's own help -------------------------------------------------------------
@pytest.mark.parametrize(
    "mode", [("--help",), ("--describe",), ("--describe", "--format", "json")]
)
def test_a_factory_refusing_a_secret_shows_it_masked_in_the_flows_help(cli, mode):
    proc = cli.run("demo", "--secret", "steps=Sekr1tXY", *mode)
    assert proc.returncode == 64, proc.stderr
    assert "steps must be a whole number >= 1, got '***'" in proc.stderr
    assert "Sekr1tXY" not in proc.stdout + proc.stderr


def test_a_store_file_secret_refused_by_the_factory_is_masked_in_the_help(
    cli, tmp_path
):
    store = tmp_path / "store.yaml"
    store.write_text("steps: Sekr1tXY\nsecrets: [steps]\n")
    proc = cli.run("demo", "--store-file", str(store), "--help")
    assert proc.returncode == 64, proc.stderr
    assert "got '***'" in proc.stderr
    assert "Sekr1tXY" not in proc.stdout + proc.stderr


# -- listeners ---------------------------------------------------------------------
def logged_messages(log_file: str) -> str:
    """The messages of a log file, its lines as text or oslo.log's JSON."""
    lines = pathlib.Path(log_file).read_text().splitlines()
    if lines and lines[0].startswith("{"):
        return "\n".join(json.loads(line)["message"] for line in lines)
    return "\n".join(lines)


@pytest.mark.parametrize(
    ("listener", "options"),
    [
        ("dynamic-logging", ()),
        ("dynamic-logging", ("--use-json",)),
        ("dynamic-logging", ("--debug",)),
        ("dynamic-logging", ("--debug", "--use-json")),
        ("logging", ("--debug",)),
        ("printing", ()),
    ],
)
def test_listener_lines_mask_the_secret_in_every_log_handler(
    cli, tmp_path, listener, options
):
    # Given a log file beside stderr, and a listener logging each step's inputs
    log_file = configure(cli, tmp_path)
    # When a run whose steps require the secret fails with it
    proc = cli.run(
        "fixture-secret-leaks",
        "--secret",
        f"password={SECRET}",
        "--listener",
        listener,
        *options,
    )
    # Then the listener's lines are in the log file, masked
    assert proc.returncode == 2, proc.stderr
    if listener == "dynamic-logging":
        assert "'requires': {'password': '***'}" in logged_messages(log_file)
    assert SECRET not in outputs(proc, cli)
    assert files_holding(tmp_path, SECRET) == []


def test_listener_lines_mask_a_yaml_input_declared_secret(cli, tmp_path):
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "secret-refused.yaml").write_text(
        "name: secret-refused\n"
        "inputs:\n  password: {secret: true}\n"
        "steps:\n"
        "  - name: refuses\n"
        "    task: fixture.refuses_password\n"
        "    requires: [password]\n"
    )
    log_file = configure(cli, tmp_path, f"flow_dirs = {flows}")
    proc = cli.run(
        "secret-refused",
        "--store",
        f"password={SECRET}",
        "--listener",
        "dynamic-logging",
    )
    assert proc.returncode == 1, proc.stderr
    assert "'requires': {'password': '***'}" in logged_messages(log_file)
    assert SECRET not in outputs(proc, cli)
    assert files_holding(tmp_path, SECRET) == []
