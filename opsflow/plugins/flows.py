"""``opsflow.flows``: flow factories that ``opsflow-run`` runs by name.

A factory is called with keyword arguments only: the names of the run's
store that its signature accepts (all of them when it takes ``**kwargs``).

Flows come from two sources that run the same way: entry points, and the
YAML files of ``[DEFAULT] flow_dirs`` (:mod:`opsflow.yamlflows`) a
:class:`FlowNamespace` is built with (the plugin catalog of the program,
:class:`~opsflow.plugins.catalog.Catalog`, builds it). A name defined by two
sources is an error naming both, never a silent pick.
"""

from __future__ import annotations

import inspect
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from opsflow.exceptions import MissingDependencies, PluginError, UsageError
from opsflow.plugins.loader import BrokenPlugin, EntryPoints, LoadedPlugin, Namespace
from opsflow.redaction import NO_SECRETS, Redactor

if TYPE_CHECKING:
    from opsflow.yamlflows.catalog import YamlFlowFactory

__all__ = [
    "NAMESPACE",
    "FlowFactoryFailed",
    "FlowInputsRejected",
    "FlowNamespace",
    "build_flow",
    "call_factory",
    "check_source",
    "declared_secrets",
    "factory_arguments",
    "source_of",
    "yaml_flow_path",
]

NAMESPACE = "opsflow.flows"

FlowFactory = Callable[..., Any]


class FlowFactoryFailed(PluginError):
    """A flow factory raised, or returned something that is not a flow."""


class FlowInputsRejected(UsageError):
    """A flow factory refused the inputs it was given (ValueError, TypeError)."""

    def __init__(self, message: str, inputs: Iterable[str]) -> None:
        self.inputs = sorted(inputs)
        super().__init__(message)


#: Exceptions by which a factory says its arguments are wrong (the operator's
#: to fix), as opposed to any other, which is the plugin's fault.
INPUT_ERRORS = (ValueError, TypeError)


def _is_factory(obj: Any) -> str | None:
    return None if callable(obj) else f"{obj!r} is not callable"


class FlowNamespace(Namespace[FlowFactory]):
    """Entry-point flow factories plus the YAML flows of ``flow_dirs``.

    The directories are scanned once, when a flow is first asked for (again
    after :meth:`rescan` saw them change); a YAML flow's steps are task
    plugins of ``tasks``.
    """

    def __init__(
        self,
        entry_points: EntryPoints | None = None,
        tasks: Namespace[type] | None = None,
        flow_dirs: Iterable[str] = (),
    ) -> None:
        super().__init__(NAMESPACE, check=_is_factory, entry_points=entry_points)
        from opsflow.plugins import tasks as task_plugins

        self.flow_dirs = tuple(flow_dirs)
        self._tasks = tasks or task_plugins.namespace(entry_points)
        self._files: list[Any] | None = None
        self._factories: dict[str, YamlFlowFactory] = {}  # by path
        self._stamp: tuple[tuple[str, int], ...] | None = None

    # -- YAML side -----------------------------------------------------
    def rescan(self) -> bool:
        """Forget the YAML flows read when a file of ``flow_dirs`` was added,
        removed or changed since; True when it was. A long-lived reader (a
        web view) calls it before it lists or loads flows."""
        from opsflow.yamlflows import files

        stamp = files.dirs_stamp(self.flow_dirs) if self.flow_dirs else ()
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        self._files = None
        self._factories.clear()
        return True

    def _entries(self) -> list[Any]:
        if self._files is None:
            from opsflow.yamlflows import files

            found = files.discover(self.flow_dirs) if self.flow_dirs else []
            self._files = []
            if found:  # reading them needs the YAML loader; finding none does not
                from opsflow.yamlflows.catalog import FlowFileEntry

                self._files = [FlowFileEntry.of(path) for path in found]
        return self._files

    def _factory(self, path: str, name: str) -> YamlFlowFactory:
        from opsflow.yamlflows.catalog import YamlFlowFactory

        factory = self._factories.get(path)
        if factory is None or factory.name != name:
            factory = self._factories[path] = YamlFlowFactory(path, name, self._tasks)
        return factory

    def _entry_point(self, name: str) -> str | None:
        ep = self.entry_point(name)
        if ep is None:
            return None
        owner = f" of {ep.dist.name}" if ep.dist is not None else ""
        return f"entry point {ep.name} = {ep.value}{owner}"

    # -- Namespace -----------------------------------------------------
    def names(self) -> list[str]:
        yaml_names = {entry.name for entry in self._entries() if entry.name}
        return sorted(set(super().names()) | yaml_names)

    def load(self, name: str) -> FlowFactory:
        """The factory of flow ``name``, from an entry point or a YAML file.

        :raises FlowNameClash: more than one source defines ``name``.
        :raises FlowFileError: ``name`` is not found and a flow file that
            cannot be read might define it.
        """
        entries = self._entries()
        files = [entry.path for entry in entries if entry.name == name]
        sources = [f"file {path}" for path in files]
        entry_point = self._entry_point(name)
        if entry_point:
            sources.insert(0, entry_point)
        if len(sources) > 1:
            from opsflow.yamlflows.errors import FlowNameClash

            raise FlowNameClash(name, sources)
        if files:
            return self._factory(files[0], name)
        if not entry_point:
            self._unreadable_may_define(name, entries)
        return super().load(name)

    def _unreadable_may_define(self, name: str, entries: list[Any]) -> None:
        from opsflow.yamlflows import document
        from opsflow.yamlflows.errors import FlowFileError

        for entry in entries:
            if entry.name is not None:
                continue
            try:
                document.read(entry.path)
            except FlowFileError as exc:
                raise FlowFileError(
                    exc.mark,
                    f"{exc.problem} (no flow named {name!r} was found, and this "
                    "file, which cannot be read, may define it)",
                ) from exc

    def scan(self) -> tuple[list[LoadedPlugin[FlowFactory]], list[BrokenPlugin]]:
        """Entry-point flows and YAML flows; bad files and clashes are broken."""
        loaded, broken = super().scan()
        by_name: dict[str, list[str]] = {}
        for item in loaded:
            by_name.setdefault(item.name, []).append(
                self._entry_point(item.name) or item.target
            )
        for bad in broken:
            by_name.setdefault(bad.name, []).append(f"entry point {bad.target}")
        yaml_loaded: list[LoadedPlugin[FlowFactory]] = []
        entries = list(self._entries())
        if entries:  # the YAML flows package is only needed to read them
            from opsflow.yamlflows.errors import FlowFileError, TaskPluginBroken
        for entry in entries:
            label = entry.name or os.path.basename(entry.path)
            factory = self._factory(entry.path, entry.name or label)
            try:
                factory.check()
            except (FlowFileError, TaskPluginBroken) as exc:
                broken.append(BrokenPlugin(NAMESPACE, label, entry.path, str(exc)))
                continue
            by_name.setdefault(label, []).append(f"file {entry.path}")
            yaml_loaded.append(LoadedPlugin(label, entry.path, None, factory))
        loaded.extend(yaml_loaded)
        clashes = {name: found for name, found in by_name.items() if len(found) > 1}
        if clashes:
            from opsflow.yamlflows.errors import FlowNameClash

            kept, listed = [], set()
            for item in loaded:
                if item.name not in clashes:
                    kept.append(item)
                elif item.name not in listed:  # one line per clash, not per source
                    listed.add(item.name)
                    error = str(FlowNameClash(item.name, clashes[item.name]))
                    broken.append(
                        BrokenPlugin(NAMESPACE, item.name, item.target, error)
                    )
            loaded = kept
        loaded.sort(key=lambda item: item.name)
        broken.sort(key=lambda item: (item.name, item.target))
        return loaded, broken


def yaml_flow_path(factory: object) -> str | None:
    """The flow file of a YAML flow's factory; None for any other factory."""
    catalog = sys.modules.get("opsflow.yamlflows.catalog")
    if catalog is not None and isinstance(factory, catalog.YamlFlowFactory):
        return str(factory.path)
    return None  # no YAML flow was made in this process: it is none


def _names_its_file(exc: BaseException) -> bool:
    """True for the errors of a YAML flow, which name the file, line and column.

    Only a YAML flow raises them, and making one imports their module: an
    entry-point flow's run need not import it to know its error is not one.
    """
    errors = sys.modules.get("opsflow.yamlflows.errors")
    if errors is None:
        return False
    kinds = (errors.FlowFileError, errors.TaskPluginBroken, errors.MissingInputs)
    return isinstance(exc, kinds)


def source_of(factory: FlowFactory) -> dict[str, str] | None:
    """Where the flow ``factory`` last built came from, for the run's record.

    ``{"kind": "yaml", "path": ..., "sha256": ...}`` for a YAML flow (the
    file as it was when the flow was built); None for an entry-point flow.
    """
    source = getattr(factory, "source", None)
    return dict(source) if source else None


def declared_secrets(factory: FlowFactory) -> frozenset[str]:
    """Inputs that ``factory``'s flow declares ``secret: true`` (YAML flows only).

    Never raises: an unreadable file is reported when its flow is built.
    """
    read = getattr(factory, "inputs", None)
    flow_file = read() if callable(read) else None
    if flow_file is None:
        return frozenset()
    return frozenset(spec.name for spec in flow_file.inputs if spec.secret)


def check_source(
    run_id: str,
    factory: FlowFactory,
    flow_name: str,
    recorded: Mapping[str, Any] | None,
    force: bool,
) -> None:
    """Refuse to resume a YAML flow whose file changed since the run began.

    :raises FlowSourceChanged: the file (or the file defining ``flow_name``)
        differs from the one recorded, and ``force`` is False (exit 69).
    """
    if not recorded or recorded.get("kind") != "yaml" or force:
        return
    from opsflow.yamlflows.errors import FlowSourceChanged
    from opsflow.yamlflows.files import file_sha256

    path = str(recorded.get("path"))
    now = file_sha256(path)
    problem = None
    if now is None:
        problem = f"its flow file {path} is gone"
    elif now != recorded.get("sha256"):
        problem = (
            f"its flow file {path} changed since the run began "
            f"(sha256 {str(recorded.get('sha256'))[:12]}... -> {now[:12]}...)"
        )
    else:
        current = getattr(factory, "path", None)
        if current is not None and os.path.abspath(current) != os.path.abspath(path):
            problem = f"flow {flow_name} now comes from {current}, not {path}"
    if problem:
        raise FlowSourceChanged(
            f"run {run_id} cannot be resumed: {problem}; resuming could run a "
            "different flow: restore the file, or resume anyway with --force"
        )


def factory_arguments(
    factory: FlowFactory, name: str, store: Mapping[str, Any]
) -> dict[str, Any]:
    """The part of ``store`` that ``factory`` accepts.

    :raises MissingDependencies: a parameter without a default is not in
        the store; it names every such parameter.
    """
    try:
        params = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):  # a builtin or C callable: give it all
        return dict(store)
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return dict(store)
    accepted = {
        p.name
        for p in params
        if p.kind in (inspect.Parameter.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
    }
    missing = [
        p.name
        for p in params
        if p.name in accepted and p.default is p.empty and p.name not in store
    ]
    if missing:
        raise MissingDependencies(f"flow {name}", missing, method="factory")
    return {key: value for key, value in store.items() if key in accepted}


def call_factory(
    factory: FlowFactory,
    name: str,
    kwargs: Mapping[str, Any],
    redactor: Redactor = NO_SECRETS,
    doing: str = "build",
) -> Any:
    """``factory(**kwargs)``, its errors translated; ``redactor`` scrubs the
    run's secrets from the factory's error message.

    :raises FlowInputsRejected: it raised ``ValueError`` or ``TypeError``
        about the inputs it was given (exit 64, naming them).
    :raises FlowFactoryFailed: it raised anything else (exit 69).
    """
    try:
        return factory(**kwargs)
    except Exception as exc:
        if _names_its_file(exc):
            raise  # already names the file, line and column (YAML flows)
        error = f"{type(exc).__name__}: {redactor.text(str(exc))}"
        if isinstance(exc, INPUT_ERRORS) and kwargs:
            given = ", ".join(sorted(kwargs))
            raise FlowInputsRejected(
                f"flow {name} refused its inputs ({given}): {error}", kwargs
            ) from exc
        # The message already names the error: as a cause it would be
        # printed a second time (``from exc`` keeps it for tracebacks).
        raise FlowFactoryFailed(
            f"flow plugin {name!r} could not {doing} its flow: {error}"
        ) from exc


def build_flow(
    factory: FlowFactory,
    name: str,
    store: Mapping[str, Any],
    redactor: Redactor = NO_SECRETS,
) -> Any:
    """Call ``factory`` with what it accepts from ``store``; return the flow.

    :raises MissingDependencies: the factory needs a key the store lacks.
    :raises FlowInputsRejected: the factory refused its inputs.
    :raises FlowFactoryFailed: the factory raised or returned no flow.
    """
    from opsflow.flow import Flow

    flow = call_factory(
        factory, name, factory_arguments(factory, name, store), redactor
    )
    if not isinstance(flow, Flow):
        raise FlowFactoryFailed(
            f"flow plugin {name!r} returned {type(flow).__name__}, not a Flow"
        )
    return flow
