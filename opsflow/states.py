"""States of flows and atoms, and the transitions allowed between them.

The string values are TaskFlow's, so persisted rows and listener code move
between the two unchanged. ``State`` is a ``StrEnum``: every member *is* its
string, which is what automaton machines and persistence rows store.

Atoms (tasks and retries) move through::

    PENDING -> RUNNING -> SUCCESS -> REVERTING -> REVERTED -> PENDING
                      \\-> FAILURE -/          \\-> REVERT_FAILURE
    PENDING -> IGNORE -> PENDING                (decider said no)
    SUCCESS -> RETRYING -> RUNNING              (retry controllers only)

Flows move through PENDING, RUNNING, SUCCESS, REVERTED, FAILURE, SUSPENDING,
SUSPENDED and RESUMING. ``GAME_OVER`` and ``UNDEFINED`` exist only inside the
engine's state machine and are never stored.

Jobs (a run posted to a jobboard) go UNCLAIMED -> CLAIMED -> COMPLETE, or
back to UNCLAIMED when their claim is given up.
"""

from __future__ import annotations

import enum

from opsflow import exceptions

__all__ = [
    "ANALYZING",
    "CLAIMED",
    "COMPLETE",
    "ENDED_STATES",
    "EXECUTE",
    "FAILURE",
    "FINAL_STATES",
    "FLOW_STATES",
    "GAME_OVER",
    "IGNORE",
    "INTENTIONS",
    "PENDING",
    "RESUMING",
    "RETRY",
    "RETRYING",
    "REVERT",
    "REVERTED",
    "REVERTING",
    "REVERT_FAILURE",
    "RUNNING",
    "SCHEDULING",
    "SUCCESS",
    "SUSPENDED",
    "SUSPENDING",
    "UNCLAIMED",
    "UNDEFINED",
    "WAITING",
    "State",
    "check_flow_transition",
    "check_job_transition",
    "check_retry_transition",
    "check_task_transition",
]


class State(enum.StrEnum):
    """Every state and intention name, valued as TaskFlow spells it."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    REVERTING = "REVERTING"
    REVERTED = "REVERTED"
    REVERT_FAILURE = "REVERT_FAILURE"
    RETRYING = "RETRYING"
    IGNORE = "IGNORE"
    SUSPENDING = "SUSPENDING"
    SUSPENDED = "SUSPENDED"
    RESUMING = "RESUMING"
    # The engine machine's working states.
    SCHEDULING = "SCHEDULING"
    WAITING = "WAITING"
    ANALYZING = "ANALYZING"
    GAME_OVER = "GAME_OVER"
    UNDEFINED = "UNDEFINED"
    # Intentions: what the engine means to do next with an atom.
    EXECUTE = "EXECUTE"
    REVERT = "REVERT"
    RETRY = "RETRY"
    # Jobs on a jobboard.
    UNCLAIMED = "UNCLAIMED"
    CLAIMED = "CLAIMED"
    COMPLETE = "COMPLETE"


PENDING = State.PENDING
RUNNING = State.RUNNING
SUCCESS = State.SUCCESS
FAILURE = State.FAILURE
REVERTING = State.REVERTING
REVERTED = State.REVERTED
REVERT_FAILURE = State.REVERT_FAILURE
RETRYING = State.RETRYING
IGNORE = State.IGNORE
SUSPENDING = State.SUSPENDING
SUSPENDED = State.SUSPENDED
RESUMING = State.RESUMING
SCHEDULING = State.SCHEDULING
WAITING = State.WAITING
ANALYZING = State.ANALYZING
GAME_OVER = State.GAME_OVER
UNDEFINED = State.UNDEFINED
EXECUTE = State.EXECUTE
REVERT = State.REVERT
RETRY = State.RETRY
UNCLAIMED = State.UNCLAIMED
CLAIMED = State.CLAIMED
COMPLETE = State.COMPLETE

INTENTIONS = (EXECUTE, IGNORE, REVERT, RETRY)

#: The states a run of the engine stops in (a SUSPENDED run may be resumed).
FINAL_STATES = frozenset({SUCCESS, REVERTED, FAILURE, SUSPENDED})
#: The states of a run that is over: taking it over only reports it.
ENDED_STATES = FINAL_STATES - {SUSPENDED}
#: Every state a flow (a run) can be in.
FLOW_STATES = (
    PENDING,
    RUNNING,
    SUSPENDING,
    SUSPENDED,
    RESUMING,
    SUCCESS,
    REVERTED,
    FAILURE,
)

_ALLOWED_FLOW_TRANSITIONS = frozenset(
    {
        (PENDING, RUNNING),
        (RUNNING, SUCCESS),
        (RUNNING, FAILURE),
        (RUNNING, REVERTED),
        (RUNNING, SUSPENDING),
        (RUNNING, RESUMING),
        (SUCCESS, RUNNING),
        (FAILURE, RUNNING),
        (REVERTED, PENDING),
        (SUCCESS, PENDING),
        (SUSPENDING, SUSPENDED),
        (SUSPENDING, SUCCESS),
        (SUSPENDING, FAILURE),
        (SUSPENDING, REVERTED),
        (SUSPENDING, RESUMING),
        (SUSPENDED, RUNNING),
        (RESUMING, SUSPENDED),
    }
)
# Asking a flow that is not running to suspend or resume is a no-op, not an error.
_IGNORED_FLOW_TRANSITIONS = frozenset(
    (old, new)
    for old in (PENDING, FAILURE, SUCCESS, SUSPENDED, REVERTED)
    for new in (SUSPENDING, SUSPENDED, RESUMING)
    if old != new
)

_ALLOWED_TASK_TRANSITIONS = frozenset(
    {
        (PENDING, RUNNING),
        (PENDING, IGNORE),
        (RUNNING, SUCCESS),
        (RUNNING, FAILURE),
        (FAILURE, REVERTING),
        (SUCCESS, REVERTING),
        (REVERTING, REVERTED),
        (REVERTING, REVERT_FAILURE),
        (REVERTED, PENDING),
        (IGNORE, PENDING),
    }
)
_ALLOWED_RETRY_TRANSITIONS = _ALLOWED_TASK_TRANSITIONS | {
    (SUCCESS, RETRYING),
    (RETRYING, RUNNING),
}
_ALLOWED_JOB_TRANSITIONS = frozenset(
    {(UNCLAIMED, CLAIMED), (CLAIMED, UNCLAIMED), (CLAIMED, COMPLETE)}
)


def check_flow_transition(old_state: str, new_state: str) -> bool:
    """Whether a flow may go from ``old_state`` to ``new_state``.

    Returns False for a transition that is to be ignored (same state, or a
    suspend/resume request on a flow that is not running) and raises
    :class:`~opsflow.exceptions.InvalidState` for a forbidden one.
    """
    if old_state == new_state:
        return False
    pair = (old_state, new_state)
    if pair in _ALLOWED_FLOW_TRANSITIONS:
        return True
    if pair in _IGNORED_FLOW_TRANSITIONS:
        return False
    raise exceptions.InvalidState(
        f"Flow transition from '{old_state}' to '{new_state}' is not allowed"
    )


def check_task_transition(old_state: str, new_state: str) -> bool:
    """Whether a task may go from ``old_state`` to ``new_state``."""
    return (old_state, new_state) in _ALLOWED_TASK_TRANSITIONS


def check_retry_transition(old_state: str, new_state: str) -> bool:
    """Whether a retry controller may go from ``old_state`` to ``new_state``."""
    return (old_state, new_state) in _ALLOWED_RETRY_TRANSITIONS


def check_job_transition(old_state: str, new_state: str) -> bool:
    """Whether a job may go from ``old_state`` to ``new_state``.

    False for staying in the same state; ``InvalidState`` for a forbidden move.
    """
    if old_state == new_state:
        return False
    if (old_state, new_state) in _ALLOWED_JOB_TRANSITIONS:
        return True
    raise exceptions.InvalidState(
        f"Job transition from '{old_state}' to '{new_state}' is not allowed"
    )
