"""Limits for YAML read from operators' files (flow files, store files).

PyYAML's safe loader builds no Python objects from tags, but it does expand
aliases: a "billion laughs" file of a few hundred bytes, whose anchors each
repeat the one before ten times, is a hundred nodes to the parser and a
billion values to whatever walks the result (schema validation, a copy,
JSON encoding for the run store). So a document is measured as a node graph
before anything is built from it: one whose aliases would add more than
:data:`MAX_ALIAS_VALUES` values, or that refers to itself, is refused.
Files are read up to a size limit too, so neither kind of file can take
all memory. Anchors and aliases used as intended (a shared block of
settings, merge keys) stay far below the limit.
"""

from __future__ import annotations

from typing import Any

import yaml

__all__ = ["MAX_ALIAS_VALUES", "MiB", "YamlLimitExceeded", "load", "read_limited"]

MiB = 1024 * 1024
#: How many values the aliases of one document may add once expanded.
MAX_ALIAS_VALUES = 100_000


class YamlLimitExceeded(ValueError):
    """A file is larger, or its aliases expand further, than allowed.

    ``line`` and ``column`` (from 1) say where the offending part starts.
    """

    def __init__(self, problem: str, line: int = 1, column: int = 1) -> None:
        self.problem = problem
        self.line = line
        self.column = column
        super().__init__(problem)


def read_limited(path: str, limit: int) -> bytes:
    """The bytes of ``path``, refused beyond ``limit`` bytes.

    :raises YamlLimitExceeded: the file is larger than ``limit``.
    :raises OSError: it cannot be read.
    """
    with open(path, "rb") as handle:
        raw = handle.read(limit + 1)
    if len(raw) > limit:
        raise YamlLimitExceeded(f"is larger than {_size(limit)}; refused")
    return raw


def load(loader: yaml.SafeLoader) -> Any:
    """The single document ``loader`` reads, once its aliases are measured.

    :raises YamlLimitExceeded: its aliases expand too far, or form a loop.
    :raises yaml.YAMLError: it is not valid YAML.
    """
    node = loader.get_single_node()
    if node is None:
        return None
    check_aliases(node)
    return loader.construct_document(node)


def check_aliases(root: yaml.Node) -> None:
    """Refuse a node graph whose aliases add more than :data:`MAX_ALIAS_VALUES`.

    Each node's expanded size is computed once (iteratively, so deep nesting
    cannot overflow the stack), which is what makes a bomb cheap to detect.
    """
    expanded: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            on_path.discard(key)
            expanded[key] = 1 + sum(expanded[id(child)] for child in _children(node))
            continue
        if key in expanded:
            continue
        if key in on_path:
            raise YamlLimitExceeded(
                "an alias refers to a value that contains it (a loop); refused",
                *_where(node),
            )
        on_path.add(key)
        stack.append((node, True))
        for child in _children(node):
            if id(child) not in expanded:
                stack.append((child, False))
    added = expanded[id(root)] - len(expanded)
    if added > MAX_ALIAS_VALUES:
        raise YamlLimitExceeded(
            f"its aliases expand to {added:,} more values, over the limit of "
            f"{MAX_ALIAS_VALUES:,} (a YAML bomb?); refused",
            *_where(root),
        )


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _where(node: yaml.Node) -> tuple[int, int]:
    mark = node.start_mark
    return (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)


def _size(limit: int) -> str:
    return f"{limit // MiB} MiB" if limit >= MiB else f"{limit} bytes"
