"""Loggers with a TRACE level below DEBUG, as TaskFlow programs use them.

``opsflow.logging.getLogger(name)`` gives a logger adapter with a
``trace()`` method (level 5, the level oslo.log and kazoo call TRACE);
the usual level constants are here too, so ``from taskflow import logging``
keeps working.
"""

from __future__ import annotations

import logging as _logging
from collections.abc import Mapping
from typing import Any

__all__ = [
    "BLATHER",
    "CRITICAL",
    "DEBUG",
    "ERROR",
    "FATAL",
    "INFO",
    "NOTSET",
    "TRACE",
    "WARN",
    "WARNING",
    "getLogger",
]

#: Finer than DEBUG: what only someone following the engine step by step needs.
TRACE = BLATHER = 5
CRITICAL = _logging.CRITICAL
DEBUG = _logging.DEBUG
ERROR = _logging.ERROR
FATAL = _logging.FATAL
INFO = _logging.INFO
NOTSET = _logging.NOTSET
WARN = WARNING = _logging.WARNING


class TraceLoggerAdapter(_logging.LoggerAdapter):  # type: ignore[type-arg]
    """A logger with ``trace()``."""

    def trace(self, msg: str, *args: Any, **kwargs: Any) -> None:
        """Log ``msg`` at TRACE."""
        self.log(TRACE, msg, *args, **kwargs)


def getLogger(  # noqa: N802 - the logging module's spelling
    name: str = "opsflow", extra: Mapping[str, Any] | None = None
) -> TraceLoggerAdapter:
    """The logger ``name`` (with a do-nothing handler if it has none)."""
    logger = _logging.getLogger(name)
    if not logger.handlers:
        logger.addHandler(_logging.NullHandler())
    return TraceLoggerAdapter(logger, extra or {})
