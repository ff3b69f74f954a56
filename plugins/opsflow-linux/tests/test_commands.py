"""The command task: argument lists only, undo, timeout, environment, stderr tail."""

from __future__ import annotations

import sys

import pytest
from opsflow_linux.commands import Command, CommandFailed


def test_a_shell_string_is_refused_when_the_flow_is_built():
    with pytest.raises(TypeError, match="never runs a shell string"):
        Command("rm -rf /tmp/x", name="cmd")


def test_a_value_with_spaces_and_quotes_stays_one_argument(tmp_path):
    task = Command(
        [sys.executable, "-c", "import sys; print(sys.argv[1:])", "{value}"],
        requires=["value"],
        name="cmd",
    )
    result = task.execute(value="a b'; rm -rf /")
    assert result["stdout"] == '["a b\'; rm -rf /"]'


def test_a_non_zero_exit_fails_with_the_tail_of_stderr():
    script = (
        "import sys\nfor i in range(50): print('line', i, file=sys.stderr)\nsys.exit(3)"
    )
    task = Command([sys.executable, "-c", script], name="cmd")
    with pytest.raises(CommandFailed) as caught:
        task.execute()
    message = str(caught.value)
    assert "exited with status 3" in message
    assert message.endswith("line 49") and "line 29" not in message


def test_a_command_past_its_timeout_is_killed_and_fails():
    task = Command([sys.executable, "-c", "import time; time.sleep(30)"], timeout=0.5)
    with pytest.raises(CommandFailed, match="timeout of 0.5s"):
        task.execute()


def test_the_environment_is_added_to_opsflows_own(monkeypatch):
    monkeypatch.setenv("KEPT", "yes")
    code = "import os; print(os.environ['KEPT'], os.environ['ADDED'])"
    task = Command([sys.executable, "-c", code], env={"ADDED": "{v}"}, requires=["v"])
    assert task.execute(v="filled")["stdout"] == "yes filled"


def test_the_undo_command_runs_on_revert_after_a_success_only(tmp_path):
    marker = tmp_path / "marker"
    task = Command(["touch", str(marker)], undo=["rm", "-f", str(marker)], name="cmd")
    result = task.execute()
    assert marker.exists()
    task.revert(result=result)
    assert not marker.exists()
    marker.write_text("made by someone else")
    task.revert(result=RuntimeError("the engine passes a failure"))
    assert marker.exists()


def test_a_missing_program_is_a_clear_failure():
    with pytest.raises(CommandFailed, match="no-such-program: program not found"):
        Command(["no-such-program"]).execute()
