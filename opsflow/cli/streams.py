"""stdout and stderr that a closed pipe cannot break.

``opsflow-run demo | head -1`` closes stdout after one line, and
``opsflow-run demo 2>&1 | tee log`` stopped with Ctrl-C loses its reader
(tee dies first) before opsflow-run has written its last words. Python
ignores SIGPIPE, so such a write raises ``BrokenPipeError`` wherever it
happens: in a log handler, in the summary, in Python's own flush at exit,
and the exit code becomes that of an error instead of the run's.

:func:`guard_std_streams` wraps both streams: the first write that finds its
pipe closed points the stream's file descriptor at ``/dev/null``, so that
write and every later one, Python's flush at exit included, go nowhere.
Output nobody can read any more is dropped; the run and its exit code stand.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterable
from typing import Any, TextIO

__all__ = ["PipeSafeStream", "guard_std_streams", "write_fd"]


class PipeSafeStream:
    """A text stream whose writes to a closed pipe are dropped silently."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            self._drop()
            return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._drop()

    def _drop(self) -> None:
        """From now on write to /dev/null: the reader is gone for good."""
        with contextlib.suppress(OSError, ValueError):
            _to_devnull(self._stream.fileno())
        # What the stream still buffers goes to /dev/null with the rest.
        with contextlib.suppress(OSError, ValueError):
            self._stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _to_devnull(fd: int) -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)


def guard_std_streams() -> None:
    """Wrap ``sys.stdout`` and ``sys.stderr`` (once) in :class:`PipeSafeStream`.

    Call it first thing, before anything (a log handler, the secrets
    masker) holds on to the streams.
    """
    if not isinstance(sys.stdout, PipeSafeStream):
        sys.stdout = PipeSafeStream(sys.stdout)  # type: ignore[assignment]
    if not isinstance(sys.stderr, PipeSafeStream):
        sys.stderr = PipeSafeStream(sys.stderr)  # type: ignore[assignment]


def write_fd(fd: int, data: bytes) -> None:
    """``os.write`` for a signal handler: a closed pipe drops the data."""
    try:
        os.write(fd, data)
    except BrokenPipeError:
        with contextlib.suppress(OSError):
            _to_devnull(fd)
    except OSError:
        pass
