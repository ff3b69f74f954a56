"""What ``opsflow-run`` shows of a run's secrets: ``***``.

Results and failures come out of storage already scrubbed
(:mod:`opsflow.redaction`); a :class:`Masker` covers what the CLI shows
besides: values of the store under a secret key, text that plugin code
prints or logs while it runs, and records made before scrubbing existed.
It masks *values* only. opsflow's own output (run ids, states, keys of the
JSON document, timestamps) is written around the masked values, never
passed through a text replace, so a secret that happens to occur in an id
or a date cannot mangle it.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import uuid
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, TextIO

from opsflow import states
from opsflow.redaction import MASK, Redactor

__all__ = ["MASK", "Masker", "MaskingFilter", "MaskingStream"]


class Masker:
    """Masks the secrets of one run in what the CLI prints and logs."""

    def __init__(self, secrets: Mapping[str, Any]) -> None:
        self.keys = frozenset(secrets)
        self.redactor = Redactor.of_secrets(secrets)

    def __bool__(self) -> bool:
        return bool(self.keys)

    def text(self, text: str) -> str:
        """``text`` (a value from a task or an input) with every secret masked."""
        return self.redactor.text(text)

    def value(self, value: Any) -> Any:
        """A copy of ``value`` (dicts, lists, strings...) with secrets masked;
        in a mapping, whatever is under a secret key is masked whole."""
        if not self.redactor:
            return value
        if isinstance(value, Mapping):
            return {
                self.redactor.value(key): MASK if key in self.keys else self.value(item)
                for key, item in value.items()
            }
        if isinstance(value, list | tuple | set | frozenset):
            return [self.value(item) for item in value]
        return self.redactor.value(value)

    def store(self, store: Mapping[str, Any]) -> dict[str, Any]:
        """The store as it may be shown: secret keys masked."""
        return {
            key: MASK if key in self.keys else value for key, value in store.items()
        }

    @contextlib.contextmanager
    def masking_std_streams(self) -> Iterator[None]:
        """While plugin code runs (flow factories, tasks): mask what it
        prints to stdout/stderr. opsflow's own output keeps the real
        streams, taken before this and restored after."""
        if not self:
            yield
            return
        saved = sys.stdout, sys.stderr
        sys.stdout = MaskingStream(sys.stdout, self)
        sys.stderr = MaskingStream(sys.stderr, self)
        try:
            yield
        finally:
            sys.stdout, sys.stderr = saved

    def install(self, handlers: Iterable[logging.Handler]) -> None:
        """Mask every record that goes through ``handlers``."""
        if self:
            for handler in handlers:
                handler.addFilter(MaskingFilter(self))


def _is_own(logger_name: str) -> bool:
    return logger_name == "opsflow" or logger_name.startswith("opsflow.")


_STATE_NAMES = frozenset(state.value for state in states.State)


def _is_own_token(text: str) -> bool:
    """A run or atom id, or a state name: opsflow's, never a task's value."""
    if text in _STATE_NAMES:
        return True
    try:
        return str(uuid.UUID(text)) == text.lower()
    except ValueError:
        return False


class MaskingFilter(logging.Filter):
    """A logging filter that masks secrets in values, never in opsflow's text.

    A record from a plugin or a library is task-side text: its whole message
    is masked. A record of opsflow's own loggers is opsflow's text around
    values (ids, states, names, and results and failures storage already
    scrubbed): only an argument that is a secret, or an object (exception,
    container) whose rendering shows one, is masked. Tracebacks are masked.
    The timestamp and the other fields a formatter adds come after this, so
    they are never touched.
    """

    def __init__(self, masker: Masker) -> None:
        super().__init__()
        self._masker = masker

    def filter(self, record: logging.LogRecord) -> bool:
        masker = self._masker
        if not _is_own(record.name):
            record.msg = masker.text(record.getMessage())
            record.args = None
        elif isinstance(record.args, tuple):
            record.args = tuple(self._argument(arg) for arg in record.args)
        elif isinstance(record.args, Mapping):
            record.args = {key: self._argument(arg) for key, arg in record.args.items()}
        if record.exc_info:
            formatter = logging.Formatter()
            record.exc_text = masker.text(formatter.formatException(record.exc_info))
            record.exc_info = None
        return True

    def _argument(self, arg: Any) -> Any:
        if isinstance(arg, str):
            # A listener's rendering of a step's arguments is text holding
            # values; an id or a state is opsflow's own and stays whole.
            return arg if _is_own_token(arg) else self._masker.text(arg)
        if arg is None or isinstance(arg, bool | int | float):
            return self._masker.redactor.value(arg)
        shown = str(arg)
        masked = self._masker.text(shown)
        return arg if masked == shown else masked


class MaskingStream:
    """A text stream that masks secrets in each write, then passes it on."""

    def __init__(self, stream: TextIO, masker: Masker) -> None:
        self._stream = stream
        self._masker = masker

    def write(self, text: str) -> int:
        self._stream.write(self._masker.text(text))
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)
