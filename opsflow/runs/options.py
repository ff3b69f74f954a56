"""Engine options of a run, and the one rule that picks each of them.

For every option: the command-line flag, else what the run recorded when
it started (a take-over runs as the run began), else ``opsflow.conf``
(``[engine]``), else opsflow's default. The defaults are those of the
options in :mod:`opsflow.conf.opts`, so a value set nowhere is the same
in a fresh run and in a take-over.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from oslo_config import cfg

    from opsflow.runs.record import RunRecord

__all__ = ["EngineOptions", "OPTION_NAMES"]

#: The ``[engine]`` options a run carries.
OPTION_NAMES = ("engine", "executor", "max_workers", "task_timeout")


@dataclasses.dataclass(frozen=True)
class EngineOptions:
    """How a run's engine is built."""

    engine: str = "serial"
    #: None: the engine's own (synchronous for serial, thread for parallel).
    executor: str | None = None
    max_workers: int | None = None
    task_timeout: float | None = None

    @classmethod
    def resolve(
        cls,
        conf: cfg.ConfigOpts,
        flags: Mapping[str, Any] | None = None,
        record: RunRecord | None = None,
    ) -> EngineOptions:
        """Each option from ``flags``, else ``record``, else ``conf``, else default.

        A flag or recorded value of None means "not given". ``conf`` gives
        the values of ``opsflow.conf``, or the options' defaults.
        """
        chosen: dict[str, Any] = {}
        for name in OPTION_NAMES:
            for layer in (flags or {}, _recorded(record)):
                value = layer.get(name)
                if value is not None:
                    chosen[name] = value
                    break
            else:
                chosen[name] = getattr(conf.engine, name)
        if not chosen["task_timeout"]:
            chosen["task_timeout"] = None  # 0 in opsflow.conf: no deadline
        return cls(**chosen)

    def engine_kwargs(self) -> dict[str, Any]:
        """Keywords of ``engines.load`` for these options."""
        kwargs: dict[str, Any] = {"engine": self.engine}
        if self.executor is not None:
            kwargs["executor"] = self.executor
        if self.max_workers is not None:
            kwargs["max_workers"] = self.max_workers
        if self.task_timeout:
            kwargs["task_timeout"] = self.task_timeout
        return kwargs


def _recorded(record: RunRecord | None) -> dict[str, Any]:
    if record is None:
        return {}
    return {name: getattr(record, name) for name in OPTION_NAMES}
