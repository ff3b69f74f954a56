"""Secrets reach the tasks but are masked in every output."""

from __future__ import annotations

import json
import pathlib

import pytest

SECRET = "hunter2-Zq9"


def outputs(proc, cli):
    text = proc.stdout + proc.stderr
    where = [
        line for line in proc.stdout.splitlines() if line.startswith("traceback: ")
    ]
    if where:
        text += pathlib.Path(where[0].split(": ", 1)[1]).read_text()
    return text


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_a_secret_reaches_the_task_but_is_never_shown(cli, tmp_path, fmt):
    out = tmp_path / "seen-by-task"
    proc = cli.run(
        "fixture-secret",
        "--secret",
        f"password={SECRET}",
        "--store",
        f"out={out}",
        "--format",
        fmt,
    )
    # The task got it (it wrote it, logged it, returned it and failed with it)
    assert proc.returncode == 1, proc.stderr
    assert out.read_text() == SECRET
    # But no output, log line, summary or traceback file shows it
    assert SECRET not in outputs(proc, cli)
    assert "logged in with password ***" in proc.stderr
    # What a task prints is masked too (on stderr when stdout holds the JSON)
    printed_to = proc.stderr if fmt == "json" else proc.stdout
    assert "printed password ***" in printed_to
    if fmt == "json":
        document = json.loads(proc.stdout)
        assert document["atoms"]["uses_password"]["state"] == "REVERTED"
        assert "password ***" in document["failures"][0]["exception"]


def test_secrets_listed_in_a_store_file_are_masked(cli, tmp_path):
    out = tmp_path / "seen-by-task"
    store = tmp_path / "store.yaml"
    store.write_text(f"password: {SECRET}\nout: {out}\nsecrets:\n  - password\n")
    proc = cli.run("fixture-secret", "--store-file", str(store))
    assert proc.returncode == 1, proc.stderr
    assert out.read_text() == SECRET
    assert SECRET not in outputs(proc, cli)
    assert "login refused for password ***" in proc.stdout
