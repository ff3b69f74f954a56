"""Listeners that log state changes through the ``logging`` module."""

from __future__ import annotations

import logging
from typing import Any

from opsflow import states
from opsflow.listeners import base
from opsflow.types.failure import Failure

__all__ = ["DynamicLoggingListener", "LoggingListener"]

LOG = logging.getLogger(__name__)


class LoggingListener(base.DumpingListener):
    """Logs every state change at one level (DEBUG by default)."""

    def __init__(
        self,
        engine: Any,
        task_listen_for: Any = base.DEFAULT_LISTEN_FOR,
        flow_listen_for: Any = base.DEFAULT_LISTEN_FOR,
        retry_listen_for: Any = base.DEFAULT_LISTEN_FOR,
        log: logging.Logger | None = None,
        level: int = logging.DEBUG,
    ) -> None:
        super().__init__(engine, task_listen_for, flow_listen_for, retry_listen_for)
        self._logger = log or LOG
        self._level = level

    def _dump(self, message: str, *args: Any, **kwargs: Any) -> None:
        self._logger.log(self._level, message, *args, **kwargs)


class DynamicLoggingListener(base.Listener):
    """Logs at a level that fits the state: failures as warnings, the rest as debug."""

    def __init__(
        self,
        engine: Any,
        task_listen_for: Any = base.DEFAULT_LISTEN_FOR,
        flow_listen_for: Any = base.DEFAULT_LISTEN_FOR,
        retry_listen_for: Any = base.DEFAULT_LISTEN_FOR,
        log: logging.Logger | None = None,
        failure_level: int = logging.WARNING,
        level: int = logging.DEBUG,
        hide_inputs_outputs_of: Any = (),
        fail_formatter: Any = None,
    ) -> None:
        super().__init__(engine, task_listen_for, flow_listen_for, retry_listen_for)
        self._logger = log or LOG
        self._failure_level = failure_level
        self._level = level
        self._hidden = frozenset(hide_inputs_outputs_of)
        self._flow_levels: dict[str, int] = {
            states.FAILURE: failure_level,
            states.REVERTED: failure_level,
        }

    def _flow_receiver(self, state: str, details: dict[str, Any]) -> None:
        self._logger.log(
            self._flow_levels.get(state, self._level),
            "Flow '%s' (%s) transitioned into state '%s' from state '%s'",
            details["flow_name"],
            details["flow_uuid"],
            state,
            details.get("old_state"),
        )

    def _atom(self, kind: str, state: str, details: dict[str, Any]) -> None:
        name = details[f"{kind}_name"]
        uuid = details[f"{kind}_uuid"]
        result = details.get("result")
        if isinstance(result, Failure):
            self._logger.log(
                self._failure_level,
                "%s '%s' (%s) transitioned into state '%s' from state '%s'\n%s",
                kind.capitalize(),
                name,
                uuid,
                state,
                details.get("old_state"),
                result.pformat(traceback=True),
            )
        elif state in base.FINISH_STATES and "result" in details:
            shown = "<hidden>" if name in self._hidden else result
            self._logger.log(
                self._level,
                "%s '%s' (%s) transitioned into state '%s' from state '%s'"
                " with result '%s'",
                kind.capitalize(),
                name,
                uuid,
                state,
                details.get("old_state"),
                shown,
            )
        else:
            self._logger.log(
                self._level,
                "%s '%s' (%s) transitioned into state '%s' from state '%s'",
                kind.capitalize(),
                name,
                uuid,
                state,
                details.get("old_state"),
            )

    def _task_receiver(self, state: str, details: dict[str, Any]) -> None:
        self._atom("task", state, details)

    def _retry_receiver(self, state: str, details: dict[str, Any]) -> None:
        self._atom("retry", state, details)
