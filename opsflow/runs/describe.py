"""What a flow is before it runs: its description, inputs and steps.

:func:`describe` is what ``opsflow-run FLOW --help`` (and ``--describe``)
prints and what a web view shows: nothing runs and nothing is written. The
inputs come from three places, merged by name:

* the factory's signature (a parameter without a default is required), its
  docstring's ``:param NAME:`` lines giving the descriptions;
* a YAML flow's ``inputs:`` (default, ``secret``, ``description``);
* the steps' own requirements: a value a step needs that no step provides
  is an input of the run's store (required unless every step that reads
  it has a default), described by the ``:param NAME:`` line of the task's
  ``execute`` docstring.

The steps are those of the flow built from the inputs given (defaults for
the rest); a factory that needs inputs to decide its steps gets them listed
as missing instead.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from opsflow import exceptions
from opsflow.plugins import flows
from opsflow.redaction import NO_SECRETS, Redactor

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

    from opsflow.atom import Atom
    from opsflow.flow import Flow
    from opsflow.runs.source import FlowSource

__all__ = [
    "FlowDescription",
    "FlowInput",
    "FlowStep",
    "describe",
    "first_sentence",
    "split_doc",
]

_PARAM = re.compile(r"^\s*:param\s+(?:[\w\[\], .|]+\s+)?(\w+)\s*:\s*(.*)$")
_FIELD = re.compile(r"^\s*:\w+")
#: A sentence ends at . ! or ? before a capital (or the end), unless the
#: word before the stop is an abbreviation (e.g., i.e., etc.).
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(`])")
_ABBREVIATIONS = ("e.g.", "i.e.", "etc.", "vs.", "cf.", "approx.", "incl.", "no.")


@dataclasses.dataclass(frozen=True)
class FlowInput:
    """One value a run of the flow takes from its store."""

    name: str
    required: bool
    #: The value used when it is not given (meaningful when not required).
    default: Any = None
    secret: bool = False
    description: str = ""
    #: ``factory`` (its signature), ``inputs`` (a YAML flow's declaration)
    #: or ``steps`` (only what a step needs says so).
    declared_by: str = "steps"
    #: The steps that read it.
    used_by: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        document = dataclasses.asdict(self)
        document["used_by"] = list(self.used_by)
        document["default"] = None if self.required else _jsonable(self.default)
        return document


@dataclasses.dataclass(frozen=True)
class FlowStep:
    """One atom of the flow, in the order the serial engine runs them."""

    name: str
    #: The ``opsflow.tasks`` plugin name of its class, else ``module:Class``.
    task: str
    #: ``task`` or ``retry`` (a retry controller).
    kind: str
    description: str = ""
    requires: tuple[str, ...] = ()
    provides: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        document = dataclasses.asdict(self)
        document["requires"] = list(self.requires)
        document["provides"] = list(self.provides)
        return document


@dataclasses.dataclass(frozen=True)
class FlowDescription:
    """A flow, described without running it."""

    name: str
    description: str
    #: Where it comes from: its entry point and distribution, or its file.
    origin: str
    inputs: tuple[FlowInput, ...]
    steps: tuple[FlowStep, ...]
    #: Inputs the factory needs before it can say what its steps are
    #: (then ``steps`` is empty).
    steps_need: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The description as one JSON-ready mapping."""
        return {
            "name": self.name,
            "description": self.description,
            "origin": self.origin,
            "inputs": [item.to_dict() for item in self.inputs],
            "steps": [step.to_dict() for step in self.steps],
            "steps_need": list(self.steps_need),
        }


def split_doc(doc: str | None) -> tuple[str, dict[str, str]]:
    """A docstring as (its text, ``{param: description}``), reST markup off.

    ``:param NAME: text`` lines (and their indented continuations) become
    descriptions; other field lines (``:raises:``, ``:returns:``) are dropped.
    """
    text: list[str] = []
    params: dict[str, str] = {}
    current: str | None = None
    for line in inspect.cleandoc(doc or "").splitlines():
        match = _PARAM.match(line)
        if match:
            current = match.group(1)
            params[current] = match.group(2).strip()
        elif _FIELD.match(line):
            current = ""
        elif current is not None and line.startswith((" ", "\t")) and line.strip():
            if current:
                params[current] = f"{params[current]} {line.strip()}".strip()
        else:
            current = None
            text.append(line)
    return _plain(" ".join(" ".join(text).split())), {
        name: _plain(value) for name, value in params.items()
    }


def first_sentence(doc: str | None) -> str:
    """The first sentence of a docstring, plain text, without its full stop.

    Abbreviations (``e.g.``, ``i.e.``, ``etc.``) do not end a sentence,
    and neither does a stop inside a word (``opsflow.retry``).
    """
    paragraph = inspect.cleandoc(doc or "").split("\n\n")[0]
    text, _params = split_doc(paragraph)
    for match in _SENTENCE_END.finditer(text):
        words = text[: match.start()].split()
        last = words[-1].casefold() if words else ""
        if not last.endswith(_ABBREVIATIONS):
            return text[: match.start()].rstrip(".")
    return text.rstrip(".")


def describe(
    source: FlowSource,
    task_entry_points: Iterable[EntryPoint],
    store: Mapping[str, Any],
    redactor: Redactor = NO_SECRETS,
) -> FlowDescription:
    """``source``'s flow described, built from ``store`` (which may be empty).

    The factory's errors reach the operator with ``redactor``'s secrets
    scrubbed, as when the flow is built for a run.

    :raises FlowFileError: a YAML flow's file is not valid.
    :raises FlowInputsRejected: the factory refused the inputs given (64).
    :raises FlowFactoryFailed: the factory raised, or made no flow (69).
    """
    factory = source.factory
    preview = getattr(factory, "preview", None)
    declared: list[FlowInput] = []
    steps_need: tuple[str, ...] = ()
    flow: Flow | None
    if callable(preview):  # a YAML flow: its file says what it takes
        flow_file, flow = preview()
        description = flow_file.description
        declared = [
            FlowInput(
                name=spec.name,
                required=not spec.has_default,
                default=spec.default,
                secret=spec.secret,
                description=spec.description,
                declared_by="inputs",
            )
            for spec in flow_file.inputs
        ]
    else:
        description, param_docs = split_doc(getattr(factory, "__doc__", None))
        declared = _factory_inputs(factory, param_docs, source.declared_secrets)
        try:
            flow = flows.build_flow(factory, source.name, store, redactor)
        except exceptions.MissingDependencies as exc:
            flow, steps_need = None, tuple(exc.missing_requirements)
    steps: list[FlowStep] = []
    needs: dict[str, FlowInput] = {}
    if flow is not None:
        names = _task_names(task_entry_points)
        atoms = _atoms_in_order(flow)
        steps = [_step(atom, names) for atom in atoms]
        needs = _step_inputs(atoms)
    return FlowDescription(
        name=source.name,
        description=description or source.description,
        origin=_origin(source),
        inputs=_merge(declared, needs),
        steps=tuple(steps),
        steps_need=steps_need,
    )


# -- inputs -------------------------------------------------------------------
def _factory_inputs(
    factory: Any, docs: Mapping[str, str], secrets: frozenset[str]
) -> list[FlowInput]:
    try:
        params = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):  # a builtin or C callable says nothing
        return []
    kinds = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return [
        FlowInput(
            name=param.name,
            required=param.default is param.empty,
            default=None if param.default is param.empty else param.default,
            secret=param.name in secrets,
            description=docs.get(param.name, ""),
            declared_by="factory",
        )
        for param in params
        if param.kind in kinds
    ]


def _step_inputs(atoms: list[Atom]) -> dict[str, FlowInput]:
    """What the steps need that no step provides, by store key."""
    provided = {name for atom in atoms for name in atom.provides}
    found: dict[str, FlowInput] = {}
    for atom in atoms:
        own = atom.inject or {}
        defaults = _defaults(atom)
        _text, docs = split_doc(getattr(atom.execute, "__doc__", None))
        for param, key in atom.rebind.items():
            if key in provided or param in own or key in own:
                continue
            optional = param in atom.optional_mapping
            seen = found.get(key)
            description = docs.get(param, "")
            if seen is None:
                found[key] = FlowInput(
                    name=key,
                    required=not optional,
                    default=defaults.get(param) if optional else None,
                    description=description,
                    used_by=(str(atom.name),),
                )
                continue
            found[key] = dataclasses.replace(
                seen,
                required=seen.required or not optional,
                default=defaults.get(param) if seen.default is None else seen.default,
                description=seen.description or description,
                used_by=(*seen.used_by, str(atom.name)),
            )
    return found


def _defaults(atom: Atom) -> dict[str, Any]:
    try:
        params = inspect.signature(atom.execute).parameters.values()
    except (TypeError, ValueError):
        return {}
    return {p.name: p.default for p in params if p.default is not p.empty}


def _merge(
    declared: list[FlowInput], needs: Mapping[str, FlowInput]
) -> tuple[FlowInput, ...]:
    """Declared inputs first (in their order), then what only the steps need.

    A declared input keeps its own default and requiredness (the factory or
    file decides), and takes the steps that read it and, when it has none,
    a step's description.
    """
    merged: list[FlowInput] = []
    for item in declared:
        need = needs.get(item.name)
        if need is not None:
            item = dataclasses.replace(
                item,
                used_by=need.used_by,
                description=item.description or need.description,
            )
        merged.append(item)
    names = {item.name for item in declared}
    extra = sorted(
        (need for key, need in needs.items() if key not in names),
        key=lambda need: (not need.required, need.name),
    )
    return (*merged, *extra)


# -- steps --------------------------------------------------------------------
def _atoms_in_order(flow: Flow) -> list[Atom]:
    from opsflow.engines.compiler import Compiler

    return [node.atom for node in Compiler(flow).compile()]


def _task_names(entry_points: Iterable[EntryPoint]) -> dict[str, str]:
    """``{"module:Class": plugin name}`` of the task plugins, nothing imported."""
    return {ep.value.replace(" ", ""): ep.name for ep in entry_points}


def _step(atom: Atom, names: Mapping[str, str]) -> FlowStep:
    from opsflow.retry import Retry

    cls = type(atom)
    target = f"{cls.__module__}:{cls.__qualname__}"
    return FlowStep(
        name=str(atom.name),
        task=names.get(target, target),
        kind="retry" if isinstance(atom, Retry) else "task",
        description=first_sentence(cls.__doc__),
        requires=tuple(sorted(atom.requires)),
        provides=tuple(sorted(atom.provides)),
    )


def _origin(source: FlowSource) -> str:
    ep = source.entry_point
    if ep is not None:
        dist = f" of {ep.dist.name} {ep.dist.version}" if ep.dist is not None else ""
        return f"entry point {ep.name} = {ep.value}{dist}"
    path = getattr(source.factory, "path", None)
    return f"file {path}" if path else repr(source.factory)


def _plain(text: str) -> str:
    """reStructuredText inline markup off: ``x`` and :role:`x` become x."""
    text = re.sub(r":\w+:`~?([^`]*)`", r"\1", text)
    return text.replace("``", "")


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    return repr(value)
