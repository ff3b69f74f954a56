"""An n-ary tree of items (``Node``), as TaskFlow programs build and walk it."""

from __future__ import annotations

import collections
import itertools
import os
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["FrozenNode", "Node"]


class FrozenNode(Exception):
    """A frozen node was asked to change."""

    def __init__(self) -> None:
        super().__init__("Frozen node(s) can't be modified")


class Node:
    """One node of a tree: an ``item``, its ``metadata``, a parent, children.

    A new child goes to the left of its siblings, so "right to left" means
    the oldest child first: the default of depth-first walks, while
    breadth-first walks go left to right by default. ``freeze()`` makes a
    node and everything under it read-only.
    """

    STARTING_PREFIX = ""
    EMPTY_SPACE_SEP = " "
    HORIZONTAL_CONN = "__"
    VERTICAL_CONN = "|"
    LINE_SEP = os.linesep

    def __init__(self, item: Any, **kwargs: Any) -> None:
        self.item = item
        self.parent: Node | None = None
        self.metadata = dict(kwargs)
        self.frozen = False
        self._children: list[Node] = []

    def _check_not_frozen(self) -> None:
        if self.frozen:
            raise FrozenNode()

    def freeze(self) -> None:
        """Make this node and its descendants read-only."""
        for node in self.dfs_iter(include_self=True):
            node.frozen = True

    def add(self, child: Node) -> None:
        """Append ``child`` (its parent becomes this node)."""
        self._check_not_frozen()
        child.parent = self
        self._children.append(child)

    def empty(self) -> bool:
        """Whether this is a leaf."""
        return not self._children

    def path_iter(self, include_self: bool = True) -> Iterator[Node]:
        """This node (or its parent) and each ancestor up to the root."""
        node = self if include_self else self.parent
        while node is not None:
            yield node
            node = node.parent

    def find_first_match(
        self,
        matcher: Callable[[Node], bool],
        only_direct: bool = False,
        include_self: bool = True,
    ) -> Node | None:
        """The first node ``matcher`` accepts, depth first right to left."""
        if only_direct:
            head = [self] if include_self else []
            nodes: Iterator[Node] = itertools.chain(head, self.reverse_iter())
        else:
            nodes = self.dfs_iter(include_self=include_self)
        return next((node for node in nodes if matcher(node)), None)

    def find(
        self, item: Any, only_direct: bool = False, include_self: bool = True
    ) -> Node | None:
        """The first node holding ``item`` (compared with ``==``)."""
        return self.find_first_match(
            lambda node: node.item == item,
            only_direct=only_direct,
            include_self=include_self,
        )

    def disassociate(self) -> int:
        """Detach from the parent; returns how many times it was its child."""
        self._check_not_frozen()
        parent, self.parent = self.parent, None
        if parent is None:
            return 0
        before = len(parent._children)
        parent._children = [child for child in parent._children if child is not self]
        return before - len(parent._children)

    def remove(
        self, item: Any, only_direct: bool = False, include_self: bool = True
    ) -> Node:
        """Detach and return the node holding ``item`` (``ValueError`` if none)."""
        self._check_not_frozen()
        node = self.find(item, only_direct=only_direct, include_self=include_self)
        if node is None:
            raise ValueError(f"Item '{item}' not found to remove")
        node.disassociate()
        return node

    def __contains__(self, item: Any) -> bool:
        return self.find(item) is not None

    def __getitem__(self, index: int) -> Node:
        return self._children[index]

    def __iter__(self) -> Iterator[Node]:
        """The direct children, first added first."""
        return iter(self._children)

    def reverse_iter(self) -> Iterator[Node]:
        """The direct children, last added first."""
        return reversed(self._children)

    def index(self, item: Any) -> int:
        """The position of the direct child holding ``item``."""
        for position, child in enumerate(self._children):
            if child.item == item:
                return position
        raise ValueError(f"{item} is not contained in any child")

    def child_count(self, only_direct: bool = True) -> int:
        """How many children (or, with ``only_direct=False``, descendants)."""
        if only_direct:
            return len(self._children)
        return sum(1 for _ in self.dfs_iter())

    def dfs_iter(
        self, include_self: bool = False, right_to_left: bool = True
    ) -> Iterator[Node]:
        """Depth-first walk; ``right_to_left`` visits the oldest child first."""
        stack = [self] if include_self else self._visit_order(right_to_left)[::-1]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(node._visit_order(right_to_left)[::-1])

    def bfs_iter(
        self, include_self: bool = False, right_to_left: bool = False
    ) -> Iterator[Node]:
        """Breadth-first walk; ``right_to_left`` visits the oldest child first."""
        queue = collections.deque(
            [self] if include_self else self._visit_order(right_to_left)
        )
        while queue:
            node = queue.popleft()
            yield node
            queue.extend(node._visit_order(right_to_left))

    def _visit_order(self, right_to_left: bool) -> list[Node]:
        # ``add`` puts a new child on the left, so the rightmost is the oldest.
        return list(self._children) if right_to_left else self._children[::-1]

    def pformat(
        self,
        stringify_node: Callable[[Node], str] | None = None,
        linesep: str = LINE_SEP,
        vertical_conn: str = VERTICAL_CONN,
        horizontal_conn: str = HORIZONTAL_CONN,
        empty_space: str = EMPTY_SPACE_SEP,
        starting_prefix: str = STARTING_PREFIX,
    ) -> str:
        """The tree as text, one node a line, children indented under parents."""
        show = stringify_node or (lambda node: str(node.item))
        lines = [starting_prefix + show(self)]

        def walk(node: Node, prefix: str) -> None:
            children = node._children
            for position, child in enumerate(children):
                last = position == len(children) - 1
                lines.append(prefix + vertical_conn + horizontal_conn + show(child))
                spacer = empty_space if last else vertical_conn
                walk(child, prefix + spacer + empty_space * len(horizontal_conn))

        walk(self, starting_prefix)
        return linesep.join(lines)

    def to_digraph(self) -> Any:
        """The tree as a :class:`opsflow.types.graph.DiGraph` (parent -> child)."""
        from opsflow.types import graph

        digraph = graph.DiGraph()
        for node in self.dfs_iter(include_self=True):
            digraph.add_node(node.item, **node.metadata)
            if node.parent is not None:
                digraph.add_edge(node.parent.item, node.item)
        return digraph
