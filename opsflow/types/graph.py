"""Graph types TaskFlow programs use (networkx graphs with a few helpers).

Needs the ``networkx`` package (``pip install 'opsflow[taskflow]'``; every
TaskFlow installation already has it). opsflow's engine does not use these:
its compiler keeps its own flat node list, and
:attr:`Compilation.execution_graph
<opsflow.engines.compiler.Compilation.execution_graph>` builds a
:class:`DiGraph` only when asked.
"""

from __future__ import annotations

import collections
import os
from collections.abc import Callable, Iterator
from typing import Any

try:
    import networkx as nx
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "opsflow.types.graph needs networkx: pip install 'opsflow[taskflow]'"
    ) from exc

__all__ = ["DiGraph", "Graph", "OrderedDiGraph", "OrderedGraph", "merge_graphs"]


def _describe(graph: nx.Graph, arrow: str) -> list[str]:
    lines = [
        f"Name: {graph.name}",
        f"Type: {type(graph).__name__}",
        f"Frozen: {nx.is_frozen(graph)}",
        f"Density: {nx.density(graph):0.3f}",
        f"Nodes: {graph.number_of_nodes()}",
    ]
    for node, data in graph.nodes(data=True):
        lines.append(f"  - {node} ({data})" if data else f"  - {node}")
    lines.append(f"Edges: {graph.number_of_edges()}")
    for u, v, data in graph.edges(data=True):
        lines.append(f"  {u} {arrow} {v} ({data})" if data else f"  {u} {arrow} {v}")
    return lines


def _to_dot(graph: nx.Graph) -> str:
    from networkx.drawing import nx_pydot  # needs pydot

    return str(nx_pydot.to_pydot(graph).to_string())


class _Helpers:
    """What both graph kinds add to networkx's."""

    frozen: bool

    def freeze(self: Any) -> Any:
        """Make the graph read-only; returns it."""
        if not self.frozen:
            nx.freeze(self)
        return self

    def export_to_dot(self: Any) -> str:
        """The graph in Graphviz's DOT language (needs ``pydot``)."""
        return _to_dot(self)

    def add_edge(
        self: Any, u: Any, v: Any, attr_dict: dict[str, Any] | None = None, **attr: Any
    ) -> None:
        """Add an edge; attributes as a dict (``attr_dict``) or keywords."""
        super().add_edge(u, v, **(attr_dict if attr_dict is not None else attr))  # type: ignore[misc]

    def add_node(
        self: Any, n: Any, attr_dict: dict[str, Any] | None = None, **attr: Any
    ) -> None:
        """Add a node; attributes as a dict (``attr_dict``) or keywords."""
        super().add_node(n, **(attr_dict if attr_dict is not None else attr))  # type: ignore[misc]


class Graph(_Helpers, nx.Graph):
    """An undirected graph."""

    def __init__(self, incoming_graph_data: Any = None, name: str = "") -> None:
        super().__init__(incoming_graph_data=incoming_graph_data, name=name)
        self.frozen = False

    def pformat(self) -> str:
        """Name, type, density, nodes and edges, one a line."""
        return os.linesep.join(_describe(self, "<->"))

    def fresh_copy(self) -> Graph:
        """An empty graph of the same kind."""
        return type(self)()


class DiGraph(_Helpers, nx.DiGraph):
    """A directed graph."""

    def __init__(self, incoming_graph_data: Any = None, name: str = "") -> None:
        super().__init__(incoming_graph_data=incoming_graph_data, name=name)
        self.frozen = False

    def get_edge_data(self, u: Any, v: Any, default: Any = None) -> Any:
        """A copy of the attributes of edge ``u -> v`` (``default`` if none)."""
        try:
            return dict(self.adj[u][v])
        except KeyError:
            return default

    def topological_sort(self) -> Iterator[Any]:
        """The nodes, each after every node with an edge into it."""
        return iter(nx.topological_sort(self))

    def pformat(self) -> str:
        """Name, type, density, nodes, edges and cycles, one a line."""
        lines = _describe(self, "->")
        cycles = list(nx.recursive_simple_cycles(self))
        lines.append(f"Cycles: {len(cycles)}")
        for cycle in cycles:
            lines.append("  " + " --> ".join(str(n) for n in [*cycle, cycle[0]]))
        return os.linesep.join(lines)

    def is_directed_acyclic(self) -> bool:
        """Whether the graph has no cycle."""
        return bool(nx.is_directed_acyclic_graph(self))

    def no_successors_iter(self) -> Iterator[Any]:
        """Nodes with no edge out."""
        return (n for n in self.nodes if self.out_degree(n) == 0)

    def no_predecessors_iter(self) -> Iterator[Any]:
        """Nodes with no edge in."""
        return (n for n in self.nodes if self.in_degree(n) == 0)

    def bfs_predecessors_iter(self, n: Any) -> Iterator[Any]:
        """Every node with a path to ``n``, nearest first, each once."""
        seen = {n}
        queue = collections.deque(self.predecessors(n))
        while queue:
            pred = queue.popleft()
            if pred in seen:
                continue
            seen.add(pred)
            yield pred
            queue.extend(p for p in self.predecessors(pred) if p not in seen)

    def fresh_copy(self) -> DiGraph:
        """An empty graph of the same kind."""
        return type(self)()


class OrderedDiGraph(DiGraph):
    """A directed graph whose nodes and edges iterate in insertion order.

    networkx's dicts keep insertion order already; the class exists so that
    TaskFlow programs naming it keep working.
    """


class OrderedGraph(Graph):
    """An undirected graph whose nodes and edges iterate in insertion order."""


def merge_graphs(
    graph: nx.Graph,
    *graphs: nx.Graph,
    allow_overlaps: bool = False,
    overlap_detector: Callable[[nx.Graph, nx.Graph], int] | None = None,
) -> nx.Graph:
    """``graph`` with every node and edge of ``graphs`` added (a new graph).

    Unless ``allow_overlaps``, a graph sharing nodes with what was merged
    so far raises ``ValueError`` (``overlap_detector`` counts shared nodes).
    """
    if overlap_detector is not None and not callable(overlap_detector):
        raise ValueError("Overlap detection callback expected to be callable")
    detect = overlap_detector or (lambda into, other: len(into.subgraph(other.nodes)))
    merged = graph
    for other in graphs:
        if not allow_overlaps:
            overlaps = detect(merged, other)
            if overlaps:
                raise ValueError(
                    f"Can not merge graph {other} into {merged} since there are "
                    f"{overlaps} overlapping nodes"
                )
        merged = nx.algorithms.compose(merged, other)
    return merged
