"""SIGKILL ``opsflow-run`` at random instants, resume it, check the journal.

Each trial runs a 30-step flow of the journaling plugin (``resumekit``) in
its own state directory, kills it with SIGKILL at a random instant once the
first step has run, resumes it with ``--resume`` (sometimes killing the
resume too), until the run ends. The journal, written with fsync by the
steps themselves, then tells what really happened:

* every step completed, and only a step that was in flight at a kill ran a
  second time (at most one per kill on the serial engine, at most
  ``max_workers`` per kill on the parallel one);
* with an injected failure, every step that ran was reverted, in reverse
  order, and only a revert in flight at a kill ran twice.

``OPSFLOW_CRASH_TRIALS`` (default 6) sets the trials per case.
"""

from __future__ import annotations

import concurrent.futures
import os
import random
import signal
import sqlite3
import subprocess
import time
from collections import Counter

import pytest
import resumekit

TRIALS = int(os.environ.get("OPSFLOW_CRASH_TRIALS", "6"))
STEPS = 30
DELAY = 0.02
WIDTH = 5


def _config(kit, root: str) -> str:
    path = os.path.join(root, "opsflow.conf")
    with open(path, "w") as handle:
        handle.write(f"[DEFAULT]\nstate_path = {root}/state\n")
    return path


def _popen(kit, config: str, *args: str) -> subprocess.Popen[bytes]:
    # stderr goes to a file beside the config: it explains a failed trial.
    with open(os.path.join(os.path.dirname(config), "stderr"), "ab") as err:
        return subprocess.Popen(
            [kit.cli.exe, "--config-file", config, *args],
            stdout=subprocess.DEVNULL,
            stderr=err,
            stdin=subprocess.DEVNULL,
            env=kit.cli.env,
        )


def _stderr(root: str) -> str:
    with open(os.path.join(root, "stderr"), errors="replace") as handle:
        lines = [line for line in handle if "INFO" not in line]
    return "".join(lines[-15:])


def _kill_at_random(
    proc: subprocess.Popen[bytes], journal: str, rng, span: float
) -> bool:
    """SIGKILL ``proc`` at a random instant after a step ran, within about
    ``span`` seconds (what its steps take in all); True if killed."""
    deadline = time.monotonic() + 30
    start = os.path.getsize(journal) if os.path.exists(journal) else 0
    while time.monotonic() < deadline and proc.poll() is None:
        if os.path.exists(journal) and os.path.getsize(journal) > start:
            break
        time.sleep(0.002)
    time.sleep(rng.uniform(0, span * 1.3))
    if proc.poll() is not None:
        return False
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return True


def _run_id(root: str) -> str:
    with sqlite3.connect(f"{root}/state/opsflow.sqlite") as db:
        (run_id,) = db.execute("SELECT uuid FROM opsflow_flowdetails").fetchone()
    return run_id


def _trial(
    kit, root: str, seed: int, flow_args: list[str], span: float
) -> tuple[int, int, str]:
    """One run killed and resumed until it ends: (exit code, kills, journal)."""
    rng = random.Random(seed)
    os.makedirs(root)
    config = _config(kit, root)
    journal = os.path.join(root, "journal")
    proc = _popen(kit, config, *flow_args, "--store", f"journal={journal}")
    kills = int(_kill_at_random(proc, journal, rng, span))
    code = proc.wait()
    if not os.path.exists(f"{root}/state/opsflow.sqlite"):
        raise AssertionError(f"the run never started ({code}):\n{_stderr(root)}")
    run_id = _run_id(root)
    extra = rng.choice([0, 0, 1, 2])
    while code not in (0, 1, 2):
        proc = _popen(kit, config, "--resume", run_id)
        if extra:
            extra -= 1
            kills += int(_kill_at_random(proc, journal, rng, span))
        code = proc.wait()
    return code, kills, journal


def _read(journal: str) -> list[tuple[str, str]]:
    with open(journal) as handle:
        return [tuple(line.split()) for line in handle]  # type: ignore[misc]


def _collapse(names: list[str]) -> list[str]:
    """Adjacent repeats (a step re-run after a kill) counted once."""
    return [n for i, n in enumerate(names) if i == 0 or names[i - 1] != n]


def _trials(kit, tmp_path, flow_args, check, span: float = STEPS * DELAY) -> None:
    base = random.randrange(1 << 30)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        futures = {
            pool.submit(
                _trial, kit, str(tmp_path / f"t{i}"), base + i, flow_args, span
            ): base + i
            for i in range(TRIALS)
        }
        killed = 0
        for future in concurrent.futures.as_completed(futures):
            code, kills, journal = future.result()
            killed += kills
            # The seed is in the message so a failing trial can be replayed.
            check(code, kills, _read(journal), f"seed {futures[future]}")
    assert killed >= TRIALS // 2, "too few trials were killed mid-run"


NAMES = [f"step-{i:02d}" for i in range(STEPS)]


@pytest.fixture
def kit(cli, tmp_path):
    return resumekit.make_kit(cli, tmp_path)


def test_a_serial_run_killed_at_random_completes_every_step_exactly_once(kit, tmp_path):
    def check(code, kills, events, seed):
        assert code == 0, seed
        done = [name for event, name in events if event == "X"]
        # Every step ran, in order; a repeat only for a step caught in flight.
        assert _collapse(done) == NAMES, seed
        assert len(done) - len(NAMES) <= kills, seed
        assert max(Counter(done).values()) <= 2, seed

    _trials(
        kit,
        tmp_path,
        ["crash-chain", "--store", f"delay={DELAY}"],
        check,
    )


def test_a_serial_run_killed_while_failing_reverts_every_step_once_in_reverse(
    kit, tmp_path
):
    fail_at = 20

    def check(code, kills, events, seed):
        assert code == 1, seed
        executed = [name for event, name in events if event == "X"]
        reverted = [name for event, name in events if event == "R"]
        assert _collapse(executed) == NAMES[:fail_at], seed
        # The failed step is reverted first, then every step before it.
        assert _collapse(reverted) == NAMES[fail_at::-1], seed
        assert len(reverted) - (fail_at + 1) <= kills, seed
        first_revert = next(i for i, (e, _) in enumerate(events) if e == "R")
        assert all(e != "X" for e, _ in events[first_revert:]), seed

    _trials(
        kit,
        tmp_path,
        ["crash-chain", "--store", f"delay={DELAY}", "--store", f"fail_at={fail_at}"],
        check,
    )


PARALLEL = ["--engine", "parallel", "--executor", "thread", "--max-workers", "5"]


def _block(name: str) -> int:
    return int(name.split("-")[1]) // WIDTH


def test_a_parallel_run_killed_at_random_completes_every_step_exactly_once(
    kit, tmp_path
):
    def check(code, kills, events, seed):
        assert code == 0, seed
        done = [name for event, name in events if event == "X"]
        counts = Counter(done)
        assert sorted(counts) == NAMES, seed
        assert len(done) - len(NAMES) <= kills * WIDTH, seed
        # Each kill can cut a step short once: one more run per kill at most.
        assert max(counts.values()) <= kills + 1, seed
        # Blocks run one after the other.
        blocks = [_block(name) for name in done]
        assert blocks == sorted(blocks), seed

    _trials(
        kit,
        tmp_path,
        ["crash-blocks", "--store", f"delay={DELAY}", *PARALLEL],
        check,
        span=STEPS // WIDTH * DELAY,
    )


def test_a_parallel_run_killed_while_failing_reverts_what_ran_in_reverse_blocks(
    kit, tmp_path
):
    fail_at = 17

    def check(code, kills, events, seed):
        assert code == 1, seed
        executed = {name for event, name in events if event == "X"}
        reverted = [name for event, name in events if event == "R"]
        assert set(NAMES[: _block(NAMES[fail_at]) * WIDTH]) <= executed, seed
        assert set(reverted) == executed | {NAMES[fail_at]}, seed
        assert len(reverted) - len(set(reverted)) <= kills * WIDTH, seed
        # A block is reverted only once every block after it is.
        order = [_block(name) for name in reverted]
        assert order == sorted(order, reverse=True), seed

    _trials(
        kit,
        tmp_path,
        [
            "crash-blocks",
            "--store",
            f"delay={DELAY}",
            "--store",
            f"fail_at={fail_at}",
            *PARALLEL,
        ],
        check,
        # the blocks up to the failing one run, then are reverted
        span=2 * (fail_at // WIDTH + 1) * DELAY,
    )
