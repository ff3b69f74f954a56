"""Iterator helpers TaskFlow programs use (fill, count, delays, unique values)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

__all__ = [
    "count",
    "fill",
    "find_first_match",
    "generate_delays",
    "iter_forever",
    "unique_seen",
    "while_is_not",
]

T = TypeVar("T")


def _require_iterable(value: Any) -> None:
    if not isinstance(value, Iterable):
        raise ValueError(f"Iterable expected, but '{value}' is not iterable")


def fill(it: Iterable[T], desired_len: int, filler: Any = None) -> Iterator[Any]:
    """Exactly ``desired_len`` values: those of ``it``, then ``filler``."""
    _require_iterable(it)

    def values() -> Iterator[Any]:
        taken = itertools.islice(it, max(desired_len, 0))
        produced = 0
        for value in taken:
            produced += 1
            yield value
        yield from itertools.repeat(filler, max(desired_len - produced, 0))

    return values()


def count(it: Iterable[Any]) -> int:
    """How many values ``it`` holds (it is consumed)."""
    _require_iterable(it)
    return sum(1 for _ in it)


def generate_delays(
    delay: float, max_delay: float, multiplier: float = 2
) -> Iterator[float]:
    """``delay``, then each time ``multiplier`` times more, capped at ``max_delay``.

    Never ends. The arguments are checked at the call, not on first use.
    """
    if max_delay < 0:
        raise ValueError("Provided delay (max) must be greater than or equal to zero")
    if delay < 0:
        raise ValueError("Provided delay must start off greater than or equal to zero")
    if multiplier < 1.0:
        raise ValueError("Provided multiplier must be greater than or equal to 1.0")

    def delays() -> Iterator[float]:
        current = delay
        while True:
            current = max(0, min(max_delay, current))
            yield current
            current *= multiplier

    return delays()


def unique_seen(
    its: Iterable[Iterable[T]], seen_selector: Callable[[T], Any] | None = None
) -> Iterator[T]:
    """The values of each iterable in turn, each (or each key) only once."""
    sources = list(its)
    for source in sources:
        _require_iterable(source)
    key = seen_selector or (lambda value: value)

    def values() -> Iterator[T]:
        seen: set[Any] = set()
        for value in itertools.chain.from_iterable(sources):
            marker = key(value)
            if marker not in seen:
                seen.add(marker)
                yield value

    return values()


def find_first_match(
    it: Iterable[T], matcher: Callable[[T], bool], not_found_value: Any = None
) -> Any:
    """The first value ``matcher`` accepts, else ``not_found_value``."""
    _require_iterable(it)
    return next((value for value in it if matcher(value)), not_found_value)


def while_is_not(it: Iterable[T], stop_value: Any) -> Iterator[T]:
    """The values of ``it`` up to and including the one that *is* ``stop_value``."""
    _require_iterable(it)

    def values() -> Iterator[T]:
        for value in it:
            yield value
            if value is stop_value:
                return

    return values()


def iter_forever(limit: int) -> Iterator[int]:
    """0, 1, 2, ... up to ``limit`` (not included); forever when it is negative."""
    return itertools.count() if limit < 0 else iter(range(limit))
