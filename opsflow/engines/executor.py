"""The task executor where TaskFlow programs look for it.

TaskFlow keeps its executors in ``taskflow.engines.action_engine.executor``;
programs (and TaskFlow's own tests) import that module by name. opsflow's
live in :mod:`opsflow.executors.base`, which imports nothing of the engine;
this module only names them here.
"""

from __future__ import annotations

from opsflow.executors.base import (
    EXECUTED,
    REVERTED,
    FuturesTaskExecutor,
    ProgressCallback,
    TaskCall,
    TaskExecutor,
    run_task,
)

__all__ = [
    "EXECUTED",
    "REVERTED",
    "FuturesTaskExecutor",
    "ProgressCallback",
    "TaskCall",
    "TaskExecutor",
    "run_task",
]
