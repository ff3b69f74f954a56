"""Safe YAML loading that remembers where every value came from.

Flow files are read with PyYAML's ``SafeLoader`` (no tags that build Python
objects, nothing in the file is executed). Mappings and sequences come back
as :class:`MarkedMap` and :class:`MarkedList`, plain ``dict``/``list``
subclasses that also keep the line and column of each key and item, so that
every later error (schema, semantic checks, building the flow) can name the
exact place in the file. Anchors, aliases and merge keys (``<<``) work as in
any YAML, within the limits of :mod:`opsflow.safeyaml` (no "billion laughs");
a key written twice in one mapping is an error (PyYAML would keep the last
one silently).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from opsflow import safeyaml

__all__ = [
    "Mark",
    "MarkedList",
    "MarkedMap",
    "OverLimit",
    "UnexpectedDocument",
    "YamlSyntaxError",
    "load",
]


@dataclass(frozen=True)
class Mark:
    """A place in a file; ``line`` and ``column`` count from 1."""

    path: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}"


class MarkedMap(dict):  # type: ignore[type-arg]
    """A mapping that knows where it, each key and each value start."""

    mark: Mark
    key_marks: dict[Any, Mark]
    value_marks: dict[Any, Mark]


class MarkedList(list):  # type: ignore[type-arg]
    """A sequence that knows where it and each item start."""

    mark: Mark
    item_marks: list[Mark]


class YamlSyntaxError(ValueError):
    """The file is not valid YAML (or repeats a key); ``mark`` says where."""

    def __init__(self, mark: Mark, problem: str) -> None:
        self.mark = mark
        self.problem = problem
        super().__init__(f"{mark}: {problem}")


def _mark(path: str, node: yaml.Node) -> Mark:
    start = node.start_mark
    return Mark(path, start.line + 1, start.column + 1)


class _Loader(yaml.SafeLoader):
    """``SafeLoader`` whose mappings and sequences carry their marks."""

    source_path = "<string>"

    def construct_marked_map(self, node: yaml.MappingNode) -> Any:
        data = MarkedMap()
        data.mark = _mark(self.source_path, node)
        data.key_marks, data.value_marks = {}, {}
        yield data
        # Keys written in this mapping (not merged in) must be unique.
        seen: dict[Any, Mark] = {}
        for key_node, _value in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            where = _mark(self.source_path, key_node)
            if _hashable(key) and key in seen:
                raise YamlSyntaxError(
                    where, f"key {key!r} is repeated (first at line {seen[key].line})"
                )
            if _hashable(key):
                seen[key] = where
        self.flatten_mapping(node)  # resolves merge keys (<<) into node.value
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            if not _hashable(key):
                raise YamlSyntaxError(
                    _mark(self.source_path, key_node), "a key must be a plain value"
                )
            data[key] = self.construct_object(value_node, deep=True)
            # Merged keys point at the anchor they came from; own keys win.
            data.key_marks[key] = _mark(self.source_path, key_node)
            data.value_marks[key] = _mark(self.source_path, value_node)

    def construct_marked_list(self, node: yaml.SequenceNode) -> Any:
        data = MarkedList()
        data.mark = _mark(self.source_path, node)
        data.item_marks = []
        yield data
        for item in node.value:
            data.append(self.construct_object(item, deep=True))
            data.item_marks.append(_mark(self.source_path, item))


_Loader.add_constructor("tag:yaml.org,2002:map", _Loader.construct_marked_map)
_Loader.add_constructor("tag:yaml.org,2002:seq", _Loader.construct_marked_list)


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


class UnexpectedDocument(YamlSyntaxError):
    """The file is YAML, but not a mapping with any of the keys expected."""


class OverLimit(YamlSyntaxError):
    """The document is beyond the limits of :mod:`opsflow.safeyaml`."""


def load(text: str, path: str, top_keys: Collection[str] = ()) -> Any:
    """The document in ``text`` (read from ``path``), with marks.

    With ``top_keys``, a document that is not a mapping holding at least one
    of them is refused before any of it is built, by an error that quotes
    none of it: the file may be anything (a symlink to ``/etc/shadow``).

    :raises UnexpectedDocument: not a mapping with one of ``top_keys``.
    :raises YamlSyntaxError: not YAML, several documents, a repeated key, or
        aliases that expand too far.
    """
    loader = _Loader(text)
    loader.source_path = path
    try:
        if not top_keys:
            return safeyaml.load(loader)
        node = loader.get_single_node()
        if node is None:
            return None  # an empty file, or comments only
        if not _has_top_key(node, top_keys):
            raise UnexpectedDocument(
                Mark(path, 1, 1), f"a mapping with {' or '.join(top_keys)}"
            )
        safeyaml.check_aliases(node)
        return loader.construct_document(node)
    except safeyaml.YamlLimitExceeded as exc:
        raise OverLimit(Mark(path, exc.line, exc.column), exc.problem) from exc
    except RecursionError as exc:
        raise OverLimit(Mark(path, 1, 1), "nested too deeply; refused") from exc
    except YamlSyntaxError:
        raise
    except yaml.MarkedYAMLError as exc:
        where = exc.problem_mark or exc.context_mark
        mark = (
            Mark(path, where.line + 1, where.column + 1)
            if where is not None
            else Mark(path, 1, 1)
        )
        problem = (
            " ".join(part for part in (exc.context, exc.problem) if part)
            or "not valid YAML"
        )
        raise YamlSyntaxError(mark, problem) from exc
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(Mark(path, 1, 1), str(exc)) from exc
    finally:
        loader.dispose()


def _has_top_key(node: yaml.Node | None, keys: Collection[str]) -> bool:
    if not isinstance(node, yaml.MappingNode):
        return False
    return any(
        isinstance(key, yaml.ScalarNode) and key.value in keys for key, _ in node.value
    )


def mark_of(document: Any, where: Sequence[Any]) -> Mark | None:
    """The mark of the value at ``where`` (keys and indexes) in ``document``.

    Falls back to the closest enclosing value that has a mark.
    """
    found: Mark | None = getattr(document, "mark", None)
    node = document
    for step in where:
        if isinstance(node, MarkedMap) and step in node:
            found = node.value_marks.get(step, found)
            node = node[step]
        elif (
            isinstance(node, MarkedList)
            and isinstance(step, int)
            and (0 <= step < len(node))
        ):
            found = node.item_marks[step]
            node = node[step]
        else:
            break
    return found


def key_mark_of(document: Any, where: Sequence[Any]) -> Mark | None:
    """The mark of the last key of ``where`` (the key itself, not its value)."""
    if not where:
        return getattr(document, "mark", None)
    parent = document
    for step in where[:-1]:
        try:
            parent = parent[step]
        except (KeyError, IndexError, TypeError):
            return mark_of(document, where)
    if isinstance(parent, MarkedMap):
        return parent.key_marks.get(where[-1]) or mark_of(document, where)
    return mark_of(document, where)
