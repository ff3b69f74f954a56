"""``--dry-run`` and ``--graph``: what a run would do, without running it.

Both read the compiled flow (``engine.compilation``): the order the serial
engine runs the steps in, and each step's predecessors and successors. If a
step fails, it is reverted first, then every step that ran before it, in
reverse order (steps under a retry controller are first retried by it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["PlannedStep", "plan", "to_dot", "write_graph"]


@dataclass(frozen=True)
class PlannedStep:
    """One step of the plan and what a failure there would undo."""

    name: str
    kind: str
    retry: str | None
    reverted_on_failure: tuple[str, ...]


def plan(compilation: Any) -> list[PlannedStep]:
    """The steps in execution order, each with its revert list."""
    order = list(compilation.order)
    steps = []
    for index, name in enumerate(order):
        node = compilation.nodes[name]
        retry = getattr(node, "retry", None)
        steps.append(
            PlannedStep(
                name=name,
                kind=_kind(node.atom),
                retry=None if retry is None else _name(retry),
                reverted_on_failure=tuple(reversed(order[: index + 1])),
            )
        )
    return steps


def _kind(atom: Any) -> str:
    from opsflow.retry import Retry

    return "retry" if isinstance(atom, Retry) else "task"


def to_dot(flow_name: str, compilation: Any) -> str:
    """The compiled graph in Graphviz DOT, steps numbered in run order."""
    lines = [f"digraph {_quote(flow_name)} {{", "  rankdir=LR;"]
    for index, name in enumerate(compilation.order, start=1):
        node = compilation.nodes[name]
        shape = "diamond" if _kind(node.atom) == "retry" else "box"
        label = _quote(f"{index}. {name}")
        lines.append(f"  {_quote(name)} [label={label}, shape={shape}];")
    for name in compilation.order:
        for successor in sorted(_name(s) for s in compilation.nodes[name].successors):
            lines.append(f"  {_quote(name)} -> {_quote(successor)};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def write_graph(path: str, flow_name: str, compilation: Any) -> None:
    """Write :func:`to_dot` to ``path``; a path that cannot be written is a
    usage error."""
    from opsflow.cli.exits import UsageError

    try:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(to_dot(flow_name, compilation))
    except OSError as exc:
        raise UsageError(f"--graph {path}: {exc.strerror or exc}") from exc


def _name(node: Any) -> str:
    """A node's atom name (nodes link to nodes; plain names are accepted too)."""
    return node if isinstance(node, str) else node.name


def _quote(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'
