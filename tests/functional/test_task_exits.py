"""A task raising ``SystemExit`` or ``KeyboardInterrupt`` fails and is
reverted like any other failure, on every executor driver; the operator's
Ctrl-C stays the way to suspend a run."""

from __future__ import annotations

import json

import pytest
import resumekit

EXECUTORS = ["synchronous", "thread", "process", "greenthread"]
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def kit(cli, tmp_path):
    return resumekit.make_kit(cli, tmp_path)


@pytest.mark.parametrize("raises", ["SystemExit", "KeyboardInterrupt"])
@pytest.mark.parametrize("executor", EXECUTORS)
def test_a_task_raising_a_base_exception_is_reverted_like_any_failure(
    kit, executor, raises
):
    # Given a flow whose second step raises SystemExit or KeyboardInterrupt
    result = kit.cli.run(
        "crash-raise",
        "--store",
        f"journal={kit.journal}",
        "--store",
        f"raises={raises}",
        "--executor",
        executor,
        "--format",
        "json",
    )
    # Then the run ends REVERTED (exit 1): the raiser and the step before it
    # are undone, the step after it never ran
    assert result.returncode == 1, result.stderr
    document = json.loads(result.stdout)
    assert document["state"] == "REVERTED"
    assert {name: atom["state"] for name, atom in document["atoms"].items()} == {
        "before": "REVERTED",
        "raiser": "REVERTED",
        "after": "PENDING",
    }
    (failure,) = document["failures"]
    assert failure["atom"] == "raiser"
    assert failure["exception"] == f"{raises}: raised by raiser"
    assert kit.read_journal() == [
        ("X", "before"),
        ("F", "raiser"),
        ("R", "raiser"),
        ("R", "before"),
    ]
    # And the store agrees: nothing is left RUNNING
    history = kit.cli.run("--history", "--format", "json")
    assert [row["state"] for row in json.loads(history.stdout)] == ["REVERTED"]
