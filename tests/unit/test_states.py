"""State names and transition checks (TaskFlow-compatible)."""

from __future__ import annotations

import pytest

from opsflow import exceptions, states

TASKFLOW_VALUES = {
    "PENDING": "PENDING",
    "RUNNING": "RUNNING",
    "SUCCESS": "SUCCESS",
    "FAILURE": "FAILURE",
    "REVERTING": "REVERTING",
    "REVERTED": "REVERTED",
    "REVERT_FAILURE": "REVERT_FAILURE",
    "RETRYING": "RETRYING",
    "IGNORE": "IGNORE",
    "SUSPENDING": "SUSPENDING",
    "SUSPENDED": "SUSPENDED",
    "RESUMING": "RESUMING",
    "SCHEDULING": "SCHEDULING",
    "WAITING": "WAITING",
    "ANALYZING": "ANALYZING",
}


@pytest.mark.parametrize(("name", "value"), sorted(TASKFLOW_VALUES.items()))
def test_state_constants_have_taskflow_string_values(name, value):
    state = getattr(states, name)
    assert state == value
    assert isinstance(state, str)


def test_there_is_no_failed_state():
    assert not hasattr(states, "FAILED")


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (states.PENDING, states.RUNNING),
        (states.PENDING, states.IGNORE),
        (states.RUNNING, states.SUCCESS),
        (states.RUNNING, states.FAILURE),
        (states.FAILURE, states.REVERTING),
        (states.SUCCESS, states.REVERTING),
        (states.REVERTING, states.REVERTED),
        (states.REVERTING, states.REVERT_FAILURE),
        (states.REVERTED, states.PENDING),
        (states.IGNORE, states.PENDING),
    ],
)
def test_allowed_task_transitions(old, new):
    assert states.check_task_transition(old, new) is True
    assert states.check_retry_transition(old, new) is True


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (states.PENDING, states.SUCCESS),
        (states.PENDING, states.REVERTING),
        (states.PENDING, states.REVERTED),
        (states.SUCCESS, states.RUNNING),
        (states.REVERTED, states.SUCCESS),
        (states.RUNNING, states.REVERTED),
        (states.SUCCESS, states.RETRYING),
    ],
)
def test_forbidden_task_transitions(old, new):
    assert states.check_task_transition(old, new) is False


def test_only_retries_may_go_retrying_and_back_to_running():
    assert states.check_retry_transition(states.SUCCESS, states.RETRYING) is True
    assert states.check_retry_transition(states.RETRYING, states.RUNNING) is True
    assert states.check_task_transition(states.RETRYING, states.RUNNING) is False


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (states.PENDING, states.RUNNING),
        (states.RUNNING, states.SUCCESS),
        (states.RUNNING, states.FAILURE),
        (states.RUNNING, states.REVERTED),
        (states.RUNNING, states.SUSPENDING),
        (states.SUSPENDING, states.SUSPENDED),
        (states.SUSPENDED, states.RUNNING),
        (states.REVERTED, states.PENDING),
        (states.SUCCESS, states.PENDING),
    ],
)
def test_allowed_flow_transitions(old, new):
    assert states.check_flow_transition(old, new) is True


def test_a_flow_transition_to_the_same_state_is_ignored():
    assert states.check_flow_transition(states.RUNNING, states.RUNNING) is False


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (states.PENDING, states.SUCCESS),
        (states.PENDING, states.REVERTED),
        (states.SUSPENDED, states.SUCCESS),
    ],
)
def test_invalid_flow_transitions_raise_invalid_state(old, new):
    with pytest.raises(exceptions.InvalidState):
        states.check_flow_transition(old, new)
