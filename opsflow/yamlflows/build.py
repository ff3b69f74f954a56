"""Build a :class:`~opsflow.flow.Flow` from a checked flow file.

Each task step becomes an instance of its ``opsflow.tasks`` plugin class,
each ``flow:`` step a nested pattern, ``retry:`` a retry controller and each
conditional link a :class:`~opsflow.yamlflows.conditions.Condition` decider.
Problems only the built objects reveal (a task that rejects its settings, a
cycle, a value nothing provides, a condition on a value the link's source
does not store) are raised as :class:`FlowFileError` at the step, link or
input that causes them. Declared inputs the store lacks get their defaults
injected into the atoms that need them, so the run's store stays as given.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from opsflow import deciders, exceptions, retry
from opsflow.patterns import graph_flow, linear_flow, unordered_flow
from opsflow.plugins.loader import PluginBroken, PluginNotFound
from opsflow.yamlflows.conditions import Condition
from opsflow.yamlflows.errors import FlowFileError, MissingInputs, TaskPluginBroken
from opsflow.yamlflows.marks import Mark
from opsflow.yamlflows.spec import FlowFile, FlowSpec, LinkSpec, RetrySpec, TaskStep

__all__ = ["TaskLoader", "build", "missing_inputs"]

#: Loads a task class by its ``opsflow.tasks`` name.
TaskLoader = Callable[[str], type]

_PATTERNS: dict[str, Any] = {
    "linear": linear_flow.Flow,
    "unordered": unordered_flow.Flow,
    "graph": graph_flow.Flow,
}

#: Task constructor keywords that have their own step keys.
_STEP_KEYWORDS = frozenset(
    {"name", "provides", "requires", "rebind", "inject", "timeout"}
)


def missing_inputs(flow_file: FlowFile, store: Mapping[str, Any]) -> None:
    """Refuse a store that lacks a declared input without a default.

    :raises MissingInputs: naming each such input and where it is declared.
    """
    missing = [
        (spec.name, spec.mark)
        for spec in flow_file.inputs
        if not spec.has_default and spec.name not in store
    ]
    if missing:
        raise MissingInputs(flow_file.name, missing)


def build(
    flow_file: FlowFile,
    load_task: TaskLoader,
    store: Mapping[str, Any] | None = None,
) -> Any:
    """The flow of ``flow_file``; inputs missing from ``store`` take defaults.

    With ``store`` None, the flow is built only to check the file (no
    defaults are injected).

    :raises FlowFileError: the file describes a flow that cannot be built.
    :raises TaskPluginBroken: a task plugin is installed but does not load.
    """
    builder = _Builder(flow_file, load_task)
    flow = builder.flow(flow_file.flow)
    builder.check_values()
    if store is not None:
        builder.inject_defaults(store)
    return flow


class _Builder:
    def __init__(self, flow_file: FlowFile, load_task: TaskLoader) -> None:
        self.file = flow_file
        self.load_task = load_task
        self.classes: dict[str, type] = {}
        #: every atom built, with the mark of what declared it
        self.atoms: list[tuple[Any, Mark]] = []

    # -- items ---------------------------------------------------------
    def flow(self, spec: FlowSpec) -> Any:
        controller = self.retry(spec.retry) if spec.retry else None
        flow = _PATTERNS[spec.pattern](spec.name, retry=controller)
        items: dict[str, tuple[Any, TaskStep | FlowSpec]] = {}
        for step in spec.steps:
            item = self.flow(step) if isinstance(step, FlowSpec) else self.task(step)
            items[step.name] = (item, step)
            try:
                flow.add(item)
            except exceptions.AmbiguousDependency as exc:
                raise FlowFileError(step.mark, f"step {step.name!r}: {exc}") from exc
            except exceptions.DependencyFailure as exc:
                raise FlowFileError(
                    step.mark,
                    f"step {step.name!r} closes a cycle in graph flow "
                    f"{spec.name!r}: what it requires and provides loop back "
                    "to itself",
                ) from exc
        for link in spec.links:
            self.link(flow, spec, link, items)
        return flow

    def task(self, step: TaskStep) -> Any:
        cls = self.task_class(step)
        clashing = sorted(_STEP_KEYWORDS & set(step.arguments))
        if clashing:
            raise FlowFileError(
                step.mark,
                f"step {step.name!r}: 'with' cannot set {', '.join(clashing)}; "
                "use the step's own keys",
            )
        keywords: dict[str, Any] = {"name": step.name, **step.arguments}
        for key in ("provides", "rebind", "inject", "timeout"):
            value = getattr(step, key)
            if value is not None:
                keywords[key] = value
        if step.requires:
            keywords["requires"] = list(step.requires)
        try:
            atom = cls(**keywords)
        except Exception as exc:
            raise FlowFileError(
                step.mark,
                f"step {step.name!r}: task plugin {step.task!r} does not accept "
                f"these settings: {type(exc).__name__}: {exc}",
            ) from exc
        self.atoms.append((atom, step.mark))
        return atom

    def task_class(self, step: TaskStep) -> type:
        cls = self.classes.get(step.task)
        if cls is not None:
            return cls
        try:
            cls = self.load_task(step.task)
        except PluginNotFound as exc:
            known = ", ".join(exc.available) or "none installed"
            raise FlowFileError(
                step.task_mark,
                f"unknown task plugin {step.task!r} in step {step.name!r}; "
                f"installed opsflow.tasks: {known}",
            ) from exc
        except PluginBroken as exc:
            raise TaskPluginBroken(step.task_mark, str(exc)) from exc
        self.classes[step.task] = cls
        return cls

    def retry(self, spec: RetrySpec) -> Any:
        common: dict[str, Any] = {"name": spec.name, "provides": spec.provides}
        timing: dict[str, Any] = {"delay": spec.delay, "backoff": spec.backoff}
        controller: retry.Retry
        try:
            if spec.kind == "times":
                controller = retry.Times(
                    spec.attempts or 1, revert_all=spec.revert_all, **common, **timing
                )
            elif spec.kind == "for_each":
                controller = retry.ForEach(
                    spec.values, revert_all=spec.revert_all, **common, **timing
                )
            elif spec.kind == "parameterized_for_each":
                source = spec.values or "values"
                rebind = {"values": source} if source != "values" else None
                controller = retry.ParameterizedForEach(
                    rebind=rebind, revert_all=spec.revert_all, **common, **timing
                )
            elif spec.kind == "always_revert":
                controller = retry.AlwaysRevert(name=spec.name)
            else:
                controller = retry.AlwaysRevertAll(name=spec.name)
        except (TypeError, ValueError) as exc:
            raise FlowFileError(spec.mark, f"retry {spec.name!r}: {exc}") from exc
        self.atoms.append((controller, spec.mark))
        return controller

    def link(
        self,
        flow: Any,
        spec: FlowSpec,
        link: LinkSpec,
        items: dict[str, tuple[Any, TaskStep | FlowSpec]],
    ) -> None:
        source, source_spec = items[link.source]
        target, _ = items[link.target]
        decider = None
        if link.condition is not None:
            decider = self.condition(link, source, source_spec)
        try:
            flow.link(
                source,
                target,
                decider=decider,
                decider_depth=deciders.Depth.translate(link.depth) if decider else None,
            )
        except exceptions.DependencyFailure as exc:
            raise FlowFileError(
                link.mark,
                f"link {link.source!r} -> {link.target!r} makes a cycle in graph "
                f"flow {spec.name!r}",
            ) from exc

    def condition(
        self, link: LinkSpec, source: Any, source_spec: TaskStep | FlowSpec
    ) -> Condition:
        condition = link.condition
        assert condition is not None
        atoms = [source] if isinstance(source_spec, TaskStep) else _atoms_of(source)
        if condition.value is None:
            if not isinstance(source_spec, TaskStep):
                raise FlowFileError(
                    condition.mark,
                    f"a condition on nested flow {link.source!r} needs 'value': "
                    "a name one of its steps provides",
                )
            return Condition(source.name, condition.op, condition.operand)
        for atom in atoms:
            if condition.value in atom.save_as:
                key = atom.save_as[condition.value]
                return Condition(
                    atom.name,
                    condition.op,
                    condition.operand,
                    whole=key is None,
                    key=key,
                    value_name=condition.value,
                )
        offered = sorted({name for atom in atoms for name in atom.provides})
        raise FlowFileError(
            condition.mark,
            f"condition value {condition.value!r} is not stored by {link.source!r} "
            f"(it provides: {', '.join(offered) or 'nothing'})",
        )

    # -- values ----------------------------------------------------------
    def check_values(self) -> None:
        """Every value a step needs comes from a step or a declared input."""
        provided: dict[str, Mark] = {}
        for atom, mark in self.atoms:
            for name in atom.provides:
                provided.setdefault(name, mark)
        declared = {spec.name: spec for spec in self.file.inputs}
        for name, spec in declared.items():
            if name in provided:
                raise FlowFileError(
                    spec.mark,
                    f"input {name!r} is also provided by the step at line "
                    f"{provided[name].line}; rename one of them",
                )
        for atom, mark in self.atoms:
            own = atom.inject or {}
            for name in sorted(atom.requires):
                if name in provided or name in declared or name in own:
                    continue
                raise FlowFileError(
                    mark,
                    f"{atom.name!r} needs {name!r}, which no step provides and "
                    "which is not declared under 'inputs'",
                )

    def inject_defaults(self, store: Mapping[str, Any]) -> None:
        defaults = {
            spec.name: spec.default
            for spec in self.file.inputs
            if spec.has_default and spec.name not in store
        }
        if not defaults:
            return
        for atom, _mark in self.atoms:
            wanted = (atom.requires | atom.optional) & defaults.keys()
            own = atom.inject or {}
            extra = {name: defaults[name] for name in wanted if name not in own}
            if extra:
                atom.inject = {**extra, **own}


def _atoms_of(flow: Any) -> list[Any]:
    found = [flow.retry] if flow.retry is not None else []
    for item in flow:
        if hasattr(item, "save_as"):
            found.append(item)
        else:
            found.extend(_atoms_of(item))
    return found
