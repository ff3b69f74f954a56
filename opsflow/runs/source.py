"""A flow's source: its factory, looked up once, and where it came from.

:class:`FlowSource` is what one lookup of a flow name in the plugin
catalog gives: the factory (an entry point's, or a YAML file's), the entry
point (for the plugin's version), the inputs a YAML flow declares secret,
and, once the flow is built, the file and sha256 it was built from. Every
stage of a run asks it instead of looking the name up again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from importlib.metadata import EntryPoint
from typing import TYPE_CHECKING, Any

from opsflow import exceptions
from opsflow.plugins import flows
from opsflow.redaction import NO_SECRETS, Redactor

if TYPE_CHECKING:
    from opsflow.flow import Flow
    from opsflow.plugins.catalog import Catalog
    from opsflow.runs.describe import FlowDescription
    from opsflow.runs.record import RunRecord

__all__ = ["FlowSource"]


@dataclasses.dataclass(frozen=True)
class FlowSource:
    """One flow of the catalog, looked up by name once."""

    name: str
    factory: flows.FlowFactory
    #: The flow's entry point (None for a YAML flow).
    entry_point: EntryPoint | None
    #: Inputs the flow declares ``secret: true`` (YAML flows).
    declared_secrets: frozenset[str]

    @classmethod
    def lookup(cls, catalog: Catalog, name: str) -> FlowSource:
        """The flow ``name`` of ``catalog``.

        :raises PluginNotFound: no flow has that name (exit 64).
        :raises PluginBroken: its plugin does not load (exit 69).
        """
        factory = catalog.flows.load(name)
        return cls(
            name=name,
            factory=factory,
            entry_point=catalog.flows.entry_point(name),
            declared_secrets=flows.declared_secrets(factory),
        )

    @property
    def description(self) -> str:
        """The factory's docstring (a YAML flow's ``description``)."""
        return (getattr(self.factory, "__doc__", None) or "").strip()

    def accepted_inputs(self) -> frozenset[str] | None:
        """The store keys the factory takes by name (None: any key).

        A YAML flow takes the inputs its file declares.
        """
        import inspect

        read_file = getattr(self.factory, "inputs", None)
        if callable(read_file):
            flow_file = read_file()
            specs = flow_file.inputs if flow_file is not None else ()
            return frozenset(spec.name for spec in specs)
        try:
            params = inspect.signature(self.factory).parameters.values()
        except (TypeError, ValueError):  # a builtin or C callable says nothing
            return None
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
            return None
        return frozenset(p.name for p in params if p.kind is not p.VAR_POSITIONAL)

    def unused_inputs(
        self, store: Mapping[str, Any], flow: Flow
    ) -> dict[str, str | None]:
        """Store keys neither the factory nor any step of ``flow`` takes,
        each with the closest name they might have meant (None: nothing close).

        A factory that takes any key (``**store``) leaves none unused.
        """
        import difflib

        from opsflow.runs.drill import atoms_of

        accepted = self.accepted_inputs()
        if accepted is None:
            return {}
        read = {key for atom in atoms_of(flow) for key in atom.rebind.values()}
        known = sorted(accepted | read)
        return {
            key: next(iter(difflib.get_close_matches(key, known, n=1)), None)
            for key in sorted(store)
            if key not in known
        }

    def describe(
        self,
        catalog: Catalog,
        store: Mapping[str, Any],
        redactor: Redactor = NO_SECRETS,
    ) -> FlowDescription:
        """The flow's description, inputs and steps, built from ``store``
        (nothing runs): see :mod:`opsflow.runs.describe`. ``redactor``
        scrubs the secrets of ``store`` from the factory's errors."""
        from opsflow.runs.describe import describe

        return describe(self, catalog.tasks.entry_points(), store, redactor)

    def factory_arguments(self, store: Mapping[str, Any]) -> dict[str, Any]:
        """The part of ``store`` the factory accepts.

        :raises MissingDependencies: it needs a key the store lacks.
        """
        return flows.factory_arguments(self.factory, self.name, store)

    def build(self, store: Mapping[str, Any], redactor: Redactor = NO_SECRETS) -> Flow:
        """The flow, from what the factory accepts of ``store``.

        ``redactor`` scrubs the run's secrets from the factory's errors.

        :raises UsageError: the factory needs inputs that were not given (64).
        :raises FlowInputsRejected: it refused the inputs (64).
        :raises FlowFactoryFailed: it raised, or made no flow (69).
        """
        try:
            flow: Flow = flows.build_flow(self.factory, self.name, store, redactor)
        except exceptions.MissingDependencies as exc:
            raise missing_inputs(self.name, exc) from exc
        return flow

    def rebuild(
        self,
        record: RunRecord,
        stored: Mapping[str, Any],
        secrets: Mapping[str, Any],
        redactor: Redactor = NO_SECRETS,
    ) -> Flow:
        """The flow of a recorded run, from its stored inputs and its secrets
        (a revert drill's flow fails after the same step again)."""
        kwargs = record.factory_kwargs(stored, secrets)
        flow: Flow = flows.call_factory(
            self.factory, self.name, kwargs, redactor, doing="rebuild"
        )
        if record.fail_at is not None:
            from opsflow.runs import drill

            flow = drill.fail_after(flow, record.fail_at)
        return flow

    def source_meta(self) -> dict[str, str] | None:
        """A YAML flow's ``{"kind", "path", "sha256"}`` as last built; else None."""
        return flows.source_of(self.factory)

    def check_unchanged(
        self, run_id: str, recorded: Mapping[str, Any] | None, force: bool
    ) -> None:
        """Refuse to take over a YAML flow whose file changed since the run began.

        :raises FlowSourceChanged: unless ``force`` (exit 69).
        """
        flows.check_source(run_id, self.factory, self.name, recorded, force)


def missing_inputs(name: str, error: exceptions.MissingDependencies) -> Exception:
    """The operator's error for inputs a flow needs and was not given."""
    missing = ", ".join(error.missing_requirements) or str(error)
    return exceptions.UsageError(
        f"flow {name} needs inputs that were not given: {missing} "
        "(give them with --store KEY=VALUE or --store-file)"
    )
