"""The opsflow-as-taskflow distribution: ``OPSFLOW_AS_TASKFLOW=1`` at start-up.

The functional tox environment installs ``compat/opsflow-as-taskflow`` as a
real distribution (its ``.pth`` file lands in site-packages) beside the real
TaskFlow; each case starts a new interpreter with or without the variable.
"""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys

import pytest

PROGRAM = (
    "import taskflow.engines, taskflow.task; "
    "print(taskflow.engines.__name__, taskflow.task.Task.__module__)"
)


@pytest.fixture(autouse=True)
def _installed() -> None:
    try:
        importlib.metadata.distribution("opsflow-as-taskflow")
    except importlib.metadata.PackageNotFoundError:
        pytest.fail("opsflow-as-taskflow is not installed: run with tox -e functional")


def _python(variable: str | None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    env.pop("OPSFLOW_AS_TASKFLOW", None)
    if variable is not None:
        env["OPSFLOW_AS_TASKFLOW"] = variable
    return subprocess.run(
        [sys.executable, "-c", PROGRAM], capture_output=True, text=True, env=env
    )


def test_with_the_variable_import_taskflow_gives_opsflow():
    done = _python("1")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["opsflow.engines", "opsflow.task"]


def test_without_the_variable_the_real_taskflow_is_imported():
    done = _python(None)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["taskflow.engines", "taskflow.task"]
