"""Odds and ends TaskFlow programs import from ``taskflow.utils.misc``.

Only the general-purpose helpers are here (text/bytes, JSON, clamping,
failures, copying); TaskFlow's backend-internal URI and msgpack helpers are
not, and importing them raises ``ImportError`` naming this module.
"""

from __future__ import annotations

import collections.abc
import contextlib
import datetime
import json
import os
import socket
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from opsflow.types.failure import Failure

__all__ = [
    "UNKNOWN_HOSTNAME",
    "as_int",
    "binary_decode",
    "binary_encode",
    "capture_failure",
    "clamp",
    "countdown_iter",
    "decode_json",
    "fix_newlines",
    "get_hostname",
    "get_version_string",
    "is_iterable",
    "millis_to_datetime",
    "pick_first_not_none",
    "reverse_enumerate",
    "safe_copy_dict",
    "sequence_minus",
]

T = TypeVar("T")

UNKNOWN_HOSTNAME = "<unknown>"


def get_hostname(unknown_hostname: str = UNKNOWN_HOSTNAME) -> str:
    """This machine's fully qualified name, or ``unknown_hostname``."""
    try:
        return socket.getfqdn() or unknown_hostname
    except OSError:
        return unknown_hostname


def countdown_iter(start_at: int, decr: int = 1) -> Iterator[int]:
    """``start_at``, then ``decr`` less each time, while above zero."""
    if decr <= 0:
        raise ValueError(f"Decrement value must be greater than zero and not {decr}")
    return iter(range(start_at, 0, -decr))


def reverse_enumerate(items: Sequence[T]) -> Iterator[tuple[int, T]]:
    """``(index, item)`` pairs from the last item to the first."""
    for index in range(len(items) - 1, -1, -1):
        yield index, items[index]


def pick_first_not_none(*values: Any) -> Any:
    """The first value that is not None (None if all are)."""
    return next((value for value in values if value is not None), None)


def clamp(
    value: float,
    minimum: float,
    maximum: float,
    on_clamped: Callable[[], Any] | None = None,
) -> float:
    """``value`` held within ``[minimum, maximum]``; ``on_clamped`` if it moved."""
    if minimum > maximum:
        raise ValueError(
            f"Provided minimum '{minimum}' must be less than or equal to"
            f" the provided maximum '{maximum}'"
        )
    clamped = min(max(value, minimum), maximum)
    if clamped != value and on_clamped is not None:
        on_clamped()
    return clamped


def fix_newlines(text: str, replacement: str = os.linesep) -> str:
    """``text`` with its line endings made ``replacement``."""
    return replacement.join(text.splitlines())


def binary_encode(
    text: str | bytes, encoding: str = "utf-8", errors: str = "strict"
) -> bytes:
    """``text`` as bytes (bytes are returned as they are)."""
    if isinstance(text, bytes):
        return text
    if not isinstance(text, str):
        raise TypeError(f"{type(text)} can not be encoded to bytes")
    return text.encode(encoding, errors)


def binary_decode(
    data: str | bytes, encoding: str = "utf-8", errors: str = "strict"
) -> str:
    """``data`` as text (text is returned as it is)."""
    if isinstance(data, str):
        return data
    if not isinstance(data, bytes | bytearray):
        raise TypeError(f"{type(data)} can not be decoded")
    return bytes(data).decode(encoding, errors)


def decode_json(raw_data: str | bytes, root_types: tuple[type, ...] = (dict,)) -> Any:
    """Parse JSON and check its top-level type is one of ``root_types``."""
    try:
        data = json.loads(binary_decode(raw_data))
    except UnicodeDecodeError as exc:
        raise ValueError(f"Expected UTF-8 decodable data: {exc}") from exc
    except ValueError as exc:
        raise ValueError(f"Expected JSON decodable data: {exc}") from exc
    if root_types and not isinstance(data, tuple(root_types)):
        expected = root_types[0] if len(root_types) == 1 else list(root_types)
        raise ValueError(f"Expected '{expected}' root type not '{type(data)}'")
    return data


def millis_to_datetime(milliseconds: float) -> datetime.datetime:
    """The local time ``milliseconds`` after the epoch."""
    return datetime.datetime.fromtimestamp(float(milliseconds) / 1000)


def get_version_string(obj: Any) -> str | None:
    """``obj.version`` as a dotted string (None when it has none)."""
    version = getattr(obj, "version", None)
    if isinstance(version, list | tuple):
        return ".".join(str(part) for part in version)
    return None if version is None else str(version)


def sequence_minus(seq1: Iterable[T], seq2: Iterable[T]) -> list[T]:
    """Items of ``seq1`` with one occurrence removed per item of ``seq2``.

    Works for unhashable items and keeps ``seq1``'s order.
    """
    result = list(seq1)
    for item in seq2:
        with contextlib.suppress(ValueError):
            result.remove(item)
    return result


def as_int(obj: Any, quiet: bool = False) -> Any:
    """``obj`` as an int (``"2"`` and ``"2.5"`` give 2); else raise or give it back."""
    for convert in (int, lambda value: int(float(value))):
        try:
            return convert(obj)
        except (ValueError, TypeError):
            continue
    if not quiet:
        raise TypeError(f"Can not translate '{obj}' ({type(obj)}) to an integer")
    return obj


@contextlib.contextmanager
def capture_failure() -> Iterator[Failure]:
    """The exception being handled, as a ``Failure`` that outlives the handler."""
    exc_info = sys.exc_info()
    if exc_info[0] is None:
        raise RuntimeError("No active exception is being handled")
    yield Failure(exc_info=exc_info)


def is_iterable(obj: Any) -> bool:
    """Whether ``obj`` is iterable and not a string."""
    return not isinstance(obj, str) and isinstance(obj, collections.abc.Iterable)


def safe_copy_dict(obj: Mapping[Any, Any] | None) -> dict[Any, Any]:
    """A shallow copy of ``obj`` as a dict (``{}`` for None or empty)."""
    return dict(obj) if obj else {}
