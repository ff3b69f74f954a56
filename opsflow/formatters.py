"""Describe a failure together with what led to it, for logs.

:class:`FailureFormatter` turns an atom's ``Failure`` into the
``(exc_info, text)`` a logging listener logs: the text names the atom, its
state, intention, inputs and result, then the same for each atom it ran
after, as an indented tree. Inputs and outputs of chosen atoms can be
hidden, and values under chosen keys masked.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from opsflow import exceptions
from opsflow.types import tree
from opsflow.types.failure import ExcInfo, Failure

__all__ = ["FailureFormatter", "MASK"]

#: What a masked value is shown as.
MASK = "***"

#: Decides whether an atom is the one that failed.
AtomMatcher = Callable[[Any], bool]


def mask_keys(data: Any, keys: frozenset[str]) -> Any:
    """``data`` with the value under each of ``keys`` (at any depth) masked."""
    if not keys:
        return data
    if isinstance(data, Mapping):
        return {k: MASK if k in keys else mask_keys(v, keys) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return type(data)(mask_keys(item, keys) for item in data)
    return data


class FailureFormatter:
    """Formats a failure with the atoms that ran before the one that failed."""

    def __init__(
        self,
        engine: Any,
        hide_inputs_outputs_of: Iterable[str] = (),
        mask_inputs_keys: Iterable[str] = (),
        mask_outputs_keys: Iterable[str] = (),
    ) -> None:
        self._engine = engine
        self._hidden = frozenset(hide_inputs_outputs_of)
        self._mask_inputs = frozenset(mask_inputs_keys)
        self._mask_outputs = frozenset(mask_outputs_keys)

    def _describe(self, atom: Any) -> str:
        storage = self._engine.storage
        name = atom.name
        attributes: dict[str, Any] = {}
        for key, read in (
            ("intention", storage.get_atom_intention),
            ("state", storage.get_atom_state),
        ):
            try:
                attributes[key] = str(read(name))
            except exceptions.NotFound:
                pass
        if name not in self._hidden:
            try:
                requires = storage.fetch_mapped_args(
                    atom.rebind, atom_name=name, optional_args=atom.optional_mapping
                )
                attributes["requires"] = mask_keys(requires, self._mask_inputs)
            except exceptions.NotFound:
                pass
            try:
                provides = storage.get_execute_result(name)
            except exceptions.NotFound:
                pass
            else:
                if not isinstance(provides, Failure):
                    attributes["provides"] = mask_keys(provides, self._mask_outputs)
        return f"Atom '{name}' {attributes}" if attributes else f"Atom '{name}'"

    def _predecessor_tree(self, node: Any) -> tree.Node:
        root = tree.Node(node)
        stack = [root]
        seen = {node.index}
        while stack:
            parent = stack.pop()
            for pred in parent.item.predecessors:
                if pred.index not in seen:
                    seen.add(pred.index)
                    child = tree.Node(pred)
                    parent.add(child)
                    stack.append(child)
        return root

    def format(
        self, fail: Failure, atom_matcher: AtomMatcher
    ) -> tuple[ExcInfo | None, str]:
        """``(exc_info, details)`` for ``fail`` of the atom ``atom_matcher`` picks.

        ``exc_info`` is the live exception (None once it crossed a process
        or was read back from storage); ``details`` then carries the
        traceback text instead.
        """
        exc_info = fail.exc_info
        text = fail.pformat(traceback=exc_info is None)
        compilation = self._engine.compilation
        node = next((n for n in compilation if atom_matcher(n.atom)), None)
        if node is None:
            return exc_info, text
        described = self._predecessor_tree(node).pformat(
            stringify_node=lambda each: self._describe(each.item.atom)
        )
        return (
            exc_info,
            f"{text}\nRaised by (with the atoms it ran after):\n{described}",
        )
