"""Placeholders in task settings: ``{port}`` filled from values of the run.

A task built with ``requires=["port"]`` receives ``port`` when it runs (from
the store or from the task that provides it); its string settings are then
filled with :meth:`str.format_map`. A task without ``requires`` takes its
settings literally, so braces in them need no escaping. Argument lists are
filled item by item: a value never becomes more than one argument, and no
shell ever sees it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["fill", "fill_argv", "fill_map", "literal"]


def fill(text: str, values: Mapping[str, Any]) -> str:
    """``text`` with its ``{name}`` placeholders filled from ``values``."""
    if not values:
        return text
    try:
        return text.format_map(values)
    except KeyError as exc:
        raise ValueError(
            f"{text!r} names {exc.args[0]!r}, which is not among this task's "
            f"values ({', '.join(sorted(values))}); add it to requires="
        ) from exc


def fill_argv(argv: Sequence[str], values: Mapping[str, Any]) -> list[str]:
    """An argument list with each item filled; refuses a plain string."""
    if isinstance(argv, str | bytes) or not all(isinstance(a, str) for a in argv):
        raise TypeError(
            f"an argument list of strings is needed, not {argv!r} "
            "(opsflow never runs a shell string)"
        )
    if not argv:
        raise ValueError("the argument list is empty")
    return [fill(item, values) for item in argv]


def fill_map(mapping: Mapping[str, str] | None, values: Mapping[str, Any]) -> dict:
    """A mapping of strings with each value filled."""
    return {key: fill(str(value), values) for key, value in (mapping or {}).items()}


def literal(text: str) -> str:
    """``text`` escaped so that :func:`fill` gives it back unchanged."""
    return text.replace("{", "{{").replace("}", "}}")
