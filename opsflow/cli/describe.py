"""``opsflow-run FLOW --help`` and ``--describe``: a flow's own help, printed.

The description itself is built by :mod:`opsflow.runs.describe`; this
module only lays it out, as text or as one JSON document.
"""

from __future__ import annotations

import json
import shutil
import textwrap
from typing import TextIO

from opsflow.runs.describe import FlowDescription, FlowInput, FlowStep

__all__ = ["print_description"]


def print_description(
    description: FlowDescription, out: TextIO, as_json: bool = False
) -> None:
    """Print ``description``: the help text, or (``as_json``) its JSON document."""
    if as_json:
        out.write(json.dumps(description.to_dict(), indent=2) + "\n")
        return
    width = min(shutil.get_terminal_size((100, 24)).columns, 100)
    name = description.name
    lines = [
        f"usage: opsflow-run {name} [--store KEY=VALUE ...] [--secret KEY=VALUE ...]",
        "       [--dry-run] [--fail-at STEP] [--format text|json]",
        "",
    ]
    if description.description:
        lines += [*textwrap.wrap(description.description, width), ""]
    lines += [f"from {description.origin}", ""]
    lines += _inputs(description.inputs, width)
    lines += _steps(description, width)
    lines += [
        "",
        f"opsflow-run {name} --dry-run shows the plan and what each failure undoes;",
        f"opsflow-run {name} --fail-at STEP rehearses the revert after STEP.",
    ]
    out.write("\n".join(lines) + "\n")


def _inputs(inputs: tuple[FlowInput, ...], width: int) -> list[str]:
    if not inputs:
        return ["inputs: none"]
    lines = ["inputs (--store KEY=VALUE; secrets with --secret KEY=VALUE):"]
    column = max(len(item.name) for item in inputs) + 2
    for item in inputs:
        about = "required" if item.required else f"default {_value(item.default)}"
        if item.secret:
            about += ", secret"
        text = about + (f"; {item.description}" if item.description else "")
        if item.used_by and item.declared_by == "steps":
            text += f" (read by {', '.join(item.used_by)})"
        lines += _wrapped(f"  {item.name:<{column}}", text, width)
    return lines


def _steps(description: FlowDescription, width: int) -> list[str]:
    if description.steps_need:
        need = ", ".join(description.steps_need)
        return ["", f"steps: decided by the factory once {need} given (--store)"]
    tasks = [step for step in description.steps if step.kind != "retry"]
    retries = [step for step in description.steps if step.kind == "retry"]
    lines = ["", "steps (in the order a serial run takes them):"]
    lines += _table(tasks, width, numbered=True)
    if retries:
        lines += [
            "",
            "retry controllers (they rerun a subflow; --fail-at takes a step):",
        ]
        lines += _table(retries, width, numbered=False)
    return lines


def _table(steps: list[FlowStep], width: int, numbered: bool) -> list[str]:
    column = max((len(step.name) for step in steps), default=0) + 2
    kinds = max((len(step.task) for step in steps), default=0) + 2
    lines = []
    for number, step in enumerate(steps, start=1):
        label = f"{number:>2}. " if numbered else ""
        head = f"  {label}{step.name:<{column}}{step.task:<{kinds}}"
        lines += _wrapped(head, step.description, width)
    return lines


def _wrapped(head: str, text: str, width: int) -> list[str]:
    if not text:
        return [head.rstrip()]
    room = max(width - len(head), 30)
    parts = textwrap.wrap(text, room) or [""]
    indent = " " * len(head)
    return [head + parts[0], *(indent + part for part in parts[1:])]


def _value(value: object) -> str:
    if value is None:
        return "none"
    return json.dumps(value) if not isinstance(value, str) else repr(value)
