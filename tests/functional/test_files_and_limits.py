"""What ``opsflow-run`` writes on disk, what it reads, and the limits it keeps.

File modes of the log file and of new state directories; ``--history`` and
``--show`` of a store that cannot be written; YAML bombs in a flow directory
and in a store file (refused fast, the process held to 1 GiB of memory so
that a regression fails instead of taking the machine); the run's inputs
kept once in the store.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import stat
import subprocess
import time

import pytest


def mode_of(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def run_held(cli, *args, umask: str | None = None, timeout: float = 60):
    """``opsflow-run`` with at most 1 GiB of address space (and a umask).

    Set by a shell in the child (no ``preexec_fn``: a fork from a process
    that imported eventlet warns).
    """
    script = "ulimit -v 1048576; " + (f"umask {umask}; " if umask else "")
    return subprocess.run(
        ["sh", "-c", script + 'exec "$@"', "sh", *cli.cmd(*args)],
        capture_output=True,
        text=True,
        env=cli.env,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


# -- modes -------------------------------------------------------------------------
def test_the_log_file_and_every_new_directory_are_private_even_under_umask_0(
    cli, tmp_path
):
    # Given a log file and a state path whose parents do not exist yet
    state = tmp_path / "var" / "lib" / "opsflow"
    log_file = tmp_path / "var" / "log" / "opsflow" / "run.log"
    with open(cli.config, "w", encoding="utf-8") as handle:
        handle.write(f"[DEFAULT]\nstate_path = {state}\nlog_file = {log_file}\n")
    # When a flow runs under the most permissive umask
    proc = run_held(cli, "fixture-fail", umask="000")
    assert proc.returncode == 1, proc.stderr
    # Then the log file is 0600, and each directory opsflow made is 0700
    assert mode_of(log_file) == 0o600
    assert mode_of(state / "opsflow.sqlite") == 0o600
    for directory in (
        tmp_path / "var",
        tmp_path / "var" / "lib",
        state,
        state / "tracebacks",
        tmp_path / "var" / "log",
        log_file.parent,
    ):
        assert mode_of(directory) == 0o700, directory
    assert [mode_of(p) for p in (state / "tracebacks").iterdir()] == [0o600]


def test_an_existing_log_file_keeps_the_mode_its_operator_gave_it(cli, tmp_path):
    log_file = tmp_path / "shared.log"
    log_file.write_text("")
    log_file.chmod(0o640)
    with open(cli.config, "a", encoding="utf-8") as handle:
        handle.write(f"log_file = {log_file}\n")
    proc = cli.run("fixture-ok")
    assert proc.returncode == 0, proc.stderr
    assert mode_of(log_file) == 0o640
    assert "fixture-ok: flow SUCCESS" in log_file.read_text()


def test_a_log_file_that_cannot_be_created_exits_78_naming_the_option(cli, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with open(cli.config, "a", encoding="utf-8") as handle:
        handle.write(f"log_file = {blocker}/opsflow.log\n")
    proc = cli.run("fixture-ok")
    assert proc.returncode == 78, proc.stderr
    assert f"[DEFAULT] log_file = '{blocker}/opsflow.log'" in proc.stderr
    assert not os.path.exists(cli.state)


# -- a store that cannot be written --------------------------------------------------
def _read_only(cli, *args):
    """``opsflow-run`` in a mount namespace where the state directory is a
    read-only bind mount (root ignores file modes, a read-only mount not)."""
    command = " ".join(f"'{part}'" for part in cli.cmd(*args))
    script = (
        f"mount --bind '{cli.state}' '{cli.state}' && "
        f"mount -o remount,bind,ro '{cli.state}' && "
        f"touch '{cli.state}/probe' 2>/dev/null && exit 99; exec {command}"
    )
    return subprocess.run(
        ["unshare", "--mount", "sh", "-c", script],
        capture_output=True,
        text=True,
        env=cli.env,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def test_history_and_show_work_on_a_read_only_state_path(cli):
    # Given a store with a run, then made read-only
    proc = cli.run("fixture-fail", "--format", "json")
    assert proc.returncode == 1, proc.stderr
    run_id = json.loads(proc.stdout)["run_id"]
    if shutil.which("unshare") is None:
        pytest.skip("unshare(1) is not installed")
    probe = _read_only(cli, "--history")
    if probe.returncode == 99 or "unshare:" in probe.stderr or "mount:" in probe.stderr:
        pytest.skip(f"no read-only bind mount here: {probe.stderr.strip()}")
    before = sorted(os.listdir(cli.state))
    # When the runs are listed and shown
    history = _read_only(cli, "--history", "--format", "json")
    show = _read_only(cli, "--show", run_id)
    shown = _read_only(cli, "--show", run_id, "--format", "json")
    # Then each works, and a new run is refused as the store being unavailable
    assert history.returncode == 0, history.stderr
    assert [row["run_id"] for row in json.loads(history.stdout)] == [run_id]
    assert show.returncode == 0, show.stderr
    assert f"run {run_id} of flow fixture-fail: REVERTED" in show.stdout
    assert json.loads(shown.stdout)["state"] == "REVERTED"
    again = _read_only(cli, "fixture-ok")
    assert again.returncode == 69, again.stderr
    assert sorted(os.listdir(cli.state)) == before


# -- YAML bombs --------------------------------------------------------------------
def billion_laughs(prefix: str = "") -> str:
    """Ten levels of anchors, each repeating the one before ten times."""
    lols = ", ".join(['"lol"'] * 10)
    lines = [f"{prefix}a0: &a0 [{lols}]"]
    for level in range(1, 10):
        aliases = ", ".join([f"*a{level - 1}"] * 10)
        lines.append(f"{prefix}a{level}: &a{level} [{aliases}]")
    return "\n".join(lines) + "\n"


def test_a_yaml_bomb_in_flow_dirs_is_listed_broken_at_once(cli, tmp_path):
    # Given a billion-laughs flow file beside a good one
    flows = tmp_path / "flows"
    flows.mkdir()
    # (a valid flow: its x- keys are ignored, a step's settings use the bomb)
    (flows / "bomb.yaml").write_text(
        "name: bomb\n"
        + billion_laughs(prefix="x-")
        + "steps:\n  - {name: one, task: fixture.typed, with: {count: *a9}}\n"
    )
    (flows / "good.yaml").write_text(
        "name: good\nsteps:\n  - {name: one, task: fixture.typed}\n"
    )
    with open(cli.config, "a", encoding="utf-8") as handle:
        handle.write(f"flow_dirs = {flows}\n")
    # When the flows are listed, and the bomb is run by name
    started = time.monotonic()
    listed = run_held(cli, "--list", timeout=30)
    run = run_held(cli, "bomb", timeout=30)
    took = time.monotonic() - started
    # Then it is BROKEN (the good one listed), refused with exit 78, quickly
    assert listed.returncode == 0, listed.stderr
    broken = [line for line in listed.stdout.splitlines() if "bomb.yaml" in line]
    assert len(broken) == 1 and "BROKEN" in broken[0], listed.stdout
    assert "aliases expand to" in broken[0] and "refused" in broken[0]
    assert any(line.startswith("  good") for line in listed.stdout.splitlines())
    assert run.returncode == 78, run.stderr
    assert "aliases expand to" in run.stderr
    assert took < 10, f"took {took:.1f} s"


def test_a_yaml_bomb_as_store_file_is_refused_with_64_at_once(cli, tmp_path):
    store = tmp_path / "store.yaml"
    store.write_text(billion_laughs())
    started = time.monotonic()
    proc = run_held(cli, "fixture-ok", "--store-file", str(store), timeout=30)
    took = time.monotonic() - started
    assert proc.returncode == 64, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and f"--store-file {store}:1:1:" in lines[0], lines
    assert "aliases expand to" in lines[0]
    assert not os.path.exists(cli.state)
    assert took < 5, f"took {took:.1f} s"


def test_an_alias_loop_in_a_store_file_is_refused(cli, tmp_path):
    store = tmp_path / "store.yaml"
    store.write_text("hosts: &hosts [a, *hosts]\n")
    proc = run_held(cli, "fixture-ok", "--store-file", str(store), timeout=30)
    assert proc.returncode == 64, proc.stderr
    assert "refers to a value that contains it" in proc.stderr


def test_anchors_used_as_meant_still_work_in_a_store_file(cli, tmp_path):
    store = tmp_path / "store.yaml"
    store.write_text("base: &base {count: 3}\nother: *base\ncount: 2\n")
    proc = cli.run("fixture-ok", "--store-file", str(store), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["atoms"]["typed"]["result"]["count"] == 2


def test_a_flow_file_larger_than_4_mib_is_listed_broken(cli, tmp_path):
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "huge.yaml").write_text(
        "name: huge\nsteps: []\n# " + "x" * (4 * 1024 * 1024) + "\n"
    )
    with open(cli.config, "a", encoding="utf-8") as handle:
        handle.write(f"flow_dirs = {flows}\n")
    listed = cli.run("--list")
    assert listed.returncode == 0, listed.stderr
    assert "huge.yaml  BROKEN:" in listed.stdout
    assert "is larger than 4 MiB; refused" in listed.stdout


# -- the run's inputs, once ---------------------------------------------------------
def test_a_store_file_is_kept_once_in_the_runs_record(cli, tmp_path):
    # Given a 5 MB store file, for a factory that takes every key (**kwargs)
    store = tmp_path / "store.json"
    blob = "x" * 5_000_000
    store.write_text(json.dumps({"blob": blob, "count": 3}))
    # When it runs
    proc = cli.run("fixture-kwargs", "--store-file", str(store), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    # Then the run's record holds its bytes once, not twice
    with sqlite3.connect(os.path.join(cli.state, "opsflow.sqlite")) as db:
        (meta,) = db.execute("SELECT meta FROM opsflow_flowdetails").fetchone()
    assert meta.count(blob) == 1
    assert len(meta) < 1.1 * len(blob)
    # And the factory's inputs are recorded by name, to be rebuilt from the store
    record = json.loads(meta)["run"]
    assert record["factory_inputs"] == ["blob", "count"]
    assert "factory_kwargs" not in record
