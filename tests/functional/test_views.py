"""Operator views through ``opsflow-run``: plans, pictures, reports, --revert.

The flows are YAML files composing one journal task, ``views.step``, from a
small plugin distribution written into the test's directory and put on
``PYTHONPATH`` (so these tests need no installed fixture). The task journals
every execute and revert, fails where told, sleeps as long as told, and
refuses to revert while a "blocker" file names it: the cause a person fixes
before ``--revert``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import time
import xml.etree.ElementTree as ET

import pytest

TASKS = """
import os
import time

from opsflow import task


def _write(journal, line):
    with open(journal, "a", encoding="utf-8") as handle:
        handle.write(line + "\\n")


class Step(task.Task):
    def execute(self, journal, fail_at=None, sleep=None, blocker=None, **extra):
        _write(journal, f"execute {self.name}")
        if sleep:
            time.sleep(float(sleep.get(self.name, 0)))
        if fail_at == self.name:
            raise RuntimeError(f"{self.name} fails on purpose")
        return self.name

    def revert(self, journal, blocker=None, revert_sleep=None, **kwargs):
        if blocker and os.path.exists(blocker):
            with open(blocker, encoding="utf-8") as handle:
                if self.name in handle.read().split():
                    raise RuntimeError(f"{self.name} cannot be undone: {blocker}")
        if revert_sleep:
            time.sleep(float(revert_sleep.get(self.name, 0)))
        _write(journal, f"revert {self.name}")
"""

LINEAR = """
name: views-linear
inputs:
  journal: {}
steps:
  - {name: a, task: views.step}
  - {name: b, task: views.step}
  - {name: c, task: views.step}
  - {name: d, task: views.step}
"""

SHAPES = """
name: views-shapes
pattern: graph
inputs:
  journal: {}
  probe_status: {default: missing}
steps:
  - {name: probe, task: views.step, provides: status}
  - {name: install, task: views.step, requires: status}
  - name: attempts
    flow:
      retry: {kind: times, name: again, attempts: 2}
      steps:
        - {name: prepare, task: views.step}
        - {name: flaky, task: views.step}
  - {name: report, task: views.step}
links:
  - from: probe
    to: install
    when: {value: status, in: [probe]}
  - {from: install, to: attempts}
  - {from: attempts, to: report}
"""

LINEAR_STEPS = ["a", "b", "c", "d"]
SHAPES_STEPS = ["probe", "install", "again", "prepare", "flaky", "report"]


class Views:
    """The test plugin and flow files, and helpers to run and read runs."""

    def __init__(self, cli, tmp_path):
        self.cli = cli
        self.tmp = tmp_path
        kit = tmp_path / "kit"
        package = kit / "opsflow_viewskit"
        package.mkdir(parents=True)
        (package / "__init__.py").write_text("")
        (package / "tasks.py").write_text(TASKS)
        info = kit / "opsflow_viewskit-1.0.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            "Metadata-Version: 2.1\nName: opsflow-viewskit\nVersion: 1.0.0\n"
        )
        (info / "entry_points.txt").write_text(
            "[opsflow.tasks]\nviews.step = opsflow_viewskit.tasks:Step\n"
        )
        (info / "top_level.txt").write_text("opsflow_viewskit\n")
        flows = tmp_path / "flows.d"
        flows.mkdir()
        (flows / "views-linear.yaml").write_text(LINEAR)
        (flows / "views-shapes.yaml").write_text(SHAPES)
        with open(cli.config, "a", encoding="utf-8") as handle:
            handle.write(f"flow_dirs = {flows}\n")
        cli.env["PYTHONPATH"] = os.pathsep.join(
            [str(kit), *filter(None, [cli.env.get("PYTHONPATH")])]
        )
        self.journal = str(tmp_path / "journal.txt")
        self.blocker = str(tmp_path / "blocker.txt")

    def run(self, flow, *args, **store):
        values = {"journal": self.journal, "blocker": self.blocker, **store}
        flags = []
        for key, value in values.items():
            text = value if isinstance(value, str) else json.dumps(value)
            flags += ["--store", f"{key}={text}"]
        return self.cli.run(flow, *flags, *args)

    def lines(self):
        try:
            with open(self.journal, encoding="utf-8") as handle:
                found = handle.read().splitlines()
        except FileNotFoundError:
            return []
        os.unlink(self.journal)
        return found

    def last_run_id(self):
        proc = self.cli.run("--history", "--format", "json")
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)[0]["run_id"]

    def show(self, run_id):
        proc = self.cli.run("--show", run_id, "--format", "json")
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)


@pytest.fixture
def views(cli, tmp_path):
    return Views(cli, tmp_path)


def _plan(views, flow):
    proc = views.run(flow, "--dry-run", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _tasks_only(names, retries):
    return [name for name in names if name not in retries]


# -- the plan ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("flow", "steps"), [("views-linear", LINEAR_STEPS), ("views-shapes", SHAPES_STEPS)]
)
def test_the_plan_says_what_each_failure_reverts_and_runs_do_exactly_that(
    views, flow, steps
):
    # Given the plan of the flow (nothing runs to make it)
    plan = _plan(views, flow)
    assert plan["order"] == steps
    assert views.lines() == []
    retries = {s["name"] for s in plan["steps"] if s["kind"] == "retry"}
    for step in plan["steps"]:
        if step["kind"] == "retry":
            continue
        # When the flow runs and that step fails (every attempt)
        proc = views.run(flow, fail_at=step["name"])
        assert proc.returncode == 1, proc.stderr
        journal = views.lines()
        # Then it ran what the plan says ran before it, in that order ...
        ran = plan["order"][: plan["order"].index(step["name"]) + 1]
        executes = [line.split()[1] for line in journal if line.startswith("execute")]
        assert executes[: len(_tasks_only(ran, retries))] == _tasks_only(ran, retries)
        # ... and reverted what the plan says: each retry's subflow once per
        # attempt left, then everything that ran, newest first
        expected = []
        for stage in step["retried_by"]:
            expected += _tasks_only(stage["reverts"], retries) * (stage["attempts"] - 1)
        expected += _tasks_only(step["reverted_on_failure"], retries)
        reverts = [line.split()[1] for line in journal if line.startswith("revert")]
        assert reverts == expected, step["name"]


def test_the_text_plan_names_retries_and_conditions(views):
    proc = views.run("views-shapes", "--dry-run")
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert "runs only if" in text and "else skipped" in text
    assert "if it fails, again (2 attempts) reverts flaky, prepare and runs them" in (
        text
    )
    assert "when retries run out, reverts: flaky, prepare, again, install, probe" in (
        text
    )


def test_a_dry_run_runs_nothing_and_records_nothing(views):
    proc = views.run("views-linear", "--dry-run", fail_at="a")
    assert proc.returncode == 0, proc.stderr
    assert views.lines() == []
    assert not os.path.exists(os.path.join(views.cli.state, "opsflow.sqlite"))


# -- pictures ----------------------------------------------------------------------
def _svg_texts(path):
    root = ET.parse(path).getroot()
    ns = "{http://www.w3.org/2000/svg}"
    nodes = {}
    for group in root.iter(f"{ns}g"):
        if group.get("class") == "node":
            title = group.find(f"{ns}title").text
            nodes[title] = " ".join(t.text or "" for t in group.iter(f"{ns}text"))
    return nodes


def _mermaid_nodes(text):
    """``{step: label}`` from the Mermaid text's node lines."""
    found = {}
    for match in re.finditer(r'^\s*s\d+(?:\[|\{\{)"(.*?)"(?:\]|\}\})$', text, re.M):
        label = match.group(1).split("<br/>")
        found[label[0].split(". ", 1)[1]] = label
    return found


def test_every_format_draws_every_step_of_a_flow(views, tmp_path):
    for name in ("flow.dot", "flow.mmd", "flow.txt"):
        proc = views.run("views-shapes", "--graph", str(tmp_path / name))
        assert proc.returncode == 0, proc.stderr
    dot = (tmp_path / "flow.dot").read_text()
    mermaid = (tmp_path / "flow.mmd").read_text()
    tree = (tmp_path / "flow.txt").read_text()
    for step in SHAPES_STEPS:
        assert f'"{step}" [label=' in dot
        assert re.search(rf"^[│ ]*(├─|└─) \d\. {step}\b", tree, re.M), tree
    assert sorted(_mermaid_nodes(mermaid)) == sorted(SHAPES_STEPS)
    # retries and deciders are visible
    assert "retried by again: 2 attempts" in dot and "shape=hexagon" in dot
    assert '"probe" -> "install" [style=dashed, label="if ' in dot
    assert re.search(r"s1 -\. \"if .*\" \.-> s2", mermaid)
    assert 'subgraph g1["attempts (linear), retried by again: 2 attempts"]' in (mermaid)
    assert views.lines() == []


def test_a_run_picture_colours_each_state_and_draws_the_revert_path(views, tmp_path):
    # Given a run that failed at c and was reverted
    assert views.run("views-linear", fail_at="c").returncode == 1
    run_id = views.last_run_id()
    # When its picture is drawn as Mermaid and as a text tree
    for name in ("run.mmd", "run.txt", "run.dot"):
        proc = views.cli.run("--show", run_id, "--graph", str(tmp_path / name))
        assert proc.returncode == 0, proc.stderr
    mermaid = (tmp_path / "run.mmd").read_text()
    # Then every step is there with its state ...
    nodes = _mermaid_nodes(mermaid)
    assert {step: label[1].split()[0] for step, label in nodes.items()} == {
        "a": "REVERTED",
        "b": "REVERTED",
        "c": "REVERTED",
        "d": "PENDING",
    }
    assert "class s1,s2,s3 REVERTED" in mermaid
    assert re.search(r"classDef REVERTED fill:#\w+", mermaid)
    # ... and the revert path goes c, b, a
    undo = re.findall(r"(s\d) == \"undo (\d)\" ==> (s\d)", mermaid)
    assert undo == [("s3", "1", "s2"), ("s2", "2", "s1")]
    assert "reverted: c -> b -> a" in (tmp_path / "run.txt").read_text()
    dot = (tmp_path / "run.dot").read_text()
    assert '"c" -> "b" [color="#c62828"' in dot


needs_dot = pytest.mark.skipif(
    shutil.which("dot") is None,
    reason="Graphviz's dot is not installed (apt-get install graphviz); "
    ".ci/run installs it",
)


@needs_dot
def test_a_run_is_drawn_as_svg_and_png_by_graphviz(views, tmp_path):
    assert views.run("views-shapes", fail_at="report").returncode == 1
    run_id = views.last_run_id()
    states = {name: atom["state"] for name, atom in views.show(run_id)["atoms"].items()}
    svg, png = tmp_path / "run.svg", tmp_path / "run.png"
    for path in (svg, png):
        proc = views.cli.run("--show", run_id, "--graph", str(path))
        assert proc.returncode == 0, proc.stderr
    nodes = _svg_texts(svg)
    assert sorted(nodes) == sorted(SHAPES_STEPS)
    for step, state in states.items():
        assert state in nodes[step], (step, nodes[step])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_svg_without_graphviz_is_one_clear_line_and_exit_69(views, tmp_path):
    views.cli.env["PATH"] = str(tmp_path / "no-such-dir")
    proc = views.run("views-linear", "--graph", str(tmp_path / "flow.svg"))
    assert proc.returncode == 69
    assert "Graphviz's dot program" in proc.stderr
    assert "apt-get install graphviz" in proc.stderr
    assert not (tmp_path / "flow.svg").exists()


# -- the run report and --revert ----------------------------------------------------
def test_show_reports_start_duration_attempts_and_the_traceback(views):
    proc = views.run("views-shapes", fail_at="flaky", sleep={"probe": 0.2})
    assert proc.returncode == 1, proc.stderr
    run_id = views.last_run_id()
    document = views.show(run_id)
    probe, flaky = document["atoms"]["probe"], document["atoms"]["flaky"]
    assert probe["started_at"].endswith("+00:00")
    assert 0.2 <= probe["run_duration"] < 1.5
    assert flaky["attempts"] == 2 and probe["attempts"] == 1
    assert document["not_reverted"] == [] and document["revert_command"] is None
    text = views.cli.run("--show", run_id).stdout
    assert re.search(r"^  flaky +REVERTED +\d{4}-\d\d-\d\dT[\d:.]+ .* 2 *$", text, re.M)
    assert "step flaky failed: RuntimeError: flaky fails on purpose" in text
    assert "    Traceback (most recent call last):" in text


def test_a_failure_run_is_reverted_by_revert_once_the_cause_is_fixed(views):
    # Given a run whose step b cannot be undone while the blocker names it
    with open(views.blocker, "w", encoding="utf-8") as handle:
        handle.write("b\n")
    proc = views.run("views-linear", fail_at="d")
    assert proc.returncode == 2, proc.stderr
    run_id = views.last_run_id()
    assert views.lines()[-2:] == ["revert d", "revert c"]
    # Then the report names what is left and the command to retry
    document = views.show(run_id)
    assert document["state"] == "FAILURE"
    assert document["not_reverted"] == ["a", "b"]
    assert document["revert_command"] == f"opsflow-run --revert {run_id}"
    text = views.cli.run("--show", run_id).stdout
    assert "not reverted (needs a person): a, b" in text
    assert f"retry the reverts with: opsflow-run --revert {run_id}" in text
    # When --revert runs before the fix, it fails again (exit 2)
    proc = views.cli.run("--revert", run_id)
    assert proc.returncode == 2, proc.stderr
    assert views.lines() == []
    # When the cause is fixed and --revert runs, the run ends REVERTED (exit 1)
    os.unlink(views.blocker)
    proc = views.cli.run("--revert", run_id, "--format", "json")
    assert proc.returncode == 1, proc.stderr
    assert json.loads(proc.stdout)["state"] == "REVERTED"
    assert views.lines() == ["revert b", "revert a"]
    # And a second --revert has nothing to undo
    proc = views.cli.run("--revert", run_id)
    assert proc.returncode == 1 and "already REVERTED" in proc.stderr
    assert views.lines() == []


def test_revert_cancels_a_suspended_run(views):
    sleep = {"a": 0.1, "b": 1.5}
    cmd = ["views-linear", "--store", f"journal={views.journal}"]
    process = views.cli.popen(*cmd, "--store", f"sleep={json.dumps(sleep)}")
    deadline = time.monotonic() + 20
    while "execute b" not in open_or_empty(views.journal):
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    process.communicate(timeout=30)
    assert process.returncode == 3
    run_id = views.last_run_id()
    assert views.lines() == ["execute a", "execute b"]
    proc = views.cli.run("--revert", run_id)
    assert proc.returncode == 1, proc.stderr
    assert views.lines() == ["revert b", "revert a"]
    assert views.show(run_id)["state"] == "REVERTED"


def test_revert_refuses_a_run_that_succeeded_or_that_another_process_owns(views):
    assert views.run("views-linear").returncode == 0
    proc = views.cli.run("--revert", views.last_run_id())
    assert proc.returncode == 64 and "ended SUCCESS" in proc.stderr
    assert views.lines() == [f"execute {step}" for step in LINEAR_STEPS]
    process = views.cli.popen(
        "views-linear",
        "--store",
        f"journal={views.journal}",
        "--store",
        'sleep={"a": 3}',
    )
    try:
        deadline = time.monotonic() + 20
        while "execute a" not in open_or_empty(views.journal):
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.05)
        proc = views.cli.run("--revert", views.last_run_id())
        assert proc.returncode == 69, proc.stderr
        assert "pid" in proc.stderr
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)


def open_or_empty(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        return ""


# -- progress with ETA --------------------------------------------------------------
def _under_pty(cli, args, timeout=60):
    """Run opsflow-run with stderr on a pseudo-terminal; what it drew."""
    import pty
    import subprocess

    leader, follower = pty.openpty()
    process = subprocess.Popen(
        cli.cmd(*args),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=follower,
        env=cli.env,
    )
    os.close(follower)
    chunks = []
    deadline = time.monotonic() + timeout
    while True:
        try:
            data = os.read(leader, 4096)
        except OSError:  # the terminal closed: the process ended
            break
        if not data:
            break
        chunks.append(data)
        assert time.monotonic() < deadline
    os.close(leader)
    process.communicate(timeout=timeout)
    return process.returncode, b"".join(chunks).decode(errors="replace")


def test_the_progress_bar_shows_an_eta_from_the_median_of_past_runs(views):
    sleep = {"a": 0.2, "b": 0.6, "c": 0.2, "d": 0.4}
    # Given three past runs of the flow (not on a terminal)
    past = []
    for _ in range(3):
        assert views.run("views-linear", sleep=sleep).returncode == 0
        past.append(views.show(views.last_run_id()))
    medians = {
        step: sorted(run["atoms"][step]["run_duration"] for run in past)[1]
        for step in LINEAR_STEPS
    }
    # When the flow runs on a terminal
    store = [
        "--store",
        f"journal={views.journal}",
        "--store",
        f"sleep={json.dumps(sleep)}",
    ]
    code, screen = _under_pty(views.cli, ["views-linear", *store])
    assert code == 0, screen
    # Then the first ETA, drawn as a starts, is the sum of the medians
    draws = [d for d in screen.split("\r\x1b[2K") if "ETA" in d]
    assert draws, screen
    first = float(re.search(r"ETA (\d+\.\d)s", draws[0]).group(1))
    assert abs(first - sum(medians.values())) <= 0.15, (first, medians)
    # and the ETA falls as steps finish
    later = [float(m) for m in re.findall(r"1/4 done.*?ETA (\d+\.\d)s", screen)]
    assert later and max(later) <= sum(medians.values()) - medians["a"] + 0.15


def test_a_revert_gets_its_own_bar_on_a_terminal(views):
    store = [
        "--store",
        f"journal={views.journal}",
        "--store",
        "fail_at=c",
        "--store",
        'revert_sleep={"b": 0.3}',
    ]
    assert (
        views.run("views-linear", fail_at="c", revert_sleep={"b": 0.3}).returncode == 1
    )
    code, screen = _under_pty(views.cli, ["views-linear", *store])
    assert code == 1, screen
    lines = screen.replace("\r\n", "\n").split("\n")
    run_line = next(i for i, line in enumerate(lines) if "/4 done" in line)
    revert_line = next(i for i, line in enumerate(lines) if " revert [" in line)
    assert revert_line > run_line
    assert re.search(r"revert \[<+-*\] \d/3 undone", screen)
    assert "reverting: b" in screen and "ETA" in lines[revert_line]


# -- housekeeping ---------------------------------------------------------------------
def test_history_filters_by_flow_state_and_time(views):
    assert views.run("views-linear").returncode == 0
    assert views.run("views-linear", fail_at="b").returncode == 1
    assert views.run("views-shapes").returncode == 0

    def ids(*args):
        proc = views.cli.run("--history", "--format", "json", *args)
        assert proc.returncode == 0, proc.stderr
        return [(row["flow"], row["state"]) for row in json.loads(proc.stdout)]

    assert ids("views-linear") == [
        ("views-linear", "REVERTED"),
        ("views-linear", "SUCCESS"),
    ]
    assert ids("--state", "success") == [
        ("views-shapes", "SUCCESS"),
        ("views-linear", "SUCCESS"),
    ]
    assert len(ids("--since", "1h")) == 3
    assert ids("--since", "2999-01-01") == []
    proc = views.cli.run("--history", "--since", "yesterday")
    assert proc.returncode == 64 and "--since yesterday" in proc.stderr


def test_purge_deletes_old_finished_runs_but_keeps_failures(views):
    with open(views.blocker, "w", encoding="utf-8") as handle:
        handle.write("a\n")
    assert views.run("views-linear").returncode == 0
    assert views.run("views-linear", fail_at="b").returncode == 2
    assert views.run("views-linear", fail_at="c", blocker="none").returncode == 1
    proc = views.cli.run("--purge", "30", "--format", "json")
    assert json.loads(proc.stdout) == {"deleted": [], "kept_failure": 0}
    proc = views.cli.run("--purge", "0")
    assert proc.returncode == 0, proc.stderr
    assert "deleted 2 runs" in proc.stdout and "kept 1 FAILURE" in proc.stdout
    proc = views.cli.run("--history", "--format", "json")
    assert [row["state"] for row in json.loads(proc.stdout)] == ["FAILURE"]
