"""Secrets reach the tasks but never an output: this replaces them by ``***``.

A :class:`Masker` knows the secret keys and their values. It masks values
stored under a secret key, any value equal to a secret, and any text that
contains one (exception messages, log lines, results).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, Mapping
from typing import Any, TextIO

__all__ = ["MASK", "Masker", "MaskingFilter", "MaskingStream"]

MASK = "***"


class Masker:
    """Replaces the secrets of one run wherever they appear."""

    def __init__(self, secrets: Mapping[str, Any]) -> None:
        self.keys = frozenset(secrets)
        texts = {str(value) for value in secrets.values() if str(value)}
        # Longest first, so a secret that contains another is masked whole.
        self._texts = sorted(texts, key=len, reverse=True)

    def __bool__(self) -> bool:
        return bool(self.keys)

    def text(self, text: str) -> str:
        """``text`` with every secret value replaced."""
        for secret in self._texts:
            if secret in text:
                text = text.replace(secret, MASK)
        return text

    def value(self, value: Any) -> Any:
        """A copy of ``value`` (dicts, lists, strings...) with secrets masked."""
        if not self._texts:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {
                key: MASK if key in self.keys else self.value(item)
                for key, item in value.items()
            }
        if isinstance(value, list | tuple | set | frozenset):
            return [self.value(item) for item in value]
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, int | float):
            return MASK if str(value) in self._texts else value
        return self.text(repr(value))

    def store(self, store: Mapping[str, Any]) -> dict[str, Any]:
        """The store as it may be shown: secret keys masked."""
        return {
            key: MASK if key in self.keys else value for key, value in store.items()
        }

    def wrap_std_streams(self) -> None:
        """Mask whatever anyone writes to stdout/stderr (tasks, listeners)."""
        if self:
            sys.stdout = MaskingStream(sys.stdout, self)
            sys.stderr = MaskingStream(sys.stderr, self)

    def install(self, handlers: Iterable[logging.Handler]) -> None:
        """Mask every record that goes through ``handlers``."""
        if self:
            for handler in handlers:
                handler.addFilter(MaskingFilter(self))


class MaskingFilter(logging.Filter):
    """A logging filter that masks secrets in the message and traceback."""

    def __init__(self, masker: Masker) -> None:
        super().__init__()
        self._masker = masker

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self._masker.text(record.getMessage())
        record.args = None
        if record.exc_info:
            formatter = logging.Formatter()
            record.exc_text = self._masker.text(
                formatter.formatException(record.exc_info)
            )
            record.exc_info = None
        return True


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
