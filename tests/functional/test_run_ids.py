"""Run ids as an operator types them: printed at the start, a unique prefix
or ``last`` wherever a RUN_ID goes, and ``--history --limit N``."""

from __future__ import annotations

import json
import os
import re


def start(cli, flow: str = "fixture-ok") -> tuple[str, str]:
    """Run ``flow``; its run id and its stderr."""
    proc = cli.run(flow, "--format", "json")
    assert proc.returncode in (0, 1, 2), proc.stderr
    return json.loads(proc.stdout)["run_id"], proc.stderr


def test_a_run_prints_its_id_and_the_resume_command_when_it_starts(cli):
    run_id, stderr = start(cli)
    first = stderr.splitlines()[0]
    assert first == (
        f"opsflow-run: run {run_id} of flow fixture-ok started; if it stops, "
        f"resume it with: opsflow-run --resume {run_id}"
    )


def test_a_unique_prefix_or_last_names_a_run(cli):
    first, _ = start(cli)
    second, _ = start(cli, "fixture-fail")
    prefix = next(
        first[:size] for size in range(1, 37) if not second.startswith(first[:size])
    )
    proc = cli.run("--show", prefix, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["run_id"] == first

    proc = cli.run("--show", "last", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    document = json.loads(proc.stdout)
    assert (document["run_id"], document["state"]) == (second, "REVERTED")

    # --resume of a prefix reports the run it names, by its whole id.
    proc = cli.run("--resume", prefix.upper())
    assert proc.returncode == 0, proc.stderr
    assert f"run {first} already ended SUCCESS: nothing to resume" in proc.stderr


def test_revert_last_takes_the_whole_run_over(cli):
    run_id, _ = start(cli, "fixture-revert-fails")
    proc = cli.run("--revert", "last")
    assert proc.returncode == 2, proc.stderr  # the revert still fails
    assert f"reverting run {run_id} of flow fixture-revert-fails" in proc.stderr


def test_an_ambiguous_prefix_is_a_usage_error_naming_the_runs(cli):
    # Among 17 runs two ids share their first character (16 hex digits).
    seen: dict[str, list[str]] = {}
    while not any(len(ids) > 1 for ids in seen.values()):
        run_id, _ = start(cli)
        seen.setdefault(run_id[0], []).append(run_id)
    letter, ids = next((key, ids) for key, ids in seen.items() if len(ids) > 1)
    proc = cli.run("--show", letter)
    assert proc.returncode == 64
    (line,) = proc.stderr.splitlines()
    assert re.match(
        rf"opsflow-run: error: run id '{letter}' is the start of {len(ids)} runs "
        r"\(.*\): give more of it$",
        line,
    ), line
    for run_id in ids[:3]:
        assert run_id in line


def test_a_run_id_that_names_no_run_is_a_usage_error(cli):
    proc = cli.run("--show", "last")
    assert proc.returncode == 64
    assert "no run last" in proc.stderr and proc.stderr.count("\n") == 1
    start(cli)
    proc = cli.run("--show", "0000ffff-no-such-run")
    assert proc.returncode == 64
    assert proc.stderr.strip() == (
        "opsflow-run: error: no run 0000ffff-no-such-run in the persistence store"
    )


def test_history_limit_shows_the_newest_runs(cli):
    ids = [start(cli)[0] for _ in range(3)]
    proc = cli.run("--history", "--limit", "2", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert [row["run_id"] for row in json.loads(proc.stdout)] == ids[:0:-1]

    proc = cli.run("--history", "--limit", "1")
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.splitlines()) == 2  # the header and one run
    assert ids[-1] in proc.stdout

    for bad in (("--history", "--limit", "0"), ("--show", "last", "--limit", "2")):
        proc = cli.run(*bad)
        assert proc.returncode == 64, bad
        assert proc.stderr.count("\n") == 1


def traceback_lines(proc) -> list[str]:
    return [line for line in proc.stdout.splitlines() if line.startswith("traceback:")]


def test_a_run_that_ended_is_reported_with_its_saved_traceback(cli, tmp_path):
    # Given a run whose revert failed and one that was reverted, each
    # with its failures' tracebacks saved when it ended
    for args in (
        ("fixture-revert-fails",),
        ("demo", "--store", f"workdir={tmp_path / 'demo'}", "--fail-at", "step_1"),
    ):
        proc = cli.run(*args)
        assert proc.returncode in (1, 2), proc.stderr
        [line] = traceback_lines(proc)
        saved = line.split(": ", 1)[1]
        assert os.path.isfile(saved)
        # When it is resumed, or reverted again, it is shown as it ended
        for again in (("--resume", "last"), ("--revert", "last")):
            if args[0] == "fixture-revert-fails" and again[0] == "--revert":
                continue  # a FAILURE run's --revert tries the revert again
            shown = cli.run(*again)
            assert shown.returncode == proc.returncode, shown.stderr
            # Then the traceback line points at the file that is there
            assert traceback_lines(shown) == [line]
        # And once the file is gone, no line claims anything about it
        os.unlink(saved)
        shown = cli.run("--resume", "last")
        assert shown.returncode == proc.returncode, shown.stderr
        assert traceback_lines(shown) == []
        assert "not written" not in shown.stdout + shown.stderr
