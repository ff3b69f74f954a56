"""A listener that prints state changes (to stdout, or stderr)."""

from __future__ import annotations

import sys
import traceback
from typing import Any

from opsflow.listeners import base

__all__ = ["PrintingListener"]


class PrintingListener(base.DumpingListener):
    """Prints one line per state change."""

    def __init__(
        self,
        engine: Any,
        task_listen_for: Any = base.DEFAULT_LISTEN_FOR,
        flow_listen_for: Any = base.DEFAULT_LISTEN_FOR,
        retry_listen_for: Any = base.DEFAULT_LISTEN_FOR,
        stderr: bool = False,
    ) -> None:
        super().__init__(engine, task_listen_for, flow_listen_for, retry_listen_for)
        self._stream = sys.stderr if stderr else sys.stdout

    def _dump(self, message: str, *args: Any, **kwargs: Any) -> None:
        print(message % args, file=self._stream)
        exc_info = kwargs.get("exc_info")
        if exc_info:
            traceback.print_exception(*exc_info, file=self._stream)
