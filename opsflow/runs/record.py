"""The run record: what a run keeps so that any process can take it over.

``opsflow-run`` (and ``--submit``) write it in the run's flow detail meta
(key ``run``) when the run starts: the flow's ``opsflow.flows`` name, the
names of the factory's inputs (their values are the run's store, kept once
beside it), which of them are secrets (never stored: given again), the
engine options, and the versions of the plugin distributions whose code the
flow runs, so that a take-over can refuse other code.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opsflow.atom import Atom

__all__ = [
    "RUN_META_KEY",
    "SOURCE_META_KEY",
    "RunInputs",
    "RunRecord",
    "plugin_versions",
]

#: Flow detail meta key of the run record.
RUN_META_KEY = "run"
#: Flow detail meta key of a YAML flow's file and sha256.
SOURCE_META_KEY = "source"


@dataclasses.dataclass(frozen=True)
class RunInputs:
    """The store of one run (every input) and which of its keys are secret."""

    store: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    secret_keys: frozenset[str] = frozenset()

    @property
    def secrets(self) -> dict[str, Any]:
        """The secret inputs (given to tasks, never stored)."""
        return {key: self.store[key] for key in self.secret_keys if key in self.store}

    @property
    def public(self) -> dict[str, Any]:
        """The inputs that are stored with the run."""
        return {k: v for k, v in self.store.items() if k not in self.secret_keys}


@dataclasses.dataclass(frozen=True)
class RunRecord:
    """How a run was started, as its flow detail keeps it."""

    flow: str
    factory_inputs: tuple[str, ...] = ()
    factory_secrets: tuple[str, ...] = ()
    secrets: tuple[str, ...] = ()
    versions: tuple[tuple[str, str], ...] = ()
    opsflow_version: str | None = None
    engine: str | None = None
    executor: str | None = None
    max_workers: int | None = None
    task_timeout: float | None = None
    #: The step a revert drill fails after (``--fail-at``); None: no drill.
    fail_at: str | None = None
    #: Values of factory arguments, as runs recorded before inputs were kept
    #: by name carry them.
    legacy_factory_kwargs: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def create(
        cls,
        flow: str,
        factory_kwargs: Iterable[str],
        secret_keys: Iterable[str],
        versions: Mapping[str, str],
        *,
        engine: str | None = None,
        executor: str | None = None,
        max_workers: int | None = None,
        task_timeout: float | None = None,
        fail_at: str | None = None,
    ) -> RunRecord:
        """The record of a run about to start."""
        secrets = frozenset(secret_keys)
        names = sorted(factory_kwargs)
        try:
            opsflow_version: str | None = importlib.metadata.version("opsflow")
        except importlib.metadata.PackageNotFoundError:
            opsflow_version = None
        return cls(
            flow=flow,
            factory_inputs=tuple(k for k in names if k not in secrets),
            factory_secrets=tuple(k for k in names if k in secrets),
            secrets=tuple(sorted(secrets)),
            versions=tuple(sorted(versions.items())),
            opsflow_version=opsflow_version,
            engine=engine,
            executor=executor,
            max_workers=max_workers,
            task_timeout=task_timeout,
            fail_at=fail_at,
        )

    # -- in a flow detail's meta -------------------------------------------------
    def to_meta(self) -> dict[str, Any]:
        """The record as the flow detail's ``meta["run"]`` keeps it."""
        meta: dict[str, Any] = {
            "flow": self.flow,
            "factory_inputs": list(self.factory_inputs),
            "factory_secrets": list(self.factory_secrets),
            "secrets": list(self.secrets),
            "versions": dict(self.versions),
            "opsflow_version": self.opsflow_version,
            "engine": self.engine,
            "executor": self.executor,
            "max_workers": self.max_workers,
            "task_timeout": self.task_timeout,
        }
        if self.fail_at is not None:
            meta["fail_at"] = self.fail_at
        if self.legacy_factory_kwargs:
            meta["factory_kwargs"] = dict(self.legacy_factory_kwargs)
        return meta

    @classmethod
    def from_meta(cls, meta: Mapping[str, Any]) -> RunRecord | None:
        """The record of a flow detail's meta; None for a run opsflow did not start."""
        data = meta.get(RUN_META_KEY)
        if not isinstance(data, Mapping) or "flow" not in data:
            return None
        return cls(
            flow=str(data["flow"]),
            factory_inputs=tuple(data.get("factory_inputs") or ()),
            factory_secrets=tuple(data.get("factory_secrets") or ()),
            secrets=tuple(data.get("secrets") or ()),
            versions=tuple(sorted((data.get("versions") or {}).items())),
            opsflow_version=data.get("opsflow_version"),
            engine=data.get("engine"),
            executor=data.get("executor"),
            max_workers=data.get("max_workers"),
            task_timeout=data.get("task_timeout"),
            fail_at=data.get("fail_at"),
            legacy_factory_kwargs=tuple((data.get("factory_kwargs") or {}).items()),
        )

    # -- what a take-over checks -----------------------------------------------------
    def factory_kwargs(
        self, stored: Mapping[str, Any], secrets: Mapping[str, Any]
    ) -> dict[str, Any]:
        """The factory's arguments again: recorded inputs from the run's
        stored store, secrets from those given again."""
        kwargs = dict(self.legacy_factory_kwargs)
        kwargs.update({k: stored[k] for k in self.factory_inputs if k in stored})
        kwargs.update({k: secrets[k] for k in self.factory_secrets if k in secrets})
        return kwargs

    def missing_secrets(self, given: Iterable[str]) -> list[str]:
        """The run's secrets not given again."""
        have = set(given)
        return [key for key in self.secrets if key not in have]

    def version_changes(self) -> list[str]:
        """How the recorded plugin versions differ from the installed ones."""
        changes = []
        for dist, recorded in self.versions:
            try:
                installed = importlib.metadata.version(dist)
            except importlib.metadata.PackageNotFoundError:
                installed = "not installed"
            if installed != recorded:
                changes.append(f"{dist} {recorded} -> {installed}")
        return changes


def plugin_versions(
    flow_entry_point: importlib.metadata.EntryPoint | None, atoms: Iterable[Atom]
) -> dict[str, str]:
    """``{distribution: version}`` of the flow's plugin and every atom's package.

    ``flow_entry_point`` is the flow's entry point (None for a YAML flow).
    """
    versions: dict[str, str] = {}
    known: dict[str, list[str]] = {}
    if flow_entry_point is not None and flow_entry_point.dist is not None:
        versions[flow_entry_point.dist.name] = flow_entry_point.dist.version
        known[flow_entry_point.module.split(".", 1)[0]] = [flow_entry_point.dist.name]
    tops = {type(atom).__module__.split(".", 1)[0] for atom in atoms}
    tops -= {"opsflow", "builtins", "__main__"}
    # Reading which package every installed distribution holds costs a scan
    # of all their file lists: only done for modules the flow's own
    # distribution does not explain.
    owners = importlib.metadata.packages_distributions() if tops - set(known) else {}
    for top in sorted(tops):
        for dist in known.get(top) or owners.get(top) or []:
            try:
                versions[dist] = importlib.metadata.version(dist)
            except importlib.metadata.PackageNotFoundError:
                continue
    return dict(sorted(versions.items()))
