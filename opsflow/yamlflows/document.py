"""Read one flow file: safe YAML, the JSON Schema, then semantic checks.

:func:`read` is the whole front half of YAML flows: it returns a
:class:`~opsflow.yamlflows.spec.FlowFile` or raises a
:class:`~opsflow.yamlflows.errors.FlowFileError` naming the file, line and
column. The schema (``schema.json`` beside this module, published for
editors) checks shapes and types; the checks here need the whole file
(unique names, links between steps of one graph) or the installed task
plugins (their names). Nothing is built and nothing runs.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Collection, Iterator
from typing import Any

from opsflow import safeyaml
from opsflow.yamlflows import marks
from opsflow.yamlflows.errors import FlowFileError
from opsflow.yamlflows.marks import Mark, key_mark_of, mark_of
from opsflow.yamlflows.spec import (
    ConditionSpec,
    FlowFile,
    FlowSpec,
    InputSpec,
    LinkSpec,
    RetrySpec,
    TaskStep,
)

__all__ = ["SCHEMA_PATH", "read", "read_name", "schema"]

#: The JSON Schema of flow files (also for editors: see docs/flows-yaml.md).
SCHEMA_PATH = os.path.join(os.path.dirname(__file__), "schema.json")

_OPERATORS = ("equals", "not_equals", "in", "not_in")
#: Flow files are small (a 1,000-step flow is about 100 KiB); larger is refused.
MAX_FLOW_FILE_BYTES = 4 * safeyaml.MiB


@functools.cache
def schema() -> dict[str, Any]:
    """The flow file JSON Schema, as a mapping."""
    with open(SCHEMA_PATH, encoding="utf-8") as handle:
        loaded: dict[str, Any] = json.load(handle)
    return loaded


def _parse(path: str) -> tuple[Any, str]:
    """The marked document of ``path`` and the sha256 of its bytes.

    A file that is not a flow file at all (not a mapping with ``name`` or
    ``steps``) is refused by an error that quotes nothing of it: anything
    can sit in a flow directory, a symlink to a file of secrets included.
    """
    try:
        raw = safeyaml.read_limited(path, MAX_FLOW_FILE_BYTES)
    except safeyaml.YamlLimitExceeded as exc:
        raise FlowFileError(Mark(path, 1, 1), exc.problem) from exc
    except OSError as exc:
        raise FlowFileError(
            Mark(path, 1, 1), f"cannot be read: {exc.strerror or exc}"
        ) from exc
    digest = hashlib.sha256(raw).hexdigest()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FlowFileError(Mark(path, 1, 1), f"is not UTF-8 text: {exc}") from exc
    try:
        return marks.load(text, path, top_keys=("name", "steps")), digest
    except marks.UnexpectedDocument as exc:
        raise FlowFileError(
            exc.mark,
            "is not a flow file (a YAML mapping with 'name' and 'steps'); "
            "nothing of it is shown",
        ) from exc
    except marks.OverLimit as exc:
        raise FlowFileError(exc.mark, exc.problem) from exc
    except marks.YamlSyntaxError as exc:
        raise FlowFileError(exc.mark, f"YAML syntax error: {exc.problem}") from exc


def read_name(path: str) -> str | None:
    """The ``name:`` of the flow in ``path``; None if the file cannot tell.

    Cheap (no schema, no checks): used to find a flow by name.
    """
    try:
        document, _ = _parse(path)
    except FlowFileError:
        return None
    name = document.get("name") if isinstance(document, dict) else None
    return name if isinstance(name, str) else None


def read(path: str, task_names: Collection[str] | None = None) -> FlowFile:
    """The checked flow file at ``path``.

    ``task_names`` are the installed ``opsflow.tasks`` names; None skips
    that check (the builder still fails on an unknown name).

    :raises FlowFileError: the file is not a valid flow.
    """
    document, digest = _parse(path)
    if document is None:
        raise FlowFileError(Mark(path, 1, 1), "the file is empty")
    _validate_schema(document, path)
    flow = _flow(document, document["name"], [], document.mark)
    inputs = tuple(_input(document, name) for name in (document.get("inputs") or {}))
    result = FlowFile(path=path, sha256=digest, flow=flow, inputs=inputs)
    _check(result, task_names)
    return result


# -- schema -----------------------------------------------------------------
def _validate_schema(document: Any, path: str) -> None:
    try:
        import jsonschema
    except ImportError as exc:  # a declared dependency; say so if it is absent
        from opsflow.exceptions import PluginError

        raise PluginError(
            f"{path}: YAML flows need the jsonschema package "
            "(pip install 'jsonschema>=4.18')"
        ) from exc

    validator = jsonschema.Draft202012Validator(schema())
    error = jsonschema.exceptions.best_match(
        validator.iter_errors(document), key=_relevance
    )
    if error is None:
        return
    error = _precise(_step_choice(error))
    where = list(error.absolute_path)
    mark, problem = _describe(document, where, error)
    raise FlowFileError(mark or Mark(path, 1, 1), problem)


def _relevance(error: Any) -> Any:
    # Deeper errors say more; an unknown key (often a typo) explains a
    # missing one, so it comes first; a failed oneOf says least.
    return (
        len(error.absolute_path),
        error.validator == "additionalProperties",
        error.validator != "oneOf",
    )


def _step_choice(error: Any) -> Any:
    """The choice between a task step and a nested flow that ``error`` is
    part of, if any: ``best_match`` may have picked the shape not meant (a
    task step with a misspelt key is then "missing key 'flow'")."""
    node = error
    while node is not None:
        instance = node.instance
        if (
            node.validator == "oneOf"
            and isinstance(instance, dict)
            and ("task" in instance or "flow" in instance)
        ):
            return node
        node = node.parent
    return error


def _precise(error: Any) -> Any:
    """For a step that matches neither shape, the errors of the shape meant."""
    if error.validator != "oneOf" or not error.context:
        return error
    instance = error.instance
    wanted = None
    if isinstance(instance, dict) and "task" in instance:
        wanted = "taskStep"
    elif isinstance(instance, dict) and "flow" in instance:
        wanted = "flowStep"
    if wanted is None:
        return error
    branch = [
        sub
        for sub in error.context
        if any(str(part).endswith(wanted) for part in sub.schema_path)
        or sub.schema.get("$ref", "").endswith(wanted)
    ]
    if not branch:
        import jsonschema

        validator = jsonschema.Draft202012Validator(schema())
        ref = {"$ref": f"#/$defs/{wanted}", "$defs": schema()["$defs"]}
        branch = list(validator.evolve(schema=ref).iter_errors(instance))
        for sub in branch:
            sub.path.extendleft(reversed(list(error.absolute_path)))
    best = max(branch, key=_relevance, default=None) if branch else None
    return _precise(best) if best is not None else error


def _describe(document: Any, where: list[Any], error: Any) -> tuple[Mark | None, str]:
    at = _where_text(where)
    kind = error.validator
    if kind == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(
            key
            for key in error.instance
            if key not in allowed and not str(key).startswith("x-")
        )
        key = extra[0] if extra else None
        mark = key_mark_of(document, [*where, key]) if key is not None else None
        return mark or mark_of(document, where), (
            f"unknown key {key!r}{at}; allowed: {', '.join(allowed)}"
        )
    if kind == "required":
        missing = [k for k in error.validator_value if k not in error.instance]
        return mark_of(document, where), (
            f"missing key {missing[0]!r}{at}" if missing else error.message
        )
    if kind == "oneOf" and error.schema is schema()["$defs"].get("condition"):
        return mark_of(document, where), (
            f"a condition{at} needs exactly one of: {', '.join(_OPERATORS)}"
        )
    if kind == "oneOf" and error.schema is schema()["$defs"].get("step"):
        return mark_of(document, where), (
            f"a step{at} needs either 'task' (a task plugin) or 'flow' (a nested flow)"
        )
    if kind == "enum":
        choices = ", ".join(str(choice) for choice in error.validator_value)
        return mark_of(document, where), (
            f"{error.instance!r}{at} is not allowed; allowed: {choices}"
        )
    if kind == "type":
        expected = error.validator_value
        expected = " or ".join(expected) if isinstance(expected, list) else expected
        return mark_of(document, where), (
            f"wrong type{at}: expected {_article(expected)}, "
            f"got {_json_type(error.instance)} {error.instance!r}"
        )
    if kind == "pattern":
        return mark_of(document, where), (
            f"{error.instance!r}{at} is not a valid name "
            f"(letters, digits, '.', '_' and '-'; must match {error.validator_value})"
        )
    if error.schema is False:
        # jsonschema leaves the key out of the path of a false subschema: the
        # key is the one (of the mapping at ``where``) holding the value.
        parent = _at(document, where)
        pairs = parent.items() if isinstance(parent, dict) else ()
        keys = [key for key, value in pairs if value is error.instance]
        if keys:
            kind_name = parent.get("kind") if isinstance(parent, dict) else None
            about = f" for kind {kind_name!r}" if kind_name else ""
            return key_mark_of(document, [*where, keys[0]]), (
                f"key {keys[0]!r}{at} does not apply{about}"
            )
    if kind == "oneOf":
        description = error.schema.get("description", "")
        return mark_of(document, where), (
            f"wrong value{at}: {error.instance!r}"
            + (f" ({description})" if description else "")
        )
    return mark_of(document, where), f"{error.message}{at}"


def _at(document: Any, where: list[Any]) -> Any:
    node = document
    for step in where:
        node = node[step]
    return node


def _where_text(where: list[Any]) -> str:
    if not where:
        return ""
    parts = []
    for step in where:
        parts.append(f"[{step}]" if isinstance(step, int) else f".{step}")
    return " at " + "".join(parts).lstrip(".")


def _article(noun: str) -> str:
    return f"an {noun}" if noun[:1] in "aeiou" else f"a {noun}"


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null" if value is None else type(value).__name__


# -- records ----------------------------------------------------------------
def _input(document: Any, name: str) -> InputSpec:
    body = document["inputs"][name] or {}
    return InputSpec(
        name=name,
        mark=key_mark_of(document, ["inputs", name]) or document.mark,
        description=str(body.get("description", "")),
        has_default="default" in body,
        default=_plain(body.get("default")),
        secret=bool(body.get("secret", False)),
    )


def _flow(body: Any, name: str, where: list[Any], mark: Mark) -> FlowSpec:
    steps: list[FlowSpec | TaskStep] = []
    for index, item in enumerate(body["steps"]):
        step_mark = body["steps"].item_marks[index]
        if "flow" in item:
            steps.append(
                _flow(item["flow"], item["name"], [*where, "steps", index], step_mark)
            )
        else:
            steps.append(_task_step(item, step_mark))
    retry = body.get("retry")
    return FlowSpec(
        name=name,
        mark=mark,
        pattern=body.get("pattern", "linear"),
        description=str(body.get("description", "")).strip(),
        retry=_retry(retry, name, body.value_marks["retry"]) if retry else None,
        steps=tuple(steps),
        links=tuple(
            _link(link, body["links"].item_marks[i])
            for i, link in enumerate(body.get("links") or ())
        ),
    )


def _task_step(item: Any, mark: Mark) -> TaskStep:
    requires = item.get("requires") or ()
    return TaskStep(
        name=item.get("name", item["task"]),
        task=item["task"],
        mark=mark,
        task_mark=item.value_marks["task"],
        arguments=_plain(item.get("with") or {}),
        inject=_plain(item["inject"]) if "inject" in item else None,
        rebind=_plain(item.get("rebind")),
        provides=_plain(item.get("provides")),
        requires=(requires,) if isinstance(requires, str) else tuple(requires),
        timeout=item.get("timeout"),
    )


def _retry(body: Any, flow_name: str, mark: Mark) -> RetrySpec:
    return RetrySpec(
        kind=body["kind"],
        name=body.get("name", f"{flow_name}-retry"),
        mark=mark,
        attempts=body.get("attempts"),
        values=_plain(body.get("values")),
        provides=body.get("provides"),
        delay=float(body.get("delay", 0.0)),
        backoff=float(body.get("backoff", 1.0)),
        revert_all=bool(body.get("revert_all", False)),
    )


def _link(body: Any, mark: Mark) -> LinkSpec:
    when = body.get("when")
    condition = None
    if when is not None:
        op = next(op for op in _OPERATORS if op in when)
        condition = ConditionSpec(
            value=when.get("value"),
            op=op,
            operand=_plain(when[op]),
            mark=body.value_marks["when"],
        )
    return LinkSpec(
        source=body["from"],
        target=body["to"],
        mark=mark,
        condition=condition,
        depth=body.get("depth", "all"),
    )


def _plain(value: Any) -> Any:
    """``value`` with marked containers turned into plain dicts and lists."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


# -- semantic checks --------------------------------------------------------
def _walk(flow: FlowSpec) -> Iterator[TaskStep | FlowSpec]:
    for step in flow.steps:
        yield step
        if isinstance(step, FlowSpec):
            yield from _walk(step)


def _check(result: FlowFile, task_names: Collection[str] | None) -> None:
    top = result.flow
    seen: dict[str, Mark] = {top.name: top.mark}
    if top.retry is not None:
        _unique(seen, top.retry.name, top.retry.mark, "retry")
    for step in _walk(top):
        kind = "nested flow" if isinstance(step, FlowSpec) else "step"
        _unique(seen, step.name, step.mark, kind)
        if isinstance(step, FlowSpec) and step.retry is not None:
            _unique(seen, step.retry.name, step.retry.mark, "retry")
        if isinstance(step, TaskStep):
            _known_task(step, task_names)
    for flow in (top, *(s for s in _walk(top) if isinstance(s, FlowSpec))):
        _check_links(flow)


def _known_task(step: TaskStep, task_names: Collection[str] | None) -> None:
    if task_names is None or step.task in task_names:
        return
    known = ", ".join(sorted(task_names)) or "none installed"
    raise FlowFileError(
        step.task_mark,
        f"unknown task plugin {step.task!r} in step {step.name!r}; "
        f"installed opsflow.tasks: {known}",
    )


def _unique(seen: dict[str, Mark], name: str, mark: Mark, kind: str) -> None:
    first = seen.get(name)
    if first is not None:
        raise FlowFileError(
            mark,
            f"duplicate name {name!r} ({kind}): already used at line {first.line}; "
            "every step, nested flow and retry needs its own name",
        )
    seen[name] = mark


def _check_links(flow: FlowSpec) -> None:
    if flow.links and flow.pattern != "graph":
        raise FlowFileError(
            flow.links[0].mark,
            f"links are for graph flows only; flow {flow.name!r} is {flow.pattern}",
        )
    here = {step.name: step for step in flow.steps}
    for link in flow.links:
        for end in (link.source, link.target):
            if end not in here:
                raise FlowFileError(
                    link.mark,
                    f"link names {end!r}, which is not a step of graph flow "
                    f"{flow.name!r} (its steps: {', '.join(here)})",
                )
        if link.source == link.target:
            raise FlowFileError(link.mark, f"link from {link.source!r} to itself")
