"""Run a program from an argument list, and optionally another one to undo it.

Never a shell string: ``argv`` is a list, each item filled from the run's
values on its own (see :mod:`opsflow_linux.fill`), so a value with spaces or
quotes stays one argument. A non-zero exit, or running past ``timeout``
seconds, fails the task with the tail of what the program wrote on stderr.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from typing import Any

from opsflow import task
from opsflow_linux.fill import fill, fill_argv, fill_map

__all__ = ["Command", "CommandFailed", "run_argv"]

#: How much of stderr a failure message carries.
TAIL_LINES = 20
TAIL_CHARS = 2000


class CommandFailed(RuntimeError):
    """A program exited non-zero, could not start, or ran past its timeout."""


class Command(task.Task):
    """Run ``argv``; on revert run ``undo`` (if given) after a success.

    ``env`` adds to (or overrides) the environment opsflow runs in; ``cwd``
    is the working directory. The result is ``{"argv", "returncode",
    "stdout"}`` (the tail of stdout).
    """

    def __init__(
        self,
        argv: Sequence[str],
        undo: Sequence[str] | None = None,
        timeout: float = 60.0,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        fill_argv(argv, {})  # a shell string is refused when the flow is built
        if undo is not None:
            fill_argv(undo, {})
        self.argv = list(argv)
        self.undo = list(undo) if undo is not None else None
        self.command_timeout = float(timeout)
        self.env = dict(env or {})
        self.cwd = cwd

    def _run(self, argv: Sequence[str], values: Mapping[str, Any]) -> dict[str, Any]:
        return run_argv(
            fill_argv(argv, values),
            timeout=self.command_timeout,
            env=fill_map(self.env, values),
            cwd=fill(self.cwd, values) if self.cwd else None,
        )

    def execute(self, **values: Any) -> dict[str, Any]:
        return self._run(self.argv, values)

    def revert(self, result: Any = None, **values: Any) -> None:
        # Only a command that succeeded is undone: one that failed reported
        # its own error, and what it left is its own business.
        if self.undo is not None and isinstance(result, dict):
            self._run(self.undo, values)


def run_argv(
    argv: list[str],
    timeout: float,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
) -> dict[str, Any]:
    """Run ``argv`` to its end; raise :class:`CommandFailed` unless it exits 0."""
    environment = {**os.environ, **(env or {})}
    try:
        proc = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
            env=environment,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except FileNotFoundError as exc:
        raise CommandFailed(f"{argv[0]}: program not found") from exc
    except subprocess.TimeoutExpired as exc:
        stderr = exc.stderr.decode(errors="replace") if exc.stderr else ""
        raise CommandFailed(
            f"{argv[0]} ran past its timeout of {timeout:g}s and was killed"
            + _tail_suffix(stderr)
        ) from exc
    if proc.returncode != 0:
        raise CommandFailed(
            f"{argv[0]} exited with {_exit_status(proc.returncode)}"
            + _tail_suffix(proc.stderr)
        )
    return {"argv": argv, "returncode": 0, "stdout": tail(proc.stdout)}


def tail(text: str) -> str:
    """The last lines of ``text``, short enough for a failure message."""
    lines = text.rstrip("\n").splitlines()[-TAIL_LINES:]
    return "\n".join(lines)[-TAIL_CHARS:]


def _tail_suffix(stderr: str) -> str:
    last = tail(stderr or "")
    return f"; stderr:\n{last}" if last else " (nothing on stderr)"


def _exit_status(returncode: int) -> str:
    if returncode < 0:
        return f"signal {-returncode}"
    return f"status {returncode}"
