"""Compiler: a tree of patterns becomes one flat execution graph, once.

Every atom becomes a :class:`Node` that knows its predecessors and
successors, the retry controller whose subflow it belongs to, the deciders
guarding it, and, for each value it needs, the providers it may read from,
nearest first. Nothing after compilation walks the pattern tree again.

Scoping follows the patterns: an atom sees the results of atoms that run
before it in a linear flow, of the items it depends on in a graph flow, and
of the retry controllers enclosing it; unordered siblings never see each
other's results.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from opsflow import exceptions, flow, retry
from opsflow.atom import Atom
from opsflow.deciders import Depth
from opsflow.patterns import graph_flow, linear_flow
from opsflow.types.empty import EMPTY_MAPPING

__all__ = ["Compilation", "Compiler", "Decider", "Node", "Scope"]


@dataclasses.dataclass(eq=False)
class Scope:
    """One flow of the pattern tree, as the compiler saw it."""

    flow: flow.Flow
    kind: str  # "linear", "unordered" or "graph"
    parent: Scope | None
    #: Where this flow sits: (scope, item position) from the root flow down
    #: to the item this flow is (empty for the root flow).
    path: tuple[tuple[Scope, int], ...] = ()
    #: For graph flows: item position -> positions of the items it depends on.
    item_preds: dict[int, list[int]] = dataclasses.field(default_factory=dict)
    #: Every node inside this flow (filled in as the compiler goes).
    nodes: list[Node] = dataclasses.field(default_factory=list)

    def item_is_before(self, before: int, after: int) -> bool:
        """Whether item ``before`` always finishes before item ``after`` starts."""
        if self.kind == "linear":
            return before < after
        if self.kind == "unordered":
            return False
        preds = self.item_preds.get(after, ())
        if before in preds:
            return True  # linked directly (a chain of provides/requires)
        stack, seen = [after], {after}
        while stack:
            for pred in self.item_preds.get(stack.pop(), ()):
                if pred == before:
                    return True
                if pred not in seen:
                    seen.add(pred)
                    stack.append(pred)
        return False


@dataclasses.dataclass(eq=False)
class Decider:
    """A graph-flow link's decider, checked when its target becomes ready."""

    function: Any
    depth: Depth
    #: Every atom of the link's source item (what the views draw the link from).
    sources: list[Node]
    #: The source atom whose result is the decider's history (none when the
    #: source is a subflow, as in TaskFlow: the history is then empty). An
    #: ignored source atom leaves the decider unasked (it has no result to
    #: judge); a subflow source is always asked, even when all its atoms
    #: were ignored.
    history_from: list[Node]
    #: Where the link enters its target: ignored first when the decider says
    #: no; the depth is counted from here.
    targets: list[Node]
    #: The graph flow the link belongs to (bounds ``Depth.FLOW``).
    scope: Scope


@dataclasses.dataclass(eq=False, slots=True)
class Node:
    """One atom in the execution graph.

    A flow of 100,000 atoms has 100,000 nodes, so a node holds no container
    of its own it does not need: links are tuples once compiled (an empty
    one shared), and an atom that reads nothing shares one empty
    ``providers`` mapping.
    """

    atom: Atom
    name: str
    index: int
    is_retry: bool
    #: The flow this atom is an item of (for a retry controller: the flow it controls).
    scope: Scope
    #: The atom's position among the items of ``scope``; -1 for the scope's retry.
    position: int
    predecessors: list[Node] | tuple[Node, ...] = ()
    successors: list[Node] | tuple[Node, ...] = ()
    #: The retry controller this atom's failures are reported to.
    retry: Node | None = None
    #: For a retry controller: every atom of the subflow it controls.
    subflow: list[Node] | tuple[Node, ...] = ()
    #: Deciders of the graph-flow links into this atom (a shared empty tuple if none).
    deciders: list[Decider] | tuple[()] = ()
    #: value name -> nodes that provide it and are visible here, nearest first.
    providers: dict[str, tuple[Node, ...]] = dataclasses.field(
        default_factory=lambda: EMPTY_MAPPING
    )

    @property
    def path(self) -> tuple[tuple[Scope, int], ...]:
        """(scope, item position) from the root flow down to this atom."""
        return (*self.scope.path, (self.scope, self.position))

    def __repr__(self) -> str:
        return f"<Node {self.name}>"


@dataclasses.dataclass(frozen=True, eq=False)
class Compilation:
    """A compiled flow: its nodes, in the order the serial engine runs them."""

    flow: flow.Flow
    nodes: dict[str, Node]
    order: tuple[str, ...]
    #: Nodes with no predecessors: where a fresh run starts.
    roots: tuple[Node, ...]

    def __iter__(self) -> Iterator[Node]:
        # ``nodes`` holds them in ``order`` (the compiler adds them so).
        return iter(self.nodes.values())

    def __len__(self) -> int:
        return len(self.order)

    def visible_to(self, name: str) -> list[list[str]]:
        """The atoms whose results atom ``name`` may read, nearest first.

        One atom a level, in the shape of a storage scope walker (computed
        when asked; the engine's own lookups use ``Node.providers``).
        """
        return [[node.name] for node in _nearest_first(self.nodes[name], self)]

    @property
    def execution_graph(self) -> Any:
        """The atoms and their ordering as a :class:`opsflow.types.graph.DiGraph`.

        Built when asked (it needs networkx); the engine itself never uses it.
        """
        from opsflow.types import graph

        digraph = graph.DiGraph(name=self.flow.name)
        for node in self:
            digraph.add_node(node.atom, kind="retry" if node.is_retry else "task")
        for node in self:
            for successor in node.successors:
                digraph.add_edge(node.atom, successor.atom)
        return digraph.freeze()


def _kind_of(pattern: flow.Flow) -> str:
    if isinstance(pattern, linear_flow.Flow):
        return "linear"
    if isinstance(pattern, graph_flow.Flow):
        return "graph"
    return "unordered"


class Compiler:
    """Turns a flow (or a single atom) into a :class:`Compilation`."""

    def __init__(self, root: flow.Flow | Atom) -> None:
        self._root = root
        self._nodes: list[Node] = []
        self._by_name: dict[str, Node] = {}

    def compile(self) -> Compilation:
        """Compile once; raises ``Duplicate``/``CompilationFailure`` on bad input."""
        root = self._root
        pattern: flow.Flow
        if isinstance(root, retry.Retry):
            raise TypeError(
                f"A retry controller ({root}) cannot be run on its own: give it "
                "to a flow (Flow(name, retry=...))"
            )
        if isinstance(root, Atom):
            pattern = linear_flow.Flow(root.name or "flow").add(root)
        elif isinstance(root, flow.Flow):
            pattern = root
        else:
            raise TypeError(f"Unknown object '{root!r}' requested to compile")
        self._compile_flow(pattern, parent=None, path=(), retry_node=None)
        self._resolve_providers()
        for node in self._nodes:
            # Only nodes with many links hold a list (see _appended).
            if type(node.predecessors) is list:
                node.predecessors = tuple(node.predecessors)
            if type(node.successors) is list:
                node.successors = tuple(node.successors)
            if node.is_retry:
                node.subflow = tuple(node.subflow)
        return Compilation(
            flow=pattern,
            nodes=self._by_name,
            order=tuple(self._by_name),
            roots=tuple(node for node in self._nodes if not node.predecessors),
        )

    # -- flattening ----------------------------------------------------
    def _add_node(
        self, atom: Atom, scope: Scope, position: int, retry_node: Node | None
    ) -> Node:
        if not isinstance(atom, Atom):
            raise TypeError(f"Unknown item '{atom!r}' in flow: not an atom nor a flow")
        if atom.name is None:
            raise exceptions.CompilationFailure(f"Atom {atom!r} has no name")
        if atom.name in self._by_name:
            raise exceptions.Duplicate(
                f"Atoms with duplicate names found: ['{atom.name}']"
            )
        index = len(self._nodes)
        is_retry = isinstance(atom, retry.Retry)
        # Positional and with every default given: the generated __init__
        # then neither parses keywords nor calls the providers factory
        # (a node per atom: 100,000 of them in a large flow).
        node = Node(
            atom,
            atom.name,
            index,
            is_retry,
            scope,
            # The same int object when equal (items of a top-level linear
            # flow): 28 bytes a node less.
            index if position == index else position,
            (),
            (),
            retry_node,
            [] if is_retry else (),
            (),
            EMPTY_MAPPING,
        )
        self._nodes.append(node)
        self._by_name[node.name] = node
        enclosing: Scope | None = scope
        while enclosing is not None:
            enclosing.nodes.append(node)
            enclosing = enclosing.parent
        node_retry = retry_node
        while node_retry is not None:
            assert isinstance(node_retry.subflow, list)  # a controller's, never ()
            node_retry.subflow.append(node)
            node_retry = node_retry.retry
        return node

    def _compile_item(
        self,
        item: Any,
        scope: Scope,
        position: int,
        path: tuple[tuple[Scope, int], ...],
        retry_node: Node | None,
    ) -> tuple[Sequence[Node], Sequence[Node]]:
        """Compile one item of ``scope``; returns its (entry nodes, exit nodes)."""
        if isinstance(item, retry.Retry):
            raise TypeError(
                f"Retry controller {item} is an item of flow {scope.flow.name!r}: "
                "a retry controls a flow (Flow(name, retry=...)), it is not a task"
            )
        if isinstance(item, flow.Flow):
            return self._compile_flow(
                item, scope, (*path, (scope, position)), retry_node
            )
        node = (self._add_node(item, scope, position, retry_node),)
        return node, node

    def _compile_flow(
        self,
        pattern: flow.Flow,
        parent: Scope | None,
        path: tuple[tuple[Scope, int], ...],
        retry_node: Node | None,
    ) -> tuple[Sequence[Node], Sequence[Node]]:
        scope = Scope(flow=pattern, kind=_kind_of(pattern), parent=parent, path=path)
        own_retry = None
        if pattern.retry is not None:
            own_retry = self._add_node(pattern.retry, scope, -1, retry_node)
            retry_node = own_retry
        items = list(pattern)
        compiled = [
            self._compile_item(item, scope, position, path, retry_node)
            for position, item in enumerate(items)
        ]
        entries, exits = self._wire(scope, pattern, items, compiled)
        if own_retry is not None:
            for entry in entries:
                _link(own_retry, entry)
            entries = [own_retry]
            exits = exits or [own_retry]
        return entries, exits

    def _wire(
        self,
        scope: Scope,
        pattern: flow.Flow,
        items: list[Any],
        compiled: list[tuple[Sequence[Node], Sequence[Node]]],
    ) -> tuple[Sequence[Node], Sequence[Node]]:
        if scope.kind == "linear":
            # Empty subflows are skipped so that their neighbours still meet.
            present = [(ins, outs) for ins, outs in compiled if ins]
            for (_, outs), (ins, _) in zip(present, present[1:], strict=False):
                for exit_node in outs:
                    for entry in ins:
                        _link(exit_node, entry)
            if not present:
                return [], []
            return present[0][0], present[-1][1]
        position_of = {id(item): position for position, item in enumerate(items)}
        has_pred: set[int] = set()
        has_succ: set[int] = set()
        item_preds = scope.item_preds
        for u, v, metadata in pattern.iter_links():
            pu, pv = position_of[id(u)], position_of[id(v)]
            item_preds.setdefault(pv, []).append(pu)
            has_pred.add(pv)
            has_succ.add(pu)
            u_exits = compiled[pu][1]
            v_entries = compiled[pv][0]
            for exit_node in u_exits:
                for entry in v_entries:
                    _link(exit_node, entry)
            decider = metadata.get(flow.LINK_DECIDER)
            if decider is not None:
                guard = Decider(
                    function=decider,
                    depth=metadata.get(flow.LINK_DECIDER_DEPTH, Depth.ALL),
                    sources=_item_nodes(scope, pu),
                    history_from=list(u_exits) if isinstance(u, Atom) else [],
                    targets=list(v_entries),
                    scope=scope,
                )
                for entry in v_entries:
                    entry.deciders = [*entry.deciders, guard]
        entries = [
            n for p, (ins, _) in enumerate(compiled) if p not in has_pred for n in ins
        ]
        exits = [
            n for p, (_, outs) in enumerate(compiled) if p not in has_succ for n in outs
        ]
        return entries, exits

    # -- scoping -------------------------------------------------------
    def _resolve_providers(self) -> None:
        providers_of: dict[str, list[Node]] = {}
        for node in self._nodes:
            provides = node.atom.provides
            if provides:  # most atoms provide nothing
                for name in provides:
                    providers_of.setdefault(name, []).append(node)
        for node in self._nodes:
            atom = node.atom
            rebind, revert_rebind = atom.rebind, atom.revert_rebind
            if not (rebind or revert_rebind):
                continue
            providers = node.providers = {}
            wanted = (
                rebind.values()
                # A revert mostly takes what the execute took.
                if not revert_rebind or revert_rebind == rebind
                else (*rebind.values(), *revert_rebind.values())
            )
            for name in wanted:
                if name in providers:
                    continue
                candidates = providers_of.get(name)
                if not candidates:
                    providers[name] = ()
                elif len(candidates) == 1:  # most names have one provider
                    provider = candidates[0]
                    visible = (
                        provider is not node and _nearness(provider, node) is not None
                    )
                    providers[name] = (provider,) if visible else ()
                else:
                    providers[name] = _nearest_first(node, candidates)


def _nearest_first(node: Node, candidates: Iterable[Node]) -> tuple[Node, ...]:
    """Those of ``candidates`` that ``node`` sees; of equally near ones, the
    last declared first."""
    visible = [
        (nearness, provider)
        for provider in candidates
        if provider is not node and (nearness := _nearness(provider, node)) is not None
    ]
    visible.sort(key=lambda pair: (pair[0], pair[1].index), reverse=True)
    return tuple(provider for _, provider in visible)


def _link(u: Node, v: Node) -> None:
    if v not in u.successors:
        u.successors = _appended(u.successors, v)
        v.predecessors = _appended(v.predecessors, u)


def _appended(
    links: list[Node] | tuple[Node, ...], node: Node
) -> list[Node] | tuple[Node, ...]:
    # Most nodes have a link or two: a tuple holds them in less memory than a
    # list, and building it never leaves a list behind. Past a few links a
    # list, since a tuple is copied to grow (compile() turns it into a tuple).
    if not links:
        return (node,)
    if isinstance(links, tuple):
        return links + (node,) if len(links) < 8 else [*links, node]
    links.append(node)
    return links


def _item_nodes(scope: Scope, position: int) -> list[Node]:
    """Every node of the item at ``position`` of ``scope``."""
    return [node for node in scope.nodes if _position_in(node, scope) == position]


def _position_in(node: Node, scope: Scope) -> int | None:
    for path_scope, position in node.path:
        if path_scope is scope:
            return position
    return None


def _nearness(provider: Node, consumer: Node) -> tuple[int, int] | None:
    """How near ``provider`` is to ``consumer`` (larger is nearer), None if unseen."""
    scope = provider.scope
    if scope is consumer.scope:
        # Items of one flow (most providers): their paths differ only in the
        # last step, so the walk below comes down to these lines.
        p_pos, c_pos = provider.position, consumer.position
        if p_pos == c_pos or c_pos == -1:
            return None
        if p_pos == -1 or scope.item_is_before(p_pos, c_pos):
            return (len(scope.path), p_pos)
        return None
    for level, ((p_scope, p_pos), (c_scope, c_pos)) in enumerate(
        zip(provider.path, consumer.path, strict=False)
    ):
        if p_scope is not c_scope:
            return None
        if p_pos == c_pos:
            continue
        if p_pos == -1:  # the retry controller of a flow enclosing the consumer
            return (level, -1)
        if c_pos == -1:
            return None
        if p_scope.item_is_before(p_pos, c_pos):
            return (level, p_pos)
        return None
    return None
