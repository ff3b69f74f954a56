"""Pictures of a flow or a run: DOT, SVG, PNG, Mermaid and a text tree.

:func:`picture_of` turns a compiled flow (and, for a run, each step's state
and the order its steps were reverted in) into a :class:`Picture`; one
function per format renders it. Every format shows the same things: steps
numbered in run order, nested flows as groups, retry controllers with their
policy, graph-flow conditions on their links, and for a run each step's
state (as a colour where the format has colours) and the revert path.

For a run, the step whose failure started the revert is marked "failed
here"; in a FAILURE run, a step still applied because a revert after it
failed is drawn as "needs a person" (never as a green success), and the
revert path joins only the steps that were reverted, so no undo arrow
points into a step whose revert failed. Flows whose longest chain of steps
is longer than :data:`LONG_CHAIN` are drawn top to bottom, not in one wide
strip. SVG and PNG are drawn by Graphviz's ``dot`` program (Debian package
``graphviz``), which opsflow does not need for anything else.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from opsflow.exceptions import ServiceUnavailable
from opsflow.states import (
    FAILURE,
    IGNORE,
    PENDING,
    RETRYING,
    REVERT_FAILURE,
    REVERTED,
    REVERTING,
    RUNNING,
    SUCCESS,
)
from opsflow.views.plan import describe_decider, describe_retry

__all__ = [
    "EXTENSIONS",
    "FORMATS",
    "DotMissing",
    "Picture",
    "format_for",
    "picture_of",
    "render",
    "to_dot",
    "to_mermaid",
    "to_text",
    "write",
]

#: Formats by name, and the file extensions that pick them.
FORMATS = ("dot", "svg", "png", "mermaid", "text")
EXTENSIONS = {
    ".dot": "dot",
    ".gv": "dot",
    ".svg": "svg",
    ".png": "png",
    ".mmd": "mermaid",
    ".mermaid": "mermaid",
    ".md": "mermaid",
    ".txt": "text",
}

#: Fill colours of the states (Material palette: green ok, amber undone,
#: red needs a person, grey skipped, blue busy).
STATE_COLOURS: dict[str, str] = {
    PENDING: "#ffffff",
    RUNNING: "#bbdefb",
    SUCCESS: "#c8e6c9",
    FAILURE: "#ffcdd2",
    REVERTING: "#ffe0b2",
    REVERTED: "#fff59d",
    REVERT_FAILURE: "#e57373",
    IGNORE: "#e0e0e0",
    RETRYING: "#d1c4e9",
}
REVERT_COLOUR = "#c62828"
#: Fill of a step left applied in a FAILURE run (it needs a person).
NEEDS_PERSON_COLOUR = "#ffab91"
NEEDS_PERSON = "needs a person"
#: Longest chain of steps still drawn left to right.
LONG_CHAIN = 8
#: States of a FAILURE run's steps whose changes are still in place.
_LEFT_APPLIED = (SUCCESS, FAILURE, REVERTING)


class DotMissing(ServiceUnavailable):
    """Graphviz's ``dot`` program is needed for SVG and PNG and is not found."""


@dataclass(frozen=True)
class Step:
    name: str
    index: int
    kind: str  # "task" or "retry"
    groups: tuple[str, ...]  # enclosing group ids, outermost first
    note: str = ""  # a retry's policy
    state: str | None = None
    duration: float | None = None
    attempts: int | None = None
    #: Its failure started the revert.
    failed_here: bool = False
    #: Left applied in a FAILURE run: a person must undo (or check) it.
    needs_person: bool = False


@dataclass(frozen=True)
class Link:
    source: str
    target: str
    condition: str | None = None


@dataclass
class Picture:
    """What every format draws."""

    title: str
    steps: list[Step]
    links: list[Link]
    #: group id -> (label, parent group id or None)
    groups: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    #: For a run: the steps in the order they were reverted.
    revert_path: list[str] = field(default_factory=list)
    run_id: str | None = None
    state: str | None = None
    #: Something the reader must know about the picture (links missing...).
    note: str = ""

    @property
    def direction(self) -> str:
        """``LR`` (left to right), or ``TB`` for a chain longer than
        :data:`LONG_CHAIN` steps."""
        return "TB" if _longest_chain(self) > LONG_CHAIN else "LR"


def _longest_chain(picture: Picture) -> int:
    successors: dict[str, list[str]] = {}
    for link in picture.links:
        successors.setdefault(link.source, []).append(link.target)
    longest: dict[str, int] = {}
    for step in reversed(picture.steps):  # run order is a topological order
        after = [longest.get(name, 1) for name in successors.get(step.name, ())]
        longest[step.name] = 1 + max(after, default=0)
    return max(longest.values(), default=0)


def picture_of(
    title: str,
    compilation: Any,
    states: Mapping[str, str] | None = None,
    durations: Mapping[str, float] | None = None,
    attempts: Mapping[str, int] | None = None,
    revert_path: Sequence[str] = (),
    run_id: str | None = None,
    run_state: str | None = None,
    failed: Sequence[str] = (),
    note: str = "",
) -> Picture:
    """The picture of a compiled flow; with ``states``, of one run of it.

    ``revert_path`` is the steps in the order their reverts ended (those
    whose revert failed are left out of the path); ``failed`` the steps
    whose failure started the revert.
    """
    left_applied = run_state == FAILURE
    groups: dict[str, tuple[str, str | None]] = {}
    group_ids: dict[int, str] = {}
    steps = []
    for index, name in enumerate(compilation.order, start=1):
        node = compilation.nodes[name]
        chain: list[str] = []
        for scope, _position in node.path[1:]:
            if id(scope) not in group_ids:
                group_id = f"g{len(group_ids) + 1}"
                group_ids[id(scope)] = group_id
                groups[group_id] = (_group_label(scope), chain[-1] if chain else None)
            chain.append(group_ids[id(scope)])
        state = None if states is None else states.get(name, PENDING)
        steps.append(
            Step(
                name=name,
                index=index,
                kind="retry" if node.is_retry else "task",
                groups=tuple(chain),
                note=describe_retry(node.atom) if node.is_retry else "",
                state=state,
                duration=None if durations is None else durations.get(name),
                attempts=None if attempts is None else attempts.get(name),
                failed_here=name in failed,
                needs_person=left_applied and state in _LEFT_APPLIED,
            )
        )
    links = []
    for name in compilation.order:
        node = compilation.nodes[name]
        for successor in node.successors:
            condition = None
            for decider in successor.deciders:
                if node in decider.sources and successor in decider.targets:
                    condition = describe_decider(decider.function)
            links.append(Link(name, successor.name, condition))
    reverted = [n for n in revert_path if states is None or states.get(n) == REVERTED]
    return Picture(
        title=title,
        steps=steps,
        links=links,
        groups=groups,
        revert_path=reverted,
        run_id=run_id,
        state=run_state,
        note=note,
    )


def _group_label(scope: Any) -> str:
    label = f"{scope.flow.name} ({scope.kind})"
    controller = getattr(scope.flow, "retry", None)
    if controller is not None:
        label += f", retried by {controller.name}: {describe_retry(controller)}"
    return label


def _step_lines(step: Step) -> list[str]:
    lines = [f"{step.index}. {step.name}"]
    if step.kind == "retry":
        lines.append(f"retry: {step.note}")
    if step.state is not None:
        facts = [f"{NEEDS_PERSON} ({step.state})" if step.needs_person else step.state]
        if step.failed_here:
            facts.append("failed here")
        if step.duration:
            facts.append(f"{step.duration:.2f}s")
        if step.attempts and step.attempts > 1:
            facts.append(f"{step.attempts} attempts")
        lines.append(" ".join(facts))
    return lines


def _title(picture: Picture) -> str:
    if picture.run_id:
        return f"run {picture.run_id} of {picture.title}: {picture.state}"
    return f"flow {picture.title}"


def _fill(step: Step) -> str:
    if step.needs_person:
        return NEEDS_PERSON_COLOUR
    return STATE_COLOURS.get(step.state or PENDING, "#ffffff")


# -- DOT ------------------------------------------------------------------
def _dq(text: str) -> str:
    return '"' + _escape(text) + '"'


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _dq_lines(lines: Sequence[str]) -> str:
    """A quoted DOT label of several lines (Graphviz's ``\\n`` breaks)."""
    return '"' + "\\n".join(_escape(line) for line in lines) + '"'


def _nesting(
    picture: Picture,
) -> tuple[dict[str | None, list[str]], dict[str | None, list[Step]]]:
    """(subgroups of each group, steps directly in each group); None is the top."""
    children: dict[str | None, list[str]] = {}
    for group_id, (_label, parent) in picture.groups.items():
        children.setdefault(parent, []).append(group_id)
    members: dict[str | None, list[Step]] = {}
    for step in picture.steps:
        members.setdefault(step.groups[-1] if step.groups else None, []).append(step)
    return children, members


def to_dot(picture: Picture) -> str:
    """Graphviz DOT: groups as clusters, conditions dashed, reverts in red."""
    title = [_title(picture), *([picture.note] if picture.note else [])]
    out = [
        f"digraph {_dq(picture.title)} {{",
        f"  rankdir={picture.direction};",
        f"  label={_dq_lines(title)}; labelloc=t; fontname=Helvetica;",
        '  node [fontname=Helvetica, style="rounded,filled", fillcolor="#ffffff"];',
        "  edge [fontname=Helvetica, fontsize=10];",
    ]
    children, members = _nesting(picture)

    def emit(group: str | None, indent: str) -> None:
        for step in members.get(group, []):
            shape = "hexagon" if step.kind == "retry" else "box"
            attrs = [
                f"label={_dq_lines(_step_lines(step))}",
                f"shape={shape}",
            ]
            if step.state is not None:
                attrs.append(f"fillcolor={_dq(_fill(step))}")
                if step.failed_here or step.state == REVERT_FAILURE:
                    attrs.append(f"color={_dq(REVERT_COLOUR)}, penwidth=2")
                elif step.needs_person:
                    attrs.append(
                        f'color={_dq(REVERT_COLOUR)}, style="rounded,filled,dashed"'
                    )
            out.append(f"{indent}{_dq(step.name)} [{', '.join(attrs)}];")
        for child in children.get(group, []):
            label = picture.groups[child][0]
            out.append(f"{indent}subgraph {_dq('cluster_' + child)} {{")
            out.append(f"{indent}  label={_dq(label)}; style=dashed; color=grey40;")
            emit(child, indent + "  ")
            out.append(f"{indent}}}")

    emit(None, "  ")
    for link in picture.links:
        attrs = ""
        if link.condition:
            attrs = f" [style=dashed, label={_dq('if ' + link.condition)}]"
        out.append(f"  {_dq(link.source)} -> {_dq(link.target)}{attrs};")
    for number, (done, then) in enumerate(
        zip(picture.revert_path, picture.revert_path[1:], strict=False), start=1
    ):
        out.append(
            f"  {_dq(done)} -> {_dq(then)} [color={_dq(REVERT_COLOUR)}, "
            f"fontcolor={_dq(REVERT_COLOUR)}, style=bold, constraint=false, "
            f"label={_dq(f'undo {number}')}];"
        )
    out.append("}")
    return "\n".join(out) + "\n"


# -- Mermaid ----------------------------------------------------------------
def _mq(text: str) -> str:
    return '"' + text.replace('"', "#quot;") + '"'


def to_mermaid(picture: Picture) -> str:
    """A Mermaid flowchart (GitHub and GitLab render it in Markdown)."""
    ids = {step.name: f"s{step.index}" for step in picture.steps}
    out = [f"%% {_title(picture)}", f"flowchart {picture.direction}"]
    if picture.note:
        out.append(f"  note0>{_mq(picture.note)}]")
    children, members = _nesting(picture)

    def emit(group: str | None, indent: str) -> None:
        for step in members.get(group, []):
            label = _mq("<br/>".join(_step_lines(step)))
            shape = "{{%s}}" if step.kind == "retry" else "[%s]"
            out.append(f"{indent}{ids[step.name]}{shape % label}")
        for child in children.get(group, []):
            out.append(f"{indent}subgraph {child}[{_mq(picture.groups[child][0])}]")
            emit(child, indent + "  ")
            out.append(f"{indent}end")

    emit(None, "  ")
    count = 0
    for link in picture.links:
        source, target = ids[link.source], ids[link.target]
        if link.condition:
            out.append(f"  {source} -. {_mq('if ' + link.condition)} .-> {target}")
        else:
            out.append(f"  {source} --> {target}")
        count += 1
    reverts = []
    for number, (done, then) in enumerate(
        zip(picture.revert_path, picture.revert_path[1:], strict=False), start=1
    ):
        out.append(f"  {ids[done]} == {_mq(f'undo {number}')} ==> {ids[then]}")
        reverts.append(str(count))
        count += 1
    if reverts:
        out.append(f"  linkStyle {','.join(reverts)} stroke:{REVERT_COLOUR}")
    classes: dict[str, list[str]] = {}
    fills: dict[str, str] = {}
    for step in picture.steps:
        if step.state:
            name = "NEEDS_PERSON" if step.needs_person else step.state
            classes.setdefault(name, []).append(ids[step.name])
            fills[name] = _fill(step)
    for name in sorted(classes):
        out.append(f"  classDef {name} fill:{fills[name]},stroke:#424242")
        out.append(f"  class {','.join(classes[name])} {name}")
    failed = [ids[s.name] for s in picture.steps if s.failed_here]
    if failed:
        out.append(f"  classDef failedHere stroke:{REVERT_COLOUR},stroke-width:3px")
        out.append(f"  class {','.join(failed)} failedHere")
    return "\n".join(out) + "\n"


# -- text tree -------------------------------------------------------------
def to_text(picture: Picture) -> str:
    """An indented tree for a terminal, steps numbered in run order."""
    children, _members = _nesting(picture)
    first_index: dict[str, int] = {}
    for step in picture.steps:
        for group in step.groups:
            first_index.setdefault(group, step.index)
    conditions: dict[str, list[str]] = {}
    after: dict[str, list[str]] = {}
    for link in picture.links:
        after.setdefault(link.target, []).append(link.source)
        if link.condition:
            conditions.setdefault(link.target, []).append(
                f"if {link.condition} (after {link.source})"
            )
    lines = [_title(picture), *([picture.note] if picture.note else [])]

    def entries(group: str | None) -> list[tuple[int, str, Any]]:
        items: list[tuple[int, str, Any]] = [
            (s.index, "step", s)
            for s in picture.steps
            if (s.groups[-1] if s.groups else None) == group
        ]
        items += [(first_index.get(c, 0), "group", c) for c in children.get(group, [])]
        return sorted(items, key=lambda item: (item[0], item[1] == "step"))

    def emit(group: str | None, prefix: str) -> None:
        items = entries(group)
        for position, (_index, kind, item) in enumerate(items):
            last = position == len(items) - 1
            branch, carry = ("└─ ", "   ") if last else ("├─ ", "│  ")
            if kind == "group":
                lines.append(f"{prefix}{branch}{picture.groups[item][0]}")
                emit(item, prefix + carry)
                continue
            text = "  ".join(_step_lines(item))
            for condition in conditions.get(item.name, []):
                text += f"  [{condition}]"
            lines.append(f"{prefix}{branch}{text}")

    emit(None, "")
    if picture.revert_path:
        lines.append("reverted: " + " -> ".join(picture.revert_path))
    failed = [s.name for s in picture.steps if s.state == REVERT_FAILURE]
    if failed:
        lines.append("revert failed: " + ", ".join(failed))
    left = [s.name for s in picture.steps if s.needs_person]
    if left:
        lines.append(f"{NEEDS_PERSON}: " + ", ".join(left))
    return "\n".join(lines) + "\n"


# -- files ---------------------------------------------------------------------
def format_for(path: str, wanted: str | None = None) -> str:
    """The format to write ``path`` in: ``wanted``, else from its extension
    (DOT when the extension says nothing; a text tree for ``-``, stdout)."""
    if wanted:
        return wanted
    if path == "-":
        return "text"
    return EXTENSIONS.get(os.path.splitext(path)[1].lower(), "dot")


def render(picture: Picture, fmt: str) -> bytes:
    """The picture in ``fmt`` (one of :data:`FORMATS`)."""
    if fmt == "dot":
        return to_dot(picture).encode()
    if fmt == "mermaid":
        return to_mermaid(picture).encode()
    if fmt == "text":
        return to_text(picture).encode()
    if fmt in ("svg", "png"):
        return _graphviz(to_dot(picture), fmt)
    raise ValueError(f"unknown picture format {fmt!r}; known: {', '.join(FORMATS)}")


def write(path: str, picture: Picture, fmt: str) -> None:
    """Write the picture to ``path`` (``-``: stdout); OSError if it cannot."""
    data = render(picture, fmt)
    if path == "-":
        import sys

        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    with open(path, "wb") as handle:
        handle.write(data)


def _graphviz(dot_text: str, fmt: str) -> bytes:
    program = shutil.which("dot")
    if program is None:
        raise DotMissing(
            f"{fmt.upper()} pictures are drawn by Graphviz's dot program, which "
            "is not installed (Debian/Ubuntu: apt-get install graphviz; "
            "Fedora: dnf install graphviz); .dot, .mmd and .txt need nothing"
        )
    with tempfile.TemporaryDirectory() as scratch:
        source = os.path.join(scratch, "flow.dot")
        with open(source, "w", encoding="utf-8") as handle:
            handle.write(dot_text)
        done = subprocess.run(
            [program, f"-T{fmt}", source],
            capture_output=True,
            timeout=120,
            check=False,
        )
    if done.returncode != 0:
        raise DotMissing(
            f"dot could not draw the picture: {done.stderr.decode(errors='replace')}"
        )
    return done.stdout
