"""Losing the persistence store mid-run is exit 69 with the run left intact.

PostgreSQL is reached through a TCP proxy (``tcpproxy``) that the test
kills mid-run, then starts again; SQLite lives on a small tmpfs that the
test fills up, then frees. Either way ``opsflow-run`` must say the store is
unavailable and how to resume, claim nothing about reverts, and the run
must resume to SUCCESS once the store is back.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import time

import pytest
import resumekit
import storekit
import tcpproxy

STEPS = 30
NAMES = [f"step-{i:02d}" for i in range(STEPS)]
LOST = re.compile(
    r"^opsflow-run: error: persistence store unavailable: (?P<reason>.+); "
    r"the run is intact: opsflow-run --resume (?P<run_id>[0-9a-f-]{36}) "
    r"once it is back$"
)


@pytest.fixture
def kit(cli, tmp_path):
    return resumekit.make_kit(cli, tmp_path)


def _start_chain(kit) -> subprocess.Popen[str]:
    return kit.cli.popen(
        "crash-chain",
        "--store",
        f"journal={kit.journal}",
        "--store",
        "delay=0.1",
        "--store",
        f"steps={STEPS}",
    )


def _wait_for_steps(kit, proc, count: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and proc.poll() is None:
        if sum(1 for event, _ in kit.read_journal() if event == "X") >= count:
            return
        time.sleep(0.01)
    raise AssertionError(f"the run never got {count} steps done")


def _error_line(stderr: str) -> re.Match[str]:
    lines = [
        line
        for line in stderr.splitlines()
        if " INFO " not in line and " started; if it stops, resume it" not in line
    ]
    assert len(lines) == 1, stderr
    match = LOST.match(lines[0])
    assert match, lines[0]
    return match


def _assert_no_claim_about_reverts(stdout: str, stderr: str) -> None:
    assert "revert" not in (stdout + stderr).lower()
    assert "FAILURE" not in stdout + stderr


def test_losing_postgresql_mid_run_exits_69_and_the_run_resumes_once_it_is_back(
    kit,
):
    with storekit.postgres_schema() as (schema, _url):
        proxy = tcpproxy.Proxy("127.0.0.1", 5432).start()
        try:
            url = (
                f"postgresql://postgres@127.0.0.1:{proxy.port}/test"
                f"?options=-csearch_path%3D{schema}"
            )
            with open(kit.cli.config, "a") as handle:
                handle.write(f"[persistence]\nconnection = {url}\n")
            # Given a run on PostgreSQL, a few steps done
            proc = _start_chain(kit)
            _wait_for_steps(kit, proc, 3)
            # When the path to PostgreSQL is lost
            proxy.kill()
            stdout, stderr = proc.communicate(timeout=60)
            # Then opsflow-run says so, exit 69, with the command to resume
            assert proc.returncode == 69, stderr
            lost = _error_line(stderr)
            assert "server closed the connection" in lost["reason"]
            assert "127.0.0.1:" in lost["reason"]
            _assert_no_claim_about_reverts(stdout, stderr)
            # And the store still has the run as it was: RUNNING
            assert _stored_state(schema, lost["run_id"]) == "RUNNING"
            # When PostgreSQL is back and the run resumed
            proxy.start()
            resumed = kit.cli.run("--resume", lost["run_id"])
        finally:
            proxy.kill()
        # Then it ends SUCCESS, each step done once (but the one in flight)
        assert resumed.returncode == 0, resumed.stderr
        done = [name for event, name in kit.read_journal() if event == "X"]
        assert sorted(set(done)) == NAMES
        assert len(done) <= STEPS + 1


def _stored_state(schema: str, run_id: str) -> str:
    import psycopg

    with psycopg.connect(storekit.PG_URL) as conn:
        row = conn.execute(
            f"SELECT state FROM {schema}.opsflow_flowdetails WHERE uuid = %s",
            (run_id,),
        ).fetchone()
    return row[0]


@pytest.fixture
def small_disk(tmp_path):
    """A 4 MB tmpfs, unmounted after the test (needs root)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        storekit.unavailable(f"cannot mount a tmpfs: {done.stderr.strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_under_sqlite_exits_69_and_the_run_resumes_once_freed(
    kit, small_disk
):
    with open(kit.cli.config, "w") as handle:
        handle.write(f"[DEFAULT]\nstate_path = {small_disk}/state\n")
    # Given a run whose SQLite store is on a small disk, a few steps done
    proc = _start_chain(kit)
    _wait_for_steps(kit, proc, 3)
    # When the disk fills up
    filler = small_disk / "filler"
    with open(filler, "wb") as handle, contextlib.suppress(OSError):
        while True:
            handle.write(b"\0" * 65536)
            handle.flush()
    stdout, stderr = proc.communicate(timeout=60)
    # Then opsflow-run says the store is unavailable and why, exit 69
    assert proc.returncode == 69, stderr
    lost = _error_line(stderr)
    assert "database or disk is full" in lost["reason"]
    _assert_no_claim_about_reverts(stdout, stderr)
    # When space is freed and the run resumed, then it ends SUCCESS
    filler.unlink()
    resumed = kit.cli.run("--resume", lost["run_id"])
    assert resumed.returncode == 0, resumed.stderr
    done = [name for event, name in kit.read_journal() if event == "X"]
    assert sorted(set(done)) == NAMES
