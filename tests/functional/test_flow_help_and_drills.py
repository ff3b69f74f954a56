"""A flow's own help (``FLOW --help``, ``--describe``) and revert drills
(``--fail-at STEP``), through the installed ``opsflow-run``."""

from __future__ import annotations

import json
import os
import shutil

import pytest

HERE = os.path.dirname(__file__)
KIT = os.path.join(HERE, "yamlkit")
REPO = os.path.dirname(os.path.dirname(HERE))
DEMO_YAML = os.path.join(REPO, "etc", "opsflow", "flows.d", "demo-provision.yaml")
DEMO_STEPS = [
    "create_workdir",
    "write_file",
    "step_1",
    "step_2",
    "step_3",
    "write_report",
]


def _flow_dir(cli, tmp_path, *files):
    flow_dir = tmp_path / "flows.d"
    flow_dir.mkdir(exist_ok=True)
    for path in files:
        shutil.copy(path, flow_dir)
    with open(cli.config, "a", encoding="utf-8") as handle:
        handle.write(f"flow_dirs = {flow_dir}\n")
    return flow_dir


def _nothing_recorded(cli):
    history = cli.run("--history", "--format", "json")
    assert history.returncode == 0, history.stderr
    assert json.loads(history.stdout) == []


# -- FLOW --help and --describe ------------------------------------------------
def test_flow_help_shows_description_inputs_and_steps_and_runs_nothing(cli):
    proc = cli.run("demo", "--help")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert out.startswith("usage: opsflow-run demo ")
    assert "Create a work dir, write a file, run a few steps, write a report." in out
    assert "entry point demo = opsflow_demo.flows:demo_flow of opsflow-demo" in out
    inputs = out.split("inputs (")[1].split("steps (")[0]
    # From the factory's signature and docstring, then from the steps
    assert "steps     default 3; how many work steps" in inputs
    assert "delay     default 0.2" in inputs
    assert "greeting  default 'hello from opsflow'" in inputs
    assert "(read by write_file)" in inputs
    steps = out.split("steps (in the order a serial run takes them):")[1]
    listed = [line.split()[1:3] for line in steps.splitlines() if ". " in line[:6]]
    assert listed == [
        ["create_workdir", "demo.create_workdir"],
        ["write_file", "demo.write_file"],
        ["step_1", "demo.step"],
        ["step_2", "demo.step"],
        ["step_3", "demo.step"],
        ["write_report", "demo.write_report"],
    ]
    _nothing_recorded(cli)


def test_flow_help_lists_the_steps_the_given_inputs_make(cli):
    proc = cli.run("demo", "--help", "--store", "steps=1")
    assert proc.returncode == 0, proc.stderr
    assert " step_1 " in proc.stdout and "step_2" not in proc.stdout


def test_describe_json_is_one_document(cli):
    proc = cli.run("demo", "--describe", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    document = json.loads(proc.stdout)
    assert document["name"] == "demo"
    by_name = {item["name"]: item for item in document["inputs"]}
    assert by_name["steps"] == {
        "name": "steps",
        "required": False,
        "default": 3,
        "secret": False,
        "description": "how many work steps",
        "declared_by": "factory",
        "used_by": [],
    }
    assert by_name["delay"]["declared_by"] == "steps"
    assert by_name["delay"]["used_by"] == ["step_1", "step_2", "step_3"]
    assert [(s["name"], s["task"]) for s in document["steps"]][:2] == [
        ("create_workdir", "demo.create_workdir"),
        ("write_file", "demo.write_file"),
    ]
    assert document["steps_need"] == []


def test_yaml_flow_help_shows_declared_inputs_and_secrets(cli, tmp_path):
    flow_dir = _flow_dir(cli, tmp_path, DEMO_YAML)
    (flow_dir / "with-secret.yaml").write_text(
        "name: with-secret\n"
        "description: Make one directory.\n"
        "inputs:\n"
        "  workdir: {description: Where it goes.}\n"
        "  token: {description: API token., secret: true}\n"
        "  mode: {default: 448}\n"
        "steps:\n"
        "  - {name: make, task: linux.directory, requires: workdir,"
        " with: {path: '{workdir}'}}\n"
    )
    proc = cli.run("with-secret", "--describe", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    document = json.loads(proc.stdout)
    assert document["description"] == "Make one directory."
    assert document["origin"] == f"file {flow_dir / 'with-secret.yaml'}"
    inputs = {item["name"]: item for item in document["inputs"]}
    assert inputs["workdir"]["required"] is True
    assert inputs["workdir"]["description"] == "Where it goes."
    assert inputs["token"]["secret"] is True
    assert inputs["mode"] == {**inputs["mode"], "required": False, "default": 448}
    assert document["steps"][0]["task"] == "linux.directory"

    text = cli.run("demo-provision-yaml", "--help")
    assert text.returncode == 0, text.stderr
    assert "A small web service on 127.0.0.1" in text.stdout
    assert "workdir    required; Directory that holds" in text.stdout
    assert "title      default 'opsflow demo'" in text.stdout
    assert "health_check      linux.http_health_check" in text.stdout


def test_a_factory_that_needs_inputs_to_build_says_which(cli):
    proc = cli.run("fixture-factory-needs", "--help")
    assert proc.returncode == 0, proc.stderr
    assert "region  required" in proc.stdout
    assert "steps: decided by the factory once region given" in proc.stdout


def test_help_without_a_flow_is_the_commands_help(cli):
    proc = cli.run("--help")
    assert proc.returncode == 0
    assert proc.stdout.startswith("usage: opsflow-run")
    assert "--fail-at STEP" in proc.stdout


def test_describe_of_an_unknown_flow_is_a_usage_error(cli):
    proc = cli.run("no-such-flow", "--help")
    assert proc.returncode == 64
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "no-such-flow" in proc.stderr


def test_help_does_not_cut_a_description_at_an_abbreviation(cli):
    proc = cli.run("provision-tenant", "--store", "tenant=t1", "--help")
    assert proc.returncode == 0, proc.stderr
    steps = proc.stdout.split("steps (in the order a serial run takes them):")[1]
    host = " ".join(steps.split("3. host_address")[1].split("4.")[0].split())
    assert (
        host == "linux.address Add address (CIDR, e.g. 10.0.0.1/30) to ifname, in netns"
    )


def test_a_factory_error_is_printed_once(cli):
    proc = cli.run("fixture-cyclic", "--help")
    assert proc.returncode == 69
    assert proc.stdout == ""
    [line] = proc.stderr.strip().splitlines()
    assert line.startswith(
        "opsflow-run: error: flow plugin 'fixture-cyclic' could not build its flow: "
        "DependencyFailure: "
    )
    assert line.count("DependencyFailure") == 1
    assert line.count("makes a cycle") == 1


# -- --fail-at: revert drills ---------------------------------------------------
def test_fail_at_reverts_everything_up_to_the_step(cli, tmp_path):
    workdir = tmp_path / "work"
    proc = cli.run(
        "demo",
        "--fail-at",
        "step_2",
        "--store",
        f"workdir={workdir}",
        "--store",
        "delay=0",
        "--format",
        "json",
    )
    assert proc.returncode == 1, proc.stderr
    document = json.loads(proc.stdout)
    assert document["state"] == "REVERTED"
    steps = {name: atom["state"] for name, atom in document["atoms"].items()}
    for name in ("create_workdir", "write_file", "step_1", "step_2"):
        assert steps[name] == "REVERTED"
    # step_2 succeeded and was undone; nothing after it ran
    assert steps["step_3"] == "PENDING" and steps["write_report"] == "PENDING"
    assert "revert drill" in json.dumps(document["failures"])
    assert not workdir.exists()


def test_fail_at_the_last_step_reverts_the_whole_flow(cli, tmp_path):
    workdir = tmp_path / "work"
    proc = cli.run(
        "demo",
        "--fail-at",
        "write_report",
        "--store",
        f"workdir={workdir}",
        "--store",
        "delay=0",
    )
    assert proc.returncode == 1, proc.stderr
    assert "REVERTED" in proc.stdout
    assert "revert drill" in proc.stdout
    assert not workdir.exists()


def test_fail_at_an_unknown_step_is_a_usage_error_and_runs_nothing(cli):
    proc = cli.run("demo", "--fail-at", "step_9")
    assert proc.returncode == 64
    lines = proc.stderr.strip().splitlines()
    assert lines == [
        "opsflow-run: error: --fail-at step_9: flow demo has no step 'step_9'; "
        "its steps: " + ", ".join(DEMO_STEPS)
    ]
    _nothing_recorded(cli)


def test_a_drills_plan_says_where_the_run_fails_and_what_is_then_reverted(cli):
    proc = cli.run("demo", "--fail-at", "step_2", "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "flow demo: revert drill (--fail-at step_2); would run (serial order; "
        "nothing runs now):",
        "  1. create_workdir",
        "  2. write_file",
        "  3. step_1",
        "  4. step_2",
        "then the run fails on purpose right after step_2 and reverts, in this "
        "order: step_2, step_1, write_file, create_workdir",
        "never run: step_3, write_report",
        "the drill ends REVERTED (exit 1) when every revert succeeds",
    ]
    document = json.loads(
        cli.run("demo", "--fail-at", "step_2", "--dry-run", "--format", "json").stdout
    )
    assert document["drill"] == {
        "fail_at": "step_2",
        "runs": DEMO_STEPS[:4],
        "then_reverts": DEMO_STEPS[:4][::-1],
        "not_run": ["step_3", "write_report"],
        "skipped_unless": [],
    }
    _nothing_recorded(cli)


@pytest.fixture
def kit(cli, tmp_path):
    flow_dir = _flow_dir(cli, tmp_path)
    for name in ("kit-times.yaml", "kit-links.yaml"):
        shutil.copy(os.path.join(KIT, "flows.d", name), flow_dir)
    cli.env["PYTHONPATH"] = os.pathsep.join(
        [KIT, *filter(None, [cli.env.get("PYTHONPATH")])]
    )
    return tmp_path


def _journal(path):
    return path.read_text().splitlines() if path.exists() else []


def test_fail_at_inside_a_retried_subflow_reverts_all_without_retrying(cli, kit):
    journal = kit / "journal.txt"
    proc = cli.run("kit-times", "--fail-at", "prepare", "--store", f"journal={journal}")
    assert proc.returncode == 1, proc.stderr
    # The drill is not retried: one execute of each step, then the undo
    assert _journal(journal) == [
        "execute before",
        "execute prepare",
        "revert prepare",
        "revert before",
    ]


def test_fail_at_in_a_graph_flow_fails_before_what_depends_on_the_step(cli, kit):
    journal = kit / "journal.txt"
    proc = cli.run("kit-links", "--fail-at", "install", "--store", f"journal={journal}")
    assert proc.returncode == 1, proc.stderr
    lines = _journal(journal)
    assert "execute configure" not in lines  # it comes after install
    assert lines.index("execute install") < lines.index("revert install")
    assert lines[-1] == "revert probe"
