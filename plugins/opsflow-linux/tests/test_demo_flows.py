"""demo-provision passes the revert kit; its flows refuse bad ``fail_at`` values."""

from __future__ import annotations

import json
import os
import urllib.request

import pytest
from opsflow_linux.demo import DEMO_STEPS, demo_deprovision, demo_provision

from opsflow import engines
from opsflow.testing import check_reverts, snapshots


def host_snapshot(root):
    def snapshot():
        ours = snapshots.processes(cwd_under=str(root))
        return {
            "files": snapshots.files(str(root)),
            "processes": ours,
            "ports": snapshots.listening_ports(pids=[pid for pid, _ in ours]),
        }

    return snapshot


def test_demo_provision_leaves_nothing_after_a_failure_after_any_step(tmp_path):
    # Given a work dir and inventory under a private root
    store = {}
    workdir, inventory = tmp_path / "work", tmp_path / "inventory.jsonl"

    def make():
        return demo_provision(workdir=str(workdir), inventory=str(inventory))

    # When a failure comes after each step in turn, every revert run twice
    report = check_reverts(
        make, host_snapshot(tmp_path), store=store, revert_twice=True
    )
    # Then every run was reverted and the host was as before each time
    assert [outcome.step for outcome in report.outcomes] == list(DEMO_STEPS)
    assert all(outcome.state == "REVERTED" for outcome in report.outcomes)


def test_demo_provision_serves_its_page_and_deprovision_removes_it(tmp_path):
    workdir, inventory = tmp_path / "work", tmp_path / "inventory.jsonl"
    before = host_snapshot(tmp_path)()
    engine = engines.load(demo_provision(str(workdir), str(inventory)))
    engine.run()
    port = engine.storage.fetch("port")
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/") as answer:
        assert b"opsflow demo" in answer.read()
    [record] = [json.loads(line) for line in inventory.read_text().splitlines()]
    assert record["url"] == f"http://127.0.0.1:{port}/"
    engines.run(demo_deprovision(str(workdir), str(inventory)))
    after = host_snapshot(tmp_path)()
    assert after["processes"] == before["processes"]
    assert ("127.0.0.1", port) not in after["ports"]
    assert not workdir.exists()
    assert inventory.read_text() == ""  # the inventory itself stays


def test_an_unknown_fail_at_step_is_refused_naming_the_steps(tmp_path):
    with pytest.raises(ValueError, match="its steps: create_workdir, pick_port"):
        demo_provision(str(tmp_path / "w"), str(tmp_path / "i"), fail_at="nope")
    assert os.listdir(tmp_path) == []
