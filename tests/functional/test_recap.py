"""The recap at the end of a run: ok, changed, skipped, reverted, failed.

Run through the installed ``opsflow-run`` with real opsflow-linux tasks on
files under the test's directory: a second run of the same flow finds the
target state in place and reports nothing changed.
"""

from __future__ import annotations

import json
import os

SITE_FLOW = """\
name: recap-site
inputs:
  root: {}
steps:
  - name: root
    task: linux.directory
    requires: root
    with: {path: "{root}", mode: 0750}
  - name: config
    task: linux.file
    requires: root
    with: {path: "{root}/site.conf", content: "listen = 8080\\n", mode: 0640}
  - name: page
    task: linux.template
    requires: root
    with:
      path: "{root}/index.html"
      template: "<h1>{{ title }}</h1>\\n"
      variables: {title: recap}
  - name: record
    task: linux.inventory_record
    requires: root
    with: {path: "{root}/inventory.jsonl", record: {kind: site, root: "{root}"}}
"""

#: The page is written only when the directory was created by this run.
SKIPPING_FLOW = """\
name: recap-skipping
pattern: graph
inputs:
  root: {}
steps:
  - name: root
    task: linux.directory
    requires: root
    provides: {made_root: changed}
    with: {path: "{root}"}
  - name: page
    task: linux.file
    requires: root
    with: {path: "{root}/first-run.txt", content: "made by the first run\\n"}
links:
  - from: root
    to: page
    when: {value: made_root, equals: true}
"""


def with_flows(cli, tmp_path):
    flows = tmp_path / "flows.d"
    flows.mkdir()
    (flows / "recap-site.yaml").write_text(SITE_FLOW)
    (flows / "recap-skipping.yaml").write_text(SKIPPING_FLOW)
    with open(cli.config, "a") as handle:
        handle.write(f"flow_dirs = {flows}\n")


def run(cli, *args: str):
    proc = cli.run(*args, "--format", "json")
    return proc, json.loads(proc.stdout)


def recap_line(proc) -> str:
    return proc.stdout.splitlines()[-1]


def test_a_second_run_of_an_idempotent_flow_changes_nothing(cli, tmp_path):
    with_flows(cli, tmp_path)
    root = tmp_path / "site"
    proc, first = run(cli, "recap-site", "--store", f"root={root}")
    assert proc.returncode == 0, proc.stderr
    assert first["recap"] == {
        "ok": 4,
        "changed": 4,
        "skipped": 0,
        "reverted": 0,
        "failed": 0,
    }
    assert {atom["changed"] for atom in first["atoms"].values()} == {True}
    files = {name: (root / name).read_bytes() for name in os.listdir(root)}
    mtimes = {name: (root / name).stat().st_mtime_ns for name in files}

    proc = cli.run("recap-site", "--store", f"root={root}")
    assert proc.returncode == 0, proc.stderr
    assert recap_line(proc) == (
        "recap: ok=4  changed=0  skipped=0  reverted=0  failed=0"
    )
    # Nothing was rewritten, and the inventory holds the record once.
    assert {name: (root / name).read_bytes() for name in os.listdir(root)} == files
    assert {name: (root / name).stat().st_mtime_ns for name in files} == mtimes
    assert len((root / "inventory.jsonl").read_text().splitlines()) == 1

    # --show tells the same from the store.
    proc = cli.run("--show", "last", "--format", "json")
    document = json.loads(proc.stdout)
    assert document["recap"]["changed"] == 0
    assert {atom["changed"] for atom in document["atoms"].values()} == {False}
    proc = cli.run("--show", "last")
    assert recap_line(proc) == (
        "recap: ok=4  changed=0  skipped=0  reverted=0  failed=0"
    )


def test_a_changed_file_is_changed_again_and_only_it(cli, tmp_path):
    with_flows(cli, tmp_path)
    root = tmp_path / "site"
    proc, _ = run(cli, "recap-site", "--store", f"root={root}")
    assert proc.returncode == 0, proc.stderr
    (root / "site.conf").write_text("listen = 9090\n")
    proc, document = run(cli, "recap-site", "--store", f"root={root}")
    assert proc.returncode == 0, proc.stderr
    assert document["recap"]["changed"] == 1
    assert document["atoms"]["config"]["changed"] is True
    assert (root / "site.conf").read_text() == "listen = 8080\n"


def test_skipped_steps_are_counted_and_never_called_every_step(cli, tmp_path):
    with_flows(cli, tmp_path)
    root = tmp_path / "skipping"
    proc = cli.run("recap-skipping", "--store", f"root={root}")
    assert proc.returncode == 0, proc.stderr
    assert "(every step succeeded)" in proc.stdout.splitlines()[0]
    assert recap_line(proc) == (
        "recap: ok=2  changed=2  skipped=0  reverted=0  failed=0"
    )

    proc = cli.run("recap-skipping", "--store", f"root={root}")
    assert proc.returncode == 0, proc.stderr
    first = proc.stdout.splitlines()[0]
    assert "every step succeeded" not in first
    assert "(every step that ran succeeded, 1 skipped)" in first
    assert recap_line(proc) == (
        "recap: ok=1  changed=0  skipped=1  reverted=0  failed=0"
    )


def test_reverted_and_failed_runs_count_what_was_undone_and_what_failed(cli):
    proc, document = run(cli, "fixture-fail")
    assert proc.returncode == 1, proc.stderr
    assert document["recap"] == {
        "ok": 0,
        "changed": 0,
        "skipped": 0,
        "reverted": 2,
        "failed": 1,
    }
    proc = cli.run("fixture-revert-fails")
    assert proc.returncode == 2, proc.stderr
    # boom failed (then was undone); stubborn's revert failed.
    assert recap_line(proc) == (
        "recap: ok=0  changed=0  skipped=0  reverted=1  failed=2"
    )


def test_deprovisioning_twice_changes_nothing_the_second_time(cli, tmp_path):
    store = [
        "--store",
        f"workdir={tmp_path / 'demo'}",
        "--store",
        f"inventory={tmp_path / 'inventory.jsonl'}",
    ]
    proc = cli.run("demo-provision", *store)
    assert proc.returncode == 0, proc.stderr
    # pick_port and health_check only look: 5 of the 7 steps changed something.
    assert recap_line(proc) == (
        "recap: ok=7  changed=5  skipped=0  reverted=0  failed=0"
    )
    proc = cli.run("demo-deprovision", *store)
    assert proc.returncode == 0, proc.stderr
    assert recap_line(proc) == (
        "recap: ok=3  changed=3  skipped=0  reverted=0  failed=0"
    )
    proc = cli.run("demo-deprovision", *store)
    assert proc.returncode == 0, proc.stderr
    assert recap_line(proc) == (
        "recap: ok=3  changed=0  skipped=0  reverted=0  failed=0"
    )
