"""The YAML examples of docs/flows-yaml.md, run as written by ``opsflow-run``."""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.request

import pytest
from storekit import PG_URL, unavailable

REPO = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
PG_ADMIN = PG_URL.rsplit("/", 1)[0] + "/postgres"


def _examples() -> dict[str, str]:
    with open(os.path.join(REPO, "docs", "flows-yaml.md"), encoding="utf-8") as doc:
        text = doc.read()
    blocks = [b.split("```", 1)[0] for b in text.split("```yaml\n")[1:]]
    flows = [b for b in blocks if b.lstrip().startswith("name:")]
    return {b.split("\n", 1)[0].split(":", 1)[1].strip(): b for b in flows}


@pytest.fixture
def docs_flows(cli, tmp_path):
    flow_dir = tmp_path / "flows.d"
    flow_dir.mkdir()
    for name, text in _examples().items():
        (flow_dir / f"{name}.yaml").write_text(text)
    with open(cli.config, "a", encoding="utf-8") as handle:
        handle.write(f"flow_dirs = {flow_dir}\n")
    return tmp_path


def _inputs(tmp_path) -> dict[str, list[str]]:
    return {
        "db-user": [
            "--store",
            f"pg_dsn={PG_ADMIN}",
            "--secret",
            "db_password=example-password",
        ],
        "web-stack": ["--store", f"root={tmp_path / 'site'}"],
        "mirror-pick": ["--store", f"target={tmp_path / 'mirror'}"],
    }


def test_every_example_is_a_flow_that_plans(cli, docs_flows):
    inputs = _inputs(docs_flows)
    # Every example of the page has its inputs here (a new one must be added)
    assert sorted(_examples()) == sorted(inputs)
    for name, args in inputs.items():
        proc = cli.run(name, "--dry-run", *args)
        assert proc.returncode == 0, (name, proc.stderr)
        assert "if it fails, reverts:" in proc.stdout


def _states(proc) -> dict[str, str]:
    return {
        name: atom["state"] for name, atom in json.loads(proc.stdout)["atoms"].items()
    }


def _stop(pidfile) -> None:
    if pidfile.exists():
        os.kill(int(pidfile.read_text().split()[0]), signal.SIGTERM)


def test_web_stack_lays_out_the_site_and_serves_only_when_asked(cli, docs_flows):
    root = docs_flows / "site"
    pidfile = docs_flows / "site.pid"
    args = _inputs(docs_flows)["web-stack"]
    # Without start=yes the condition is false: serve is skipped
    quiet = cli.run("web-stack", *args, "--format", "json")
    assert quiet.returncode == 0, quiet.stderr
    assert _states(quiet)["service"] == "IGNORE"
    assert (root / "index.html").read_text() == "<h1>hello</h1>\n"
    assert not pidfile.exists()
    # With start=yes the decide step's output matches and the site is served
    root.joinpath("index.html").unlink()
    root.rmdir()
    try:
        served = cli.run("web-stack", *args, "--store", "start=yes", "--format", "json")
        assert served.returncode == 0, served.stderr
        document = json.loads(served.stdout)
        assert _states(served)["service"] == "SUCCESS"
        port = document["atoms"]["port"]["result"]
        deadline = time.monotonic() + 10
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/") as reply:
                    assert reply.read() == b"<h1>hello</h1>\n"
                break
            except OSError:
                assert time.monotonic() < deadline, "the site never answered"
                time.sleep(0.1)
    finally:
        _stop(pidfile)


def test_web_stack_drill_after_the_service_leaves_nothing(cli, docs_flows):
    args = _inputs(docs_flows)["web-stack"]
    pidfile = docs_flows / "site.pid"
    try:
        proc = cli.run(
            "web-stack", *args, "--store", "start=yes", "--fail-at", "service"
        )
        assert proc.returncode == 1, proc.stderr
        assert not (docs_flows / "site").exists()
        assert not pidfile.exists()
    finally:
        _stop(pidfile)


def test_web_stack_help_lists_its_retry_controller_apart(cli, docs_flows):
    proc = cli.run("web-stack", "--help")
    assert proc.returncode == 0, proc.stderr
    steps, retries = proc.stdout.split("steps (in the order")[1].split(
        "retry controllers (they rerun a subflow; --fail-at takes a step):\n"
    )
    assert "serve-retry" not in steps
    assert "   4. port      linux.free_port  Provide a TCP port" in steps
    first = retries.splitlines()[0]
    assert first.startswith("  serve-retry  opsflow.retry:Times  Up to attempts runs")
    drill = cli.run(
        "web-stack", *_inputs(docs_flows)["web-stack"], "--fail-at", "serve-retry"
    )
    assert drill.returncode == 64
    assert (
        "--fail-at serve-retry: serve-retry is a retry controller of flow "
        "web-stack, not a step; its steps: site_dir, page, decide, port, service"
    ) in drill.stderr


def test_web_stack_plan_names_the_value_its_condition_tests(cli, docs_flows):
    proc = cli.run("web-stack", *_inputs(docs_flows)["web-stack"], "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert (
        "       runs only if answer in ['yes', 'y'] (after decide), else skipped\n"
    ) in proc.stdout


def test_a_drill_whose_step_is_skipped_says_it_did_not_fire(cli, docs_flows):
    args = [*_inputs(docs_flows)["web-stack"], "--fail-at", "port"]
    plan = cli.run("web-stack", *args, "--dry-run")
    assert plan.returncode == 0, plan.stderr
    assert (
        "if port is skipped (it runs only if answer in ['yes', 'y'] (after "
        "decide)), the drill does not fire: the run goes on and exits 64"
    ) in plan.stdout
    proc = cli.run("web-stack", *args, "--format", "json")
    assert proc.returncode == 64, proc.stderr
    assert _states(proc)["port"] == "IGNORE"
    assert proc.stderr.strip().splitlines()[-1] == (
        "opsflow-run: warning: drill did not fire: port was skipped, so nothing "
        "was rehearsed; the run ended SUCCESS and its changes stay"
    )
    assert (docs_flows / "site" / "index.html").exists()


def test_mirror_pick_tries_each_mirror_then_undoes_the_workspace(cli, docs_flows):
    # The example's mirrors are under .example, which never resolves
    proc = cli.run(
        "mirror-pick", *_inputs(docs_flows)["mirror-pick"], "--format", "json"
    )
    assert proc.returncode == 1, proc.stderr
    document = json.loads(proc.stdout)
    assert document["atoms"]["mirrors"]["attempts"] == 2
    assert not (docs_flows / "mirror").exists()


def test_db_user_creates_and_its_drill_drops_everything(cli, docs_flows):
    psycopg = pytest.importorskip("psycopg")
    try:
        admin = psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3)
    except psycopg.Error as exc:
        unavailable(f"PostgreSQL not reachable at 127.0.0.1:5432: {exc}")
    try:
        proc = cli.run("db-user", *_inputs(docs_flows)["db-user"], "--fail-at", "grant")
        assert proc.returncode == 1, proc.stderr
        assert "grant            REVERTED" in proc.stdout
        assert "example-password" not in proc.stdout + proc.stderr
        role = admin.execute(
            "SELECT 1 FROM pg_roles WHERE rolname = 'report_reader'"
        ).fetchone()
        database = admin.execute(
            "SELECT 1 FROM pg_database WHERE datname = 'reports'"
        ).fetchone()
        assert (role, database) == (None, None)
    finally:
        admin.close()
