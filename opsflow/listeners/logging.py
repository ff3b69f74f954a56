"""Listeners that log state changes through the ``logging`` module.

``LoggingListener`` logs every change at one level; a failure is logged
with its exception (``exc_info``). ``DynamicLoggingListener`` picks the
level by what happened: failures, reverts and retries at ``failure_level``
(WARNING by default), the rest at ``level`` (DEBUG), and describes a
failure with the atoms that ran before it (:mod:`opsflow.formatters`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from opsflow import formatters, states
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
    """Logs at a level that fits the state: failures as warnings, the rest as debug.

    ``hide_inputs_outputs_of`` names atoms whose arguments and results are
    never logged; ``mask_inputs_keys``/``mask_outputs_keys`` are keys whose
    values are shown as ``***`` wherever they appear in them.
    """

    def __init__(
        self,
        engine: Any,
        task_listen_for: Any = base.DEFAULT_LISTEN_FOR,
        flow_listen_for: Any = base.DEFAULT_LISTEN_FOR,
        retry_listen_for: Any = base.DEFAULT_LISTEN_FOR,
        log: logging.Logger | None = None,
        failure_level: int = logging.WARNING,
        level: int = logging.DEBUG,
        hide_inputs_outputs_of: Iterable[str] = (),
        fail_formatter: formatters.FailureFormatter | None = None,
        mask_inputs_keys: Iterable[str] = (),
        mask_outputs_keys: Iterable[str] = (),
    ) -> None:
        super().__init__(engine, task_listen_for, flow_listen_for, retry_listen_for)
        self._logger = log or LOG
        self._failure_level = failure_level
        self._level = level
        self._hidden = frozenset(hide_inputs_outputs_of)
        self._mask_outputs = frozenset(mask_outputs_keys)
        self._fail_formatter = fail_formatter or formatters.FailureFormatter(
            engine,
            hide_inputs_outputs_of=self._hidden,
            mask_inputs_keys=mask_inputs_keys,
            mask_outputs_keys=self._mask_outputs,
        )
        self._atom_levels: dict[str, int] = dict.fromkeys(
            (states.FAILURE, states.REVERTED, states.RETRYING, states.REVERT_FAILURE),
            failure_level,
        )
        self._flow_levels: dict[str, int] = dict.fromkeys(
            (states.FAILURE, states.REVERTED), failure_level
        )

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
        head = "%s '%s' (%s) transitioned into state '%s' from state '%s'"
        args = [kind.capitalize(), name, details[f"{kind}_uuid"], state]
        args.append(details.get("old_state"))
        result = details.get("result")
        if state in base.FINISH_STATES and isinstance(result, Failure):
            exc_info, text = self._fail_formatter.format(
                result, lambda atom: atom.name == name
            )
            self._logger.log(
                self._failure_level, head + "\n%s", *args, text, exc_info=exc_info
            )
            return
        level = self._atom_levels.get(state, self._level)
        if (
            state in base.FINISH_STATES
            and "result" in details
            and name not in self._hidden
        ):
            shown = formatters.mask_keys(result, self._mask_outputs)
            self._logger.log(level, head + " with result '%s'", *args, shown)
        else:
            self._logger.log(level, head, *args)

    def _task_receiver(self, state: str, details: dict[str, Any]) -> None:
        self._atom("task", state, details)

    def _retry_receiver(self, state: str, details: dict[str, Any]) -> None:
        self._atom("retry", state, details)
