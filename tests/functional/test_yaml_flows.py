"""YAML flows through ``opsflow-run``: found in ``flow_dirs``, run, reverted.

The journal task and the Python twins of the YAML flows live in
``yamlkit/`` (a distribution put on ``PYTHONPATH``, not installed), so each
YAML flow is run beside the Python flow it mirrors and the journals of
execute/revert calls are compared line by line.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import time
from importlib import metadata

import pytest

KIT = os.path.join(os.path.dirname(__file__), "yamlkit")
REPO = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
DEMO_YAML = os.path.join(REPO, "etc", "opsflow", "flows.d", "demo-provision.yaml")
DEMO_STEPS = [
    "create_workdir",
    "pick_port",
    "render_config",
    "write_page",
    "start_service",
    "health_check",
    "record_inventory",
]


class YamlKit:
    def __init__(self, cli, tmp_path):
        self.cli = cli
        self.flow_dir = tmp_path / "flows.d"
        shutil.copytree(os.path.join(KIT, "flows.d"), self.flow_dir)
        self.tmp = tmp_path
        with open(cli.config, "a", encoding="utf-8") as handle:
            handle.write(f"flow_dirs = {self.flow_dir}\n")
        cli.env["PYTHONPATH"] = os.pathsep.join(
            [KIT, *filter(None, [cli.env.get("PYTHONPATH")])]
        )
        self._journals = 0

    def journal(self) -> str:
        self._journals += 1
        return str(self.tmp / f"journal-{self._journals}.txt")

    def run(self, flow, *args, journal=None):
        journal = journal or self.journal()
        result = self.cli.run(flow, "--store", f"journal={journal}", *args)
        return result, read(journal)

    def write(self, name, text):
        path = self.flow_dir / f"{name}.yaml"
        path.write_text(text)
        return str(path)


def read(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read().splitlines()
    except FileNotFoundError:
        return []


@pytest.fixture
def kit(cli, tmp_path):
    return YamlKit(cli, tmp_path)


def test_a_yaml_flow_runs_to_success_through_opsflow_run(kit):
    # Given the YAML flow kit-linear in flow_dirs
    # When it is run by name
    result, journal = kit.run("kit-linear", "--format", "json")
    # Then every step ran once, in order, and the run succeeded
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["state"] == "SUCCESS"
    assert journal == ["execute one", "execute two", "execute three"]


def test_a_failing_yaml_flow_is_fully_reverted(kit):
    result, journal = kit.run("kit-linear", "--store", "fail_at=three")
    assert result.returncode == 1, result.stderr
    assert journal == [
        "execute one",
        "execute two",
        "execute three",
        "revert three",
        "revert two",
        "revert one",
    ]


TWINS = [
    ("kit-nested", []),
    ("kit-nested", ["--store", "fail_at=g_consumer"]),
    ("kit-times", ["--store", 'fail_times={"flaky": 2}']),
    ("kit-times", ["--store", 'fail_times={"flaky": 3}']),
    ("kit-for-each", ["--store", "good=green"]),
    ("kit-for-each", ["--store", "good=pink"]),
    (
        "kit-parameterized",
        ["--store", "good=blue", "--store", 'candidates=["a","blue"]'],
    ),
    ("kit-parameterized", ["--store", "good=pink", "--store", 'candidates=["a","b"]']),
    ("kit-links", ["--store", "probe_status=missing"]),
    ("kit-links", ["--store", "probe_status=ok"]),
    ("kit-links", ["--store", "probe_status=old", "--store", "fail_at=configure"]),
]


@pytest.mark.parametrize(("flow", "store"), TWINS, ids=lambda v: str(v))
def test_a_yaml_flow_makes_the_same_calls_as_its_python_twin(kit, flow, store):
    # When the YAML flow and the Python flow it mirrors run with one store
    yaml_result, yaml_journal = kit.run(flow, *store)
    py_result, py_journal = kit.run(f"{flow}-py", *store)
    # Then they end alike, after the same execute and revert calls in order
    assert yaml_result.returncode == py_result.returncode, yaml_result.stderr
    assert yaml_journal == py_journal
    assert yaml_journal  # something ran


def test_retries_and_conditions_do_what_the_file_says(kit):
    # A retry that runs out reverts everything; a condition that is false
    # skips its target and what lies after it.
    result, journal = kit.run("kit-times", "--store", 'fail_times={"flaky": 5}')
    assert result.returncode == 1
    assert journal.count("execute flaky") == 3 and journal[-1] == "revert before"
    result, journal = kit.run("kit-links", "--store", "probe_status=ok")
    assert result.returncode == 0
    assert journal == ["execute probe", "execute report"]


def test_an_input_default_is_used_when_the_store_lacks_it(kit):
    # kit-links declares probe_status with the default "missing"
    result, journal = kit.run("kit-links")
    assert result.returncode == 0, result.stderr
    assert "execute install" in journal


def test_list_shows_yaml_flows_with_their_file(kit):
    result = kit.cli.run("--list")
    assert result.returncode == 0, result.stderr
    line = next(li for li in result.stdout.splitlines() if "kit-links " in li)
    assert str(kit.flow_dir / "kit-links.yaml") in line
    assert "A probe decides" in line
    listed = json.loads(kit.cli.run("--list", "--format", "json").stdout)
    targets = {p["name"]: p["target"] for p in listed["opsflow.flows"]["plugins"]}
    assert targets["kit-times"] == str(kit.flow_dir / "kit-times.yaml")


def test_a_yaml_flow_that_reuses_an_entry_point_name_is_an_error_naming_both(kit):
    path = kit.write(
        "clash",
        "name: kit-clash\ninputs: {journal: {}}\nsteps:\n  - {task: kit.step}\n",
    )
    result, journal = kit.run("kit-clash")
    assert result.returncode == 78
    assert path in result.stderr
    assert "opsflow_yamlkit.flows:linear" in result.stderr
    assert journal == []
    listing = kit.cli.run("--list").stdout
    [line] = [line for line in listing.splitlines() if "kit-clash" in line]
    assert line.startswith(
        "  kit-clash  BROKEN: flow name 'kit-clash' is defined more than once"
    )
    assert "neither runs (opsflow-run kit-clash refuses it)" in line


def test_dry_run_and_graph_work_for_yaml_flows(kit, tmp_path):
    dot = tmp_path / "links.dot"
    result, journal = kit.run(
        "kit-links", "--dry-run", "--graph", str(dot), "--format", "json"
    )
    assert result.returncode == 0, result.stderr
    assert journal == []
    plan = json.loads(result.stdout)
    assert "probe" in json.dumps(plan)
    assert '"probe" -> "install"' in dot.read_text()


BAD_FILES = {
    "syntax error": (
        "name: bad\nsteps:\n  - {name: one, task: kit.step\n  - name: two\n",
        78,
        4,
        "YAML syntax error",
    ),
    "unknown key": (
        "name: bad\ninputs: {journal: {}}\nsteps:\n  - task: kit.step\n"
        "    retries: 3\n",
        78,
        5,
        "unknown key 'retries'",
    ),
    "unknown task plugin": (
        "name: bad\ninputs: {journal: {}}\nsteps:\n  - name: one\n    task: kit.nope\n",
        78,
        5,
        "unknown task plugin 'kit.nope'",
    ),
    "wrong type": (
        "name: bad\ninputs: {journal: {}}\nsteps:\n  - task: kit.step\n"
        "    timeout: soon\n",
        78,
        5,
        "wrong type",
    ),
    "duplicate names": (
        "name: bad\ninputs: {journal: {}}\nsteps:\n  - {name: one, task: kit.step}\n"
        "  - {name: one, task: kit.step}\n",
        78,
        5,
        "duplicate name 'one'",
    ),
    "cycle": (
        "name: bad\npattern: graph\ninputs: {journal: {}}\nsteps:\n"
        "  - {name: one, task: kit.step, provides: a, requires: b}\n"
        "  - {name: two, task: kit.step, provides: b, requires: a}\n",
        78,
        6,
        "cycle",
    ),
    "cyclic links": (
        "name: bad\npattern: graph\ninputs: {journal: {}}\nsteps:\n"
        "  - {name: one, task: kit.step}\n  - {name: two, task: kit.step}\n"
        "links:\n  - {from: one, to: two}\n  - {from: two, to: one}\n",
        78,
        9,
        "makes a cycle",
    ),
    "undeclared input": (
        "name: bad\nsteps:\n  - {name: one, task: kit.step}\n",
        78,
        3,
        "'journal', which no step provides",
    ),
    "missing input": (
        "name: bad\ninputs:\n  journal: {}\n  target: {description: where}\n"
        "steps:\n  - {name: one, task: kit.step, requires: target}\n",
        64,
        4,
        "needs inputs that were not given: target",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_a_bad_flow_file_is_refused_with_its_file_and_line(kit, case):
    text, code, line, message = BAD_FILES[case]
    path = kit.write("bad", text)
    # When the bad flow is run
    result, journal = kit.run("bad")
    # Then the exit code and one line name the problem, the file and the line
    assert result.returncode == code, result.stderr
    assert f"{path}:{line}:" in result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    # and nothing ran
    assert journal == []


def test_a_declared_secret_input_is_masked_like_a_secret(kit):
    kit.write(
        "secretive",
        "name: secretive\ninputs:\n  journal: {}\n  token: {secret: true}\n"
        "steps:\n  - {name: echo, task: kit.step, rebind: {value: token}}\n",
    )
    result, _ = kit.run("secretive", "--store", "token=hunter2", "--format", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["atoms"]["echo"]["result"] == "***"
    assert "hunter2" not in result.stdout + result.stderr


def _stored_source(cli):
    from opsflow.persistence import backends

    backend = backends.fetch(
        {"connection": f"sqlite:///{os.path.join(cli.state, 'opsflow.sqlite')}"}
    )
    try:
        details = [fd for fd, _ in backend.get_connection().list_flow_details()]
    finally:
        backend.close()
    return [fd.meta.get("source") for fd in details]


def test_a_run_records_the_file_and_sha256_it_came_from(kit):
    import hashlib

    result, _ = kit.run("kit-linear")
    assert result.returncode == 0, result.stderr
    path = str(kit.flow_dir / "kit-linear.yaml")
    with open(path, "rb") as handle:
        digest = hashlib.sha256(handle.read()).hexdigest()
    assert _stored_source(kit.cli) == [{"kind": "yaml", "path": path, "sha256": digest}]


def test_resuming_a_run_whose_file_changed_is_refused_unless_forced(kit):
    # Given a run of kit-linear suspended during its first step
    journal = kit.journal()
    proc = kit.cli.popen(
        "kit-linear", "--store", f"journal={journal}", "--store", "delay=0.3"
    )
    deadline = time.monotonic() + 30
    while not read(journal) and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 3, err
    history = json.loads(kit.cli.run("--history", "--format", "json").stdout)
    run_id = history[0]["run_id"]
    # When its file changes and the run is resumed
    path = kit.flow_dir / "kit-linear.yaml"
    path.write_text(path.read_text() + "# edited\n")
    refused = kit.cli.run("--resume", run_id)
    # Then the resume is refused, naming the file, and nothing runs
    assert refused.returncode == 69, refused.stderr
    assert str(path) in refused.stderr and "--force" in refused.stderr
    assert read(journal) == ["execute one"]
    # and with --force it goes on
    forced = kit.cli.run("--resume", run_id, "--force")
    assert forced.returncode == 0, forced.stderr
    assert read(journal)[-2:] == ["execute two", "execute three"]


# -- demo-provision, YAML and Python -----------------------------------------
def _linux_tasks_installed() -> bool:
    names = {ep.name for ep in metadata.entry_points(group="opsflow.tasks")}
    flows = {ep.name for ep in metadata.entry_points(group="opsflow.flows")}
    needed = {"linux.directory", "linux.service", "linux.fail"}
    return needed <= names and "demo-provision" in flows


needs_linux = pytest.mark.skipif(
    not _linux_tasks_installed(), reason="the opsflow-linux plugin is not installed"
)


def _demo_kit(kit, fail_after=None):
    """The YAML demo in flow_dirs, with a linux.fail step after ``fail_after``."""
    with open(DEMO_YAML, encoding="utf-8") as handle:
        text = handle.read()
    if fail_after:
        index = DEMO_STEPS.index(fail_after)
        marker = (
            f"  - name: {DEMO_STEPS[index + 1]}\n"
            if index + 1 < len(DEMO_STEPS)
            else None
        )
        step = (
            f"  - name: fail_after_{fail_after}\n    task: linux.fail\n"
            f"    with: {{after: {fail_after}}}\n"
        )
        text = text.replace(marker, step + marker) if marker else text + step
    kit.write("demo-provision", text)


def _leftovers(workdir, inventory):
    """What a demo run left on the host (empty: the host is as before)."""
    left = []
    if os.path.exists(workdir):
        left.append(f"{workdir}: {sorted(os.listdir(workdir))}")
    if any(line.strip() for line in read(inventory)):
        left.append(f"{inventory} has records")
    return left


def _serves(port) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


@needs_linux
def test_the_yaml_demo_provision_provisions_like_the_python_one(kit, tmp_path):
    _demo_kit(kit)
    for flow in ("demo-provision-yaml", "demo-provision"):
        workdir, inventory = tmp_path / f"{flow}-w", tmp_path / f"{flow}-inv.jsonl"
        store = ["--store", f"workdir={workdir}", "--store", f"inventory={inventory}"]
        result = kit.cli.run(flow, *store, "--format", "json")
        assert result.returncode == 0, result.stderr
        atoms = json.loads(result.stdout)["atoms"]
        assert list(atoms) == DEMO_STEPS
        port = atoms["pick_port"]["result"]
        assert sorted(os.listdir(workdir)) == [
            "demo.conf",
            "index.html",
            "service.log",
            "service.pid",
        ]
        assert _serves(port)
        (record,) = [json.loads(li) for li in inventory.read_text().splitlines()]
        assert record["kind"] == "demo" and record["workdir"] == str(workdir)
        gone = kit.cli.run("demo-deprovision", *store)
        assert gone.returncode == 0, gone.stderr
        assert not _serves(port)


@needs_linux
@pytest.mark.parametrize("step", DEMO_STEPS)
def test_a_failure_after_each_demo_step_leaves_the_host_as_before(kit, tmp_path, step):
    _demo_kit(kit, fail_after=step)
    states = {}
    for flow, extra in (
        ("demo-provision-yaml", []),
        ("demo-provision", ["--store", f"fail_at={step}"]),
    ):
        workdir, inventory = tmp_path / f"{flow}-w", tmp_path / f"{flow}-inv.jsonl"
        result = kit.cli.run(
            flow,
            "--store",
            f"workdir={workdir}",
            "--store",
            f"inventory={inventory}",
            *extra,
            "--format",
            "json",
        )
        assert result.returncode == 1, result.stderr
        document = json.loads(result.stdout)
        states[flow] = {
            name: atom["state"]
            for name, atom in document["atoms"].items()
            if not name.startswith("fail_after_")
        }
        assert _leftovers(str(workdir), str(inventory)) == []
        port = document["atoms"]["pick_port"]["result"]
        if isinstance(port, int):
            assert not _serves(port)
    assert states["demo-provision-yaml"] == states["demo-provision"]


@pytest.mark.parametrize(
    ("step", "key", "where"),
    [
        ("{name: b, task: kit.step, provide: x}", "provide", "steps[1]"),
        (
            "{name: n, flow: {steps: [{name: c, task: kit.step, rquires: [x]}]}}",
            "rquires",
            "steps[1].flow.steps[0]",
        ),
    ],
)
def test_an_unknown_key_in_a_task_step_is_named(kit, step, key, where):
    # Given a task step with a misspelt key, not a step missing 'flow'
    path = kit.write(
        "typo",
        f"name: typo\ninputs: {{journal: {{}}}}\nsteps:\n"
        f"  - {{name: a, task: kit.step}}\n  - {step}\n",
    )
    result = kit.cli.run("typo", "--store", "journal=/dev/null")
    assert result.returncode == 78
    line = result.stderr.strip()
    assert line.startswith(f"opsflow-run: error: {path}:5:")
    assert f"unknown key {key!r} at {where}; allowed: inject, name, provides" in line
    assert "missing key" not in line
